from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class IntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZM_INTAKE_", extra="ignore")

    service_name: str = "intake"
    port: int = 8001
    acceptance_notice_working_days: int = Field(default=15, ge=1, le=60)
    duplicate_similarity: float = Field(default=0.8, gt=0, le=1)
    receipt_lookups_per_minute: int = Field(default=10, ge=1)  # per client
    receipt_lookups_per_code_per_minute: int = Field(default=10, ge=1)  # of one code, from anywhere
    # Lookups of codes that do not exist, from all clients together (per API process): once spent,
    # every lookup waits, so guessing from many addresses at once is bounded too.
    receipt_failed_lookups_per_minute: int = Field(default=600, ge=1)
    idempotency_retention_hours: int = Field(default=24, ge=1)
    # How long an approved identity-access request may be used (once) before it expires.
    identity_release_hours: int = Field(default=24, ge=1, le=24 * 30)
    # Messages a reporter may post with one receipt code (conversation, #20), beyond the lookup's limits.
    reporter_messages_per_code_per_minute: int = Field(default=3, ge=1)
    # Evidence attachments (#20, item 1): per file, and per report (files, and bytes as received).
    attachment_max_file_bytes: int = Field(default=20_000_000, ge=1, le=1_000_000_000)
    attachment_max_files_per_report: int = Field(default=10, ge=1, le=1000)
    attachment_max_bytes_per_report: int = Field(default=100_000_000, ge=1)
    # Files a reporter may upload with one receipt code, beyond the lookup's limits.
    attachment_uploads_per_code_per_minute: int = Field(default=10, ge=1)
    # Retention (#20, item 4): a reporter's identity, evidence files and messages are purged this many years
    # after the report's conclusion, never while verification or credit_blacklist still depends on them.
    retention_years: int = Field(default=5, ge=1, le=50)
    run_retention: bool = True  # the sweeper (consumer and all roles); `zhengming purge` works either way
    retention_interval_s: float = Field(default=86_400.0, gt=0)  # one round a day
    retention_batch_size: int = Field(default=200, ge=1, le=10_000)  # reports examined per round
    retention_peer_timeout_s: float = Field(default=5.0, gt=0, le=60)  # each question to verification, blacklist
