from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.clarification.api import router
from services.clarification.domain import WorkingHours
from services.clarification.handlers import consumers
from services.clarification.service import ClarificationRules
from services.clarification.settings import ClarificationSettings
from shared.calendar import WorkingCalendar
from shared.web import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def rules_from(settings: ClarificationSettings) -> ClarificationRules:
    return ClarificationRules(
        calendar=WorkingCalendar.from_settings(settings.calendar_overrides_file),
        deadline_days=settings.deadline_days,
        follow_up_days=settings.follow_up_days,
        buffer=timedelta(minutes=settings.meeting_buffer_minutes),
        hours=WorkingHours(settings.working_day_start, settings.working_day_end),
        slot_step=timedelta(minutes=settings.slot_step_minutes),
    )


def create_app(settings: ClarificationSettings | None = None) -> FastAPI:
    settings = settings or ClarificationSettings()
    rules = rules_from(settings)
    app = create_service_app(
        settings,
        title="Zhengming clarification",
        description="Restores the good name of officials who were falsely accused (澄清正名): consent, methods, "
        "clarification meetings scheduled without clashes inside working hours and before the deadline, "
        "iCalendar export, records for the integrity file and follow-up visits.",
        migrations_dir=MIGRATIONS,
        routers=[router],
        consumers=consumers(rules),
        openapi_tags=[{"name": "clarifications", "description": "Consent, methods, closing, follow-up"},
                      {"name": "meetings", "description": "Scheduling, free slots, iCalendar, records"},
                      {"name": "statistics", "description": "The figures an office reports each year"}],
    )
    app.state.rules = rules
    return app
