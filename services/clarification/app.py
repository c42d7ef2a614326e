from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.clarification.api import router
from services.clarification.handlers import CONSUMERS
from services.clarification.settings import ClarificationSettings
from shared.web import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: ClarificationSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or ClarificationSettings(),
        title="Zhengming clarification",
        description="Schedules public clarification meetings for falsely accused officials.",
        migrations_dir=MIGRATIONS,
        routers=[router],
        consumers=CONSUMERS,
    )
