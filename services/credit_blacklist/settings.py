from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class CreditBlacklistSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZM_CREDIT_BLACKLIST_", extra="ignore")

    service_name: str = "credit_blacklist"
    port: int = 8004
