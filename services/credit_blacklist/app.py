from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.credit_blacklist.api import router
from services.credit_blacklist.handlers import CONSUMERS
from services.credit_blacklist.settings import CreditBlacklistSettings
from shared.web import create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: CreditBlacklistSettings | None = None) -> FastAPI:
    return create_service_app(
        settings or CreditBlacklistSettings(),
        title="Zhengming credit_blacklist",
        description="Lists malicious accusers with notice, objection, periods, expiry and a fast check.",
        migrations_dir=MIGRATIONS,
        routers=[router],
        consumers=CONSUMERS,
    )
