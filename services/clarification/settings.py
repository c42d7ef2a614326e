from __future__ import annotations

from datetime import time

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class ClarificationSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ZM_CLARIFICATION_", extra="ignore")

    service_name: str = "clarification"
    port: int = 8003
    deadline_days: int = Field(default=30, ge=1, le=365, description="days after the final verdict")
    follow_up_days: int = Field(default=90, ge=1, le=730, description="days after closing")
    meeting_buffer_minutes: int = Field(default=30, ge=0, le=240)
    working_day_start: time = time(8, 30)
    working_day_end: time = time(17, 30)
    slot_step_minutes: int = Field(default=30, ge=5, le=240)
