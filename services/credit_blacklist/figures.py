"""The blacklist's figures for a jurisdiction and period, and the malicious cases nobody could be
listed for (an anonymous reporter: the verdict is recorded, the person never asked for)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import ColumnElement, func, select

from services.credit_blacklist.domain import EntryStatus
from services.credit_blacklist.models import Entry, Objection, ReportVerdict
from services.credit_blacklist.schemas import BlacklistStats
from services.credit_blacklist.standing import stands_in
from shared.auth import Principal
from shared.db import in_region
from shared.queries import keyset_page, on_days, within_days
from shared.uow import UnitOfWork

UNIDENTIFIED = "unidentified"


async def stats(*, uow: UnitOfWork, principal: Principal, region: str | None, first: date | None, last: date | None,
                today: date) -> BlacklistStats:
    """Entries standing in each status today; and over the China-local days `first`..`last`: listings
    by severity, expiries (last listed day in the period), repairs and revocations, objections
    upheld and rejected, and the malicious cases with nobody to list."""
    effective = principal.within(region)
    here = in_region(Entry.region_code, effective)

    async def count(*conditions: ColumnElement[bool]) -> int:
        return int(await uow.session.scalar(select(func.count()).select_from(Entry).where(here, *conditions)) or 0)

    by_status = {status.value: await count(stands_in(status, today)) for status in EntryStatus}
    listed = within_days(Entry.notified_at, first, last)
    by_severity = {str(severity): int(n) for severity, n in await uow.session.execute(
        select(Entry.severity, func.count()).where(here, *listed).group_by(Entry.severity))}
    decided = {str(decision): int(n) for decision, n in await uow.session.execute(
        select(Objection.decision, func.count()).join(Entry, Entry.id == Objection.entry_id)
        .where(here, Objection.decision.is_not(None), *within_days(Objection.decided_at, first, last))
        .group_by(Objection.decision))}
    unidentified = int(await uow.session.scalar(
        select(func.count()).select_from(ReportVerdict).where(
            ReportVerdict.outcome == UNIDENTIFIED, in_region(ReportVerdict.region_code, effective),
            *within_days(ReportVerdict.applied_at, first, last))) or 0)
    return BlacklistStats(
        region=effective, period_from=first, period_to=last, by_status=by_status,
        listed=sum(by_severity.values()), listed_by_severity=by_severity,
        expired=await count(stands_in(EntryStatus.expired, today), *on_days(Entry.listed_until, first, last)),
        repaired=await count(Entry.status == EntryStatus.repaired, *within_days(Entry.removed_at, first, last)),
        revoked=await count(Entry.status == EntryStatus.revoked, *within_days(Entry.removed_at, first, last)),
        objections_upheld=decided.get("upheld", 0), objections_rejected=decided.get("rejected", 0),
        unidentified_cases=unidentified,
    )


async def unidentified_cases(*, uow: UnitOfWork, principal: Principal, region: str | None, cursor: str | None,
                             limit: int) -> tuple[list[ReportVerdict], str | None]:
    """The final malicious verdicts recorded with nobody to list, in the jurisdiction, oldest first."""
    stmt = select(ReportVerdict).where(ReportVerdict.outcome == UNIDENTIFIED,
                                       in_region(ReportVerdict.region_code, principal.within(region)))
    return await keyset_page(uow.session, stmt, at=ReportVerdict.applied_at, ident=ReportVerdict.report_id,
                             cursor=cursor, limit=limit)
