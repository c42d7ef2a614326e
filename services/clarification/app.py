"""Clarification's composition root: what the service is, declared once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from services.clarification.api import router
from services.clarification.domain import WorkingHours
from services.clarification.handlers import consumers
from services.clarification.service import ClarificationRules
from services.clarification.settings import ClarificationSettings
from shared.composition import ServiceDefinition, made_by
from shared.runtime import Runtime
from shared.web import ServiceApp


def rules_from(runtime: Runtime[ClarificationSettings]) -> ClarificationRules:
    settings = runtime.settings
    return ClarificationRules(
        calendar=runtime.calendar,
        deadline_days=settings.deadline_days,
        follow_up_days=settings.follow_up_days,
        buffer=timedelta(minutes=settings.meeting_buffer_minutes),
        hours=WorkingHours(settings.working_day_start, settings.working_day_end),
        slot_step=timedelta(minutes=settings.slot_step_minutes),
    )


SERVICE: ServiceDefinition[ClarificationSettings, ClarificationRules] = ServiceDefinition(
    name="clarification",
    settings_class=ClarificationSettings,
    title="Zhengming clarification",
    description="Restores the good name of officials who were falsely accused (澄清正名): consent, methods, "
    "clarification meetings scheduled without clashes inside working hours and before the deadline, "
    "iCalendar export, records for the integrity file and follow-up visits.",
    migrations_dir=Path(__file__).parent / "migrations",
    routers=[router],
    resources=made_by(rules_from),
    consumers=consumers,
    openapi_tags=[{"name": "clarifications", "description": "Consent, methods, closing, follow-up"},
                  {"name": "meetings", "description": "Scheduling, iCalendar, records"},
                  {"name": "venues", "description": "The venue register: names, addresses, hours, free slots"},
                  {"name": "statistics", "description": "The figures an office reports each year"}],
)


def create_app(settings: ClarificationSettings | None = None) -> ServiceApp:
    return SERVICE.create_app(settings)
