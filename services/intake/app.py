from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.intake.api import router
from services.intake.handlers import CONSUMERS
from services.intake.settings import IntakeSettings
from shared.web import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or IntakeSettings(),
        title="Zhengming intake",
        description="Accepts petition reports (信访举报) and publishes one `report.submitted.v1` event per report. "
        "Reporter identity is encrypted at rest and never leaves this service in events.",
        migrations_dir=MIGRATIONS,
        routers=[router],
        consumers=CONSUMERS,
    )
