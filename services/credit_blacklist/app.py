"""credit_blacklist's composition root: what the service is, declared once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path

import httpx

from services.credit_blacklist import service
from services.credit_blacklist.api import post_check, router
from services.credit_blacklist.handlers import consumers
from services.credit_blacklist.holds import router as holds_router
from services.credit_blacklist.resources import BlacklistResources, blacklist_resources
from services.credit_blacklist.settings import CreditBlacklistSettings
from shared.composition import ServiceDefinition
from shared.runtime import Runtime
from shared.web import ServiceApp
from shared.workers import Sweeper

log = logging.getLogger("zhengming.credit_blacklist")


async def run_sweeper(runtime: Runtime[CreditBlacklistSettings]) -> None:
    """Every `sweep_interval_s`, write down the transitions the date made due. Several replicas may
    run it at once (see service.sweep)."""
    settings = runtime.settings
    while not runtime.stop.is_set():
        try:
            moved = await service.sweep(uow_factory=runtime.uow, batch_size=settings.sweep_batch_size)
            if moved:
                log.info("sweep moved entries", extra={"entries": moved})
        except Exception as exc:  # the database may be away; the next round tries again
            log.warning("sweep failed", extra={"error": type(exc).__name__, "detail": str(exc)[:200]})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runtime.stop.wait(), timeout=settings.sweep_interval_s)


def sweepers(runtime: Runtime[CreditBlacklistSettings], own: BlacklistResources) -> Sequence[Sweeper]:
    return [Sweeper("sweep", lambda: run_sweeper(runtime))] if runtime.settings.run_sweep else []


SERVICE: ServiceDefinition[CreditBlacklistSettings, BlacklistResources] = ServiceDefinition(
    name="credit_blacklist",
    settings_class=CreditBlacklistSettings,
    title="Zhengming credit_blacklist",
    description="Lists people found to have accused an official maliciously (失信黑名单), fairly and for a "
    "bounded time: notice and objection window, periods by severity, expiry, credit repair, and a fast check "
    "by ID number that reveals nothing else. The identity comes from intake for final malicious verdicts "
    "only, is encrypted at rest and never travels in events.",
    migrations_dir=Path(__file__).parent / "migrations",
    routers=[router, holds_router],
    fast_operations=[post_check],
    resources=blacklist_resources,
    consumers=consumers,
    sweepers=sweepers,
    openapi_tags=[
        {"name": "check", "description": "Is a person listed? (scope blacklist:check)"},
        {"name": "entries", "description": "Entries in your jurisdiction"},
        {"name": "objections", "description": "The listed person's objection, recorded by one officer and "
                                              "decided by another"},
        {"name": "repairs and revocations", "description": "Credit repair and revocation, requested by one "
                                                           "officer and granted or refused by another"},
        {"name": "export", "description": "Bulk export of active entries for the social-credit system "
                                          "(scope blacklist:export, with a reason, audited)"},
        {"name": "retention", "description": "What keeps a report's personal data at intake from being purged "
                                             "(intake's service credential only)"},
    ],
)


def create_app(settings: CreditBlacklistSettings | None = None,
               intake_transport: httpx.AsyncBaseTransport | None = None) -> ServiceApp:
    """`intake_transport` routes identity calls to an in-process intake app (tests); None in production."""
    return SERVICE.create_app(settings, peer_transports={"intake": intake_transport} if intake_transport else None)
