from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings
from shared.vocabulary import OrgLevel


class VerificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZM_VERIFICATION_", extra="ignore")

    service_name: str = "verification"
    port: int = 8002
    acceptance_notice_working_days: int = Field(default=15, ge=1, le=60)
    verification_period_working_days: int = Field(default=60, ge=1, le=365)
    many_subjects_threshold: int = Field(default=3, ge=2, le=100)
    # Risk filing (风险报备): acceptance at the level the matter requires (分级受理). Township and county
    # matters are accepted at county level (the floor); a matter of the official's organization above
    # it, reaching further, or involving at least the large amount, at that level or at the large
    # matters' level (municipal), whichever is higher.
    risk_filing_acceptance_floor: OrgLevel = "county"
    risk_filing_large_amount_yuan: int = Field(default=50_000_000, ge=1, le=10**15)
    risk_filing_large_matter_level: OrgLevel = "municipal"
