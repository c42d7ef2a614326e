from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZM_INTAKE_", extra="ignore")

    service_name: str = "intake"
    port: int = 8001
