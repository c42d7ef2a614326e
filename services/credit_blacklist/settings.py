from __future__ import annotations

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.credit_blacklist.domain import LEGAL_BASIS_UNSET
from shared.settings import ServiceSettings


class CreditBlacklistSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZM_CREDIT_BLACKLIST_", extra="ignore")

    service_name: str = "credit_blacklist"
    port: int = 8004

    # The local regulation that authorizes a listing (document and article), quoted on every entry and in
    # the notice, e.g. ZM_CREDIT_BLACKLIST_LEGAL_BASIS_REF="××省信访举报失信行为管理办法 第十二条".
    legal_basis_ref: str = Field(default=LEGAL_BASIS_UNSET, min_length=1, max_length=200)
    legal_basis_text: str = Field(default=LEGAL_BASIS_UNSET, min_length=1, max_length=2000)
    objection_window_days: int = Field(default=15, ge=1, le=90)
    # Publication periods in months by severity: (minimum, standard for a first listing, maximum).
    minor_period_months: tuple[int, int, int] = (1, 2, 3)
    ordinary_period_months: tuple[int, int, int] = (3, 6, 12)
    serious_period_months: tuple[int, int, int] = (12, 24, 36)
    # Whether a check answers `listed` for an entry still inside its objection window.
    check_lists_notified: bool = False
    check_requests_per_minute: int = Field(default=60_000, ge=1)

    # Reporter identity comes from intake over HTTP; the call carries a short-lived credential this
    # service signs with its own key (signing_key_file), which intake checks against the trust file.
    intake_url: str = "http://127.0.0.1:8001"
    intake_timeout_s: float = Field(default=5.0, gt=0, le=60)
    intake_attempts: int = Field(default=3, ge=1, le=10)
    intake_backoff_s: float = Field(default=0.2, ge=0, le=10)

    run_sweep: bool = True
    sweep_interval_s: float = Field(default=60.0, gt=0)
    sweep_batch_size: int = Field(default=200, ge=1, le=10_000)

    @model_validator(mode="after")
    def _periods_and_token(self) -> CreditBlacklistSettings:
        for name in ("minor_period_months", "ordinary_period_months", "serious_period_months"):
            low, standard, high = getattr(self, name)
            if not 1 <= low <= standard <= high <= 120:
                raise ValueError(f"{name} must be 1 <= minimum <= standard <= maximum <= 120 months")
        if self.environment == "production":
            if LEGAL_BASIS_UNSET in (self.legal_basis_ref, self.legal_basis_text):
                raise ValueError("production needs legal_basis_ref and legal_basis_text: the regulation that "
                                 "authorizes listing")
        return self
