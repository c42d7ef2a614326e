from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class VerificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZM_VERIFICATION_", extra="ignore")

    service_name: str = "verification"
    port: int = 8002
