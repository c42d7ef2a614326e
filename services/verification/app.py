from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.verification.api import router
from services.verification.handlers import CONSUMERS
from services.verification.settings import VerificationSettings
from shared.web import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: VerificationSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or VerificationSettings(),
        title="Zhengming verification",
        description="Opens a verification case for every submitted report and classifies it with "
        "explainable rules. Reporter identity is never visible here.",
        migrations_dir=MIGRATIONS,
        routers=[router],
        consumers=CONSUMERS,
    )
