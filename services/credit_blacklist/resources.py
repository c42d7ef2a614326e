"""What credit_blacklist's routes and handlers need beyond the runtime, built with it by the
composition root (app.py) and closed after its workers stop."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from services.credit_blacklist import lookup, service
from services.credit_blacklist.domain import PeriodRange, Publication, Severity
from services.credit_blacklist.identity import IntakeClient
from services.credit_blacklist.settings import CreditBlacklistSettings
from shared.ratelimit import RateLimiter
from shared.runtime import Runtime
from shared.web import resources


@dataclass
class BlacklistResources:
    settings: CreditBlacklistSettings
    rules: service.BlacklistRules
    check_limiter: RateLimiter  # checks per client
    check_reader: lookup.CheckReader  # the check's own prepared statement (and pool, on PostgreSQL)
    check_cache: lookup.NegativeCache | None  # who cannot be listed, known current before it answers
    identities: IntakeClient  # intake's identity release, for final malicious verdicts


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


@contextlib.asynccontextmanager
async def blacklist_resources(runtime: Runtime[CreditBlacklistSettings]) -> AsyncIterator[BlacklistResources]:
    settings = runtime.settings
    # Intake accepts a credential signed with this service's own key; tests route it in-process.
    identities = IntakeClient(base_url=settings.intake_url,
                              credential=lambda: runtime.signer.credential(audience="intake"),
                              timeout_s=settings.intake_timeout_s, attempts=settings.intake_attempts,
                              backoff_s=settings.intake_backoff_s, transport=runtime.peer_transports.get("intake"))
    async with identities:
        reader = await lookup.check_reader(settings.database_url, runtime.engine)
        # Loaded on the first check, so a consumer or relay process never reads it.
        cache = lookup.NegativeCache(reader)
        try:
            yield BlacklistResources(settings=settings, rules=rules_from(settings),
                                     check_limiter=RateLimiter(settings.check_requests_per_minute),
                                     check_reader=reader, check_cache=cache, identities=identities)
        finally:
            await cache.close()
            await reader.close()


Blacklist = Annotated[BlacklistResources, Depends(resources(BlacklistResources))]
