from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class VerificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZM_VERIFICATION_", extra="ignore")

    service_name: str = "verification"
    port: int = 8002
    acceptance_notice_working_days: int = Field(default=15, ge=1, le=60)
    verification_period_working_days: int = Field(default=60, ge=1, le=365)
    many_subjects_threshold: int = Field(default=3, ge=2, le=100)
