"""Intake's composition root: what the service is, declared once."""

from __future__ import annotations

from pathlib import Path

from services.intake.api import router, submit_report
from services.intake.attachments_api import larger_bodies
from services.intake.attachments_api import router as attachments_router
from services.intake.conversation_api import router as conversation_router
from services.intake.handlers import consumers
from services.intake.resources import IntakeResources, intake_resources
from services.intake.retention import sweepers
from services.intake.settings import IntakeSettings
from shared.composition import ServiceDefinition
from shared.web import ServiceApp

SERVICE: ServiceDefinition[IntakeSettings, IntakeResources] = ServiceDefinition(
    name="intake",
    settings_class=IntakeSettings,
    title="Zhengming intake",
    description="Accepts petition reports (信访举报) and publishes one `report.submitted.v1` event per report. "
    "Reporter identity is encrypted at rest and never leaves this service in events.",
    migrations_dir=Path(__file__).parent / "migrations",
    routers=[router, conversation_router, attachments_router],
    fast_operations=[submit_report],
    resources=intake_resources,
    consumers=consumers,
    sweepers=sweepers,  # retention: personal data purged after the period (retention.py)
    larger_bodies=larger_bodies,
    openapi_tags=[
        {"name": "reports", "description": "Submit and read reports (officers and case systems)"},
        {"name": "identity", "description": "Audited release of a reporter's identity"},
        {"name": "conversation", "description": "Messages with the reporter and the statutory notices (officers)"},
        {"name": "evidence", "description": "Evidence files of a report: add, list, download (audited)"},
        {"name": "public", "description": "For the person who reported: no token, rate limited"},
        {"name": "statistics", "description": "Counts by region and period"},
    ],
)


def create_app(settings: IntakeSettings | None = None) -> ServiceApp:
    return SERVICE.create_app(settings)
