"""What keeps a report's personal data at intake from being purged, as credit_blacklist sees it (DESIGN.md
§4.6, retention; shared/holds.py says why intake asks): an entry of the report not finished -- notified,
active or under review (an objection), as it stands today -- a repair or revocation waiting for its
decision, or a verdict intake recorded that this service has not applied yet (it may still have to list
the reporter, with the identity from intake). Read only; only intake's service credential may ask."""

from __future__ import annotations

from sqlalchemy import select

from services.credit_blacklist.domain import LIVE
from services.credit_blacklist.models import Entry, RemovalRequest, ReportVerdict
from services.credit_blacklist.standing import standing
from shared.calendar import china_date
from shared.db import utcnow
from shared.holds import Hold, HoldReason, holds_router
from shared.uow import UnitOfWork


async def holds_on(uow: UnitOfWork, *, report_id: str, verdict_version: int) -> list[Hold]:
    """Everything here that depends on the report (intake holding its verdict `verdict_version`): the
    verdict not applied yet, then each live entry and each pending request, oldest first."""
    found: list[Hold] = []
    seen = await uow.session.get(ReportVerdict, report_id)
    if seen is None or seen.version < verdict_version:
        found.append(Hold(reason=HoldReason.verdict_not_applied, object_id=report_id))
    today = china_date(utcnow())
    entries = list(await uow.session.scalars(
        select(Entry).where(Entry.report_id == report_id).order_by(Entry.created_at, Entry.id)))
    # As each entry stands today, not as last written: a notice whose window closed is active.
    found += [Hold(reason=HoldReason.entry_live, object_id=entry.id, status=now.status.value)
              for entry in entries if (now := standing(entry, today)).status in LIVE]
    if entries:
        pending = await uow.session.scalars(
            select(RemovalRequest).where(RemovalRequest.entry_id.in_([e.id for e in entries]),
                                         RemovalRequest.status == "pending")
            .order_by(RemovalRequest.requested_at, RemovalRequest.id))
        found += [Hold(reason=HoldReason.removal_pending, object_id=r.id, status=r.kind) for r in pending]
    return found


router = holds_router(holds_on, what_holds=(
    "an entry of the report stands notified, active or under review (`entry_live`, as it stands today), a "
    "credit repair or revocation of one is waiting for its decision (`removal_pending`), or this service has "
    "not applied the verdict version intake recorded (`verdict_not_applied`: it may still list the reporter)."))
