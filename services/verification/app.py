"""Verification's composition root: what the service is, declared once."""

from __future__ import annotations

from pathlib import Path

from services.verification.api import router
from services.verification.handlers import consumers
from services.verification.holds import router as holds_router
from services.verification.service import VerificationRules
from services.verification.settings import VerificationSettings
from shared.composition import ServiceDefinition, made_by
from shared.runtime import Runtime
from shared.web import ServiceApp


def rules_from(runtime: Runtime[VerificationSettings]) -> VerificationRules:
    settings = runtime.settings
    return VerificationRules(
        acceptance_notice_working_days=settings.acceptance_notice_working_days,
        verification_period_working_days=settings.verification_period_working_days,
        many_subjects_threshold=settings.many_subjects_threshold,
    )


SERVICE: ServiceDefinition[VerificationSettings, VerificationRules] = ServiceDefinition(
    name="verification",
    settings_class=VerificationSettings,
    title="Zhengming verification",
    description="Opens a verification case for every submitted report and classifies it with explainable "
    "rules: true (with fault-tolerance exemption), untrue, malicious (after a second officer's approval) "
    "or inconclusive. Only final verdicts are published. Reporter identity is never visible here.",
    migrations_dir=Path(__file__).parent / "migrations",
    routers=[router, holds_router],
    resources=made_by(rules_from),
    consumers=consumers,
    openapi_tags=[{"name": "cases", "description": "Findings, assessments, conclusions, approvals"},
                  {"name": "statistics", "description": "Counts by region and period"},
                  {"name": "retention", "description": "What keeps a report's personal data at intake from being "
                                                       "purged (intake's service credential only)"}],
)


def create_app(settings: VerificationSettings | None = None) -> ServiceApp:
    return SERVICE.create_app(settings)
