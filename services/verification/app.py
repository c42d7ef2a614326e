"""Verification's composition root: what the service is, declared once."""

from __future__ import annotations

from pathlib import Path

from services.verification.api import router
from services.verification.handlers import consumers
from services.verification.holds import router as holds_router
from services.verification.risk_filing_api import router as risk_filing_router
from services.verification.risk_filing_domain import FilingGrading
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
        filing_grading=FilingGrading(floor=settings.risk_filing_acceptance_floor,
                                     large_amount_yuan=settings.risk_filing_large_amount_yuan,
                                     large_matter_level=settings.risk_filing_large_matter_level),
    )


SERVICE: ServiceDefinition[VerificationSettings, VerificationRules] = ServiceDefinition(
    name="verification",
    settings_class=VerificationSettings,
    title="Zhengming verification",
    description="Opens a verification case for every submitted report and classifies it with explainable "
    "rules: true (with fault-tolerance exemption), untrue, malicious (after a second officer's approval) "
    "or inconclusive. Only final verdicts are published. Reporter identity is never visible here. Keeps the "
    "risk filings (风险报备) officials make before a risky decision, which a later report's case shows and its "
    "fault-tolerance assessment weighs.",
    migrations_dir=Path(__file__).parent / "migrations",
    routers=[router, risk_filing_router, holds_router],
    resources=made_by(rules_from),
    consumers=consumers,
    openapi_tags=[{"name": "cases", "description": "Findings, assessments, conclusions, approvals"},
                  {"name": "risk filing", "description": "Risky decisions filed before acting (风险报备): filing, "
                                                         "graded acceptance, risk assessment, review by a different "
                                                         "officer, feedback and outcome"},
                  {"name": "statistics", "description": "Counts by region and period"},
                  {"name": "retention", "description": "What keeps a report's personal data at intake from being "
                                                       "purged (intake's service credential only)"}],
)


def create_app(settings: VerificationSettings | None = None) -> ServiceApp:
    return SERVICE.create_app(settings)
