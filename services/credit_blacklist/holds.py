"""What keeps a report's personal data at intake from being purged, as credit_blacklist sees it (DESIGN.md
§4.6, retention; shared/holds.py says why intake asks): an entry of the report not finished -- notified,
active or under review (an objection), as it stands today -- a repair or revocation waiting for its
decision, or a verdict intake recorded that this service has not applied yet (it may still have to list
the reporter, with the identity from intake). Read only; only intake's service credential may ask."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import select

from services.credit_blacklist.domain import LIVE
from services.credit_blacklist.models import Entry, RemovalRequest, ReportVerdict
from services.credit_blacklist.standing import standing
from shared.auth import ServiceCaller
from shared.calendar import china_date
from shared.db import utcnow
from shared.errors import Forbidden
from shared.holds import PATH, RETENTION_CALLER, Hold, HoldReason, RetentionHolds, service_credential
from shared.uow import UnitOfWork
from shared.web import UoW, problems

router = APIRouter(tags=["retention"])


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


@router.get(
    PATH,
    response_model=RetentionHolds,
    responses=problems(Forbidden),
    operation_id="get_retention_holds",
    summary="Whether a report's personal data must still be kept (intake's retention, service credential only)",
    description="Intake asks before it purges a reporter's identity, evidence files and messages after the "
    "retention period: `held` is true while an entry of the report stands notified, active or under review "
    "(`entry_live`, as it stands today), a credit repair or revocation of one is waiting for its decision "
    "(`removal_pending`), or this service has not applied the verdict version intake recorded "
    "(`verdict_not_applied`: it may still list the reporter). Only intake's service credential (signed with its "
    "own key) is accepted; an officer's token is 403. Read only; names no person.",
)
async def get_retention_holds(
    uow: UoW,
    _caller: Annotated[ServiceCaller, service_credential(RETENTION_CALLER)],
    report_id: Annotated[str, Query(min_length=1, max_length=36, description="the report intake would purge")],
    verdict_version: Annotated[int, Query(ge=0, le=1_000_000, description="the newest verdict version intake "
                                                                          "recorded for it")],
) -> RetentionHolds:
    found = await holds_on(uow, report_id=report_id, verdict_version=verdict_version)
    return RetentionHolds(report_id=report_id, held=bool(found), holds=found)
