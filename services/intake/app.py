from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.intake.api import router, submit_directly
from services.intake.handlers import CONSUMERS
from services.intake.settings import IntakeSettings
from shared.ratelimit import RateLimiter
from shared.web import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    app = create_service_app(
        settings,
        title="Zhengming intake",
        description="Accepts petition reports (信访举报) and publishes one `report.submitted.v1` event per report. "
        "Reporter identity is encrypted at rest and never leaves this service in events.",
        migrations_dir=MIGRATIONS,
        routers=[router],
        direct_routes={("POST", "/v1/reports"): submit_directly},
        consumers=CONSUMERS,
        openapi_tags=[
            {"name": "reports", "description": "Submit and read reports (officers and case systems)"},
            {"name": "identity", "description": "Audited release of a reporter's identity"},
            {"name": "public", "description": "For the person who reported: no token, rate limited"},
            {"name": "statistics", "description": "Counts by region and period"},
        ],
    )
    app.state.receipt_limiter = RateLimiter(settings.receipt_lookups_per_minute)
    app.state.receipt_code_limiter = RateLimiter(settings.receipt_lookups_per_code_per_minute)
    app.state.receipt_failure_limiter = RateLimiter(settings.receipt_failed_lookups_per_minute)
    return app
