from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
from fastapi import FastAPI

from services.credit_blacklist import lookup, service
from services.credit_blacklist.api import check_directly, router
from services.credit_blacklist.domain import PeriodRange, Publication, Severity
from services.credit_blacklist.handlers import consumers
from services.credit_blacklist.identity import IntakeClient
from services.credit_blacklist.settings import CreditBlacklistSettings
from shared.ratelimit import RateLimiter
from shared.web import Runtime, create_service_app

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger("zhengming.credit_blacklist")


def rules_from(settings: CreditBlacklistSettings) -> service.BlacklistRules:
    def period(months: tuple[int, int, int], publication: Publication) -> PeriodRange:
        return PeriodRange(*months, publication=publication)

    return service.BlacklistRules(
        legal_basis_ref=settings.legal_basis_ref,
        legal_basis_text=settings.legal_basis_text,
        objection_window_days=settings.objection_window_days,
        periods={
            Severity.minor: period(settings.minor_period_months, Publication.internal),
            Severity.ordinary: period(settings.ordinary_period_months, Publication.public),
            Severity.serious: period(settings.serious_period_months, Publication.public),
        },
        check_lists_notified=settings.check_lists_notified,
    )


def intake_client(settings: CreditBlacklistSettings, runtime: Callable[[], Runtime],
                  transport: httpx.AsyncBaseTransport | None) -> IntakeClient:
    """The client for intake's identity release, presenting a credential signed with this service's own
    key (the runtime's signer: it exists once the app has started)."""
    return IntakeClient(base_url=settings.intake_url, credential=lambda: runtime().signer.credential(audience="intake"),
                        timeout_s=settings.intake_timeout_s, attempts=settings.intake_attempts,
                        backoff_s=settings.intake_backoff_s, transport=transport)


async def run_sweeper(runtime: Runtime, settings: CreditBlacklistSettings) -> None:
    """Every `sweep_interval_s`, write down the transitions the date made due. Several replicas may
    run it at once (see service.sweep)."""
    while not runtime.stop.is_set():
        try:
            moved = await service.sweep(uow_factory=runtime.uow, batch_size=settings.sweep_batch_size)
            if moved:
                log.info("sweep moved entries", extra={"entries": moved})
        except Exception as exc:  # the database may be away; the next round tries again
            log.warning("sweep failed", extra={"error": type(exc).__name__, "detail": str(exc)[:200]})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runtime.stop.wait(), timeout=settings.sweep_interval_s)


def create_app(
    settings: CreditBlacklistSettings | None = None, intake_transport: httpx.AsyncBaseTransport | None = None
) -> FastAPI:
    """`intake_transport` lets tests route identity calls to an in-process intake app; None in production."""
    settings = settings or CreditBlacklistSettings()
    identities = intake_client(settings, lambda: app.state.runtime, intake_transport)
    app = create_service_app(
        settings,
        title="Zhengming credit_blacklist",
        description="Lists people found to have accused an official maliciously (失信黑名单), fairly and for a "
        "bounded time: notice and objection window, periods by severity, expiry, credit repair, and a fast check "
        "by ID number that reveals nothing else. The identity comes from intake for final malicious verdicts "
        "only, is encrypted at rest and never travels in events.",
        migrations_dir=MIGRATIONS,
        routers=[router],
        direct_routes={("POST", "/v1/checks"): check_directly},
        consumers=consumers(runtime=lambda: app.state.runtime, identities=identities, rules=rules_from(settings)),
        openapi_tags=[
            {"name": "check", "description": "Is a person listed? (scope blacklist:check)"},
            {"name": "entries", "description": "Entries in your jurisdiction"},
            {"name": "objections", "description": "The listed person's objection, recorded by one officer and "
                                                  "decided by another"},
            {"name": "repairs and revocations", "description": "Credit repair and revocation, requested by one "
                                                               "officer and granted or refused by another"},
            {"name": "export", "description": "Bulk export of active entries for the social-credit system "
                                              "(scope blacklist:export, with a reason, audited)"},
        ],
    )
    app.state.check_limiter = RateLimiter(settings.check_requests_per_minute)
    service_lifespan = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The intake client opens before the consumers start and closes after they stop; the sweep
        # joins the runtime's workers, so it stops with them and /readyz reports it.
        async with identities, service_lifespan(app):
            runtime: Runtime = app.state.runtime
            app.state.check_reader = await lookup.check_reader(settings.database_url, runtime.engine)
            if settings.run_sweep and settings.role in ("all", "consumer"):  # background work, not API replicas
                runtime.tasks.append(asyncio.create_task(run_sweeper(runtime, settings), name="credit_blacklist-sweep"))
            try:
                yield
            finally:
                await app.state.check_reader.close()

    app.router.lifespan_context = lifespan
    return app
