from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ClarificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZM_CLARIFICATION_", extra="ignore")

    service_name: str = "clarification"
    port: int = 8003
