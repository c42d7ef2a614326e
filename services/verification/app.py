from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.verification.api import router
from services.verification.handlers import consumers
from services.verification.service import VerificationRules
from services.verification.settings import VerificationSettings
from shared.calendar import WorkingCalendar
from shared.web import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def rules_from(settings: VerificationSettings) -> VerificationRules:
    return VerificationRules(
        acceptance_notice_working_days=settings.acceptance_notice_working_days,
        verification_period_working_days=settings.verification_period_working_days,
        many_subjects_threshold=settings.many_subjects_threshold,
    )


def create_app(settings: VerificationSettings | None = None) -> FastAPI:
    settings = settings or VerificationSettings()
    return create_service_app(
        settings,
        title="Zhengming verification",
        description="Opens a verification case for every submitted report and classifies it with explainable "
        "rules: true (with fault-tolerance exemption), untrue, malicious (after a second officer's approval) "
        "or inconclusive. Only final verdicts are published. Reporter identity is never visible here.",
        migrations_dir=MIGRATIONS,
        routers=[router],
        consumers=consumers(WorkingCalendar.from_settings(settings.calendar_overrides_file), rules_from(settings)),
        openapi_tags=[{"name": "cases", "description": "Findings, assessments, conclusions, approvals"},
                      {"name": "statistics", "description": "Counts by region and period"}],
    )
