"""Typical false-accusation case bulletins (通报典型案例): an officer publishes one for a final
malicious verdict, naming the accuser only by surname and asterisks. Counted apart from the
bulletins that clarify an official."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import func, select

from services.clarification.models import TypicalCaseBulletin, VerdictSeen
from services.clarification.schemas import TypicalCaseBulletinIn
from services.clarification.service import ClarificationNotFound, NotAllowedNow, plausible
from shared.auth import Principal
from shared.db import in_region, utcnow
from shared.messages import Message, Term
from shared.queries import keyset_page, on_days
from shared.uow import UnitOfWork


async def issue(*, uow: UnitOfWork, principal: Principal, body: TypicalCaseBulletinIn) -> TypicalCaseBulletin:
    """Record the bulletin of a report whose newest final verdict is malicious: once per report."""
    seen = await uow.session.get(VerdictSeen, body.report_id, with_for_update=True)
    if seen is None or not principal.serves(seen.region_code):
        raise ClarificationNotFound(Message("clarification.no_final_verdict", report_id=body.report_id))
    if seen.verdict != "malicious":
        raise NotAllowedNow(Message("clarification.typical_case_not_malicious", verdict=Term("verdict", seen.verdict)),
                            verdict=seen.verdict)
    if await uow.session.scalar(select(TypicalCaseBulletin.id).where(
            TypicalCaseBulletin.report_id == body.report_id)) is not None:
        raise NotAllowedNow(Message("clarification.typical_case_issued"))
    now = utcnow()
    plausible("issued_on", body.issued_on, follows=seen.concluded_at, event=Message("event.verdict"), now=now)
    bulletin = TypicalCaseBulletin(
        id=str(uuid.uuid4()), report_id=body.report_id, verdict_id=seen.verdict_id, region_code=seen.region_code,
        issued_on=body.issued_on, issuing_body=body.issuing_body, scope=body.scope.value,
        document_number=body.document_number, accuser_shown=body.accuser_shown, summary=body.summary,
        issued_by=principal.subject, recorded_at=now)
    uow.session.add(bulletin)
    uow.record_audit(actor=principal.subject, action="typical_case_bulletin.issued", object_type="report",
                     object_id=body.report_id, details={"document_number": body.document_number,
                                                        "issued_on": body.issued_on.isoformat()})
    await uow.session.flush()
    return bulletin


async def listed(*, uow: UnitOfWork, principal: Principal, region: str | None, cursor: str | None, limit: int
                 ) -> tuple[list[TypicalCaseBulletin], str | None]:
    """The typical-case bulletins issued in the jurisdiction, oldest recorded first."""
    stmt = select(TypicalCaseBulletin).where(in_region(TypicalCaseBulletin.region_code, principal.within(region)))
    return await keyset_page(uow.session, stmt, at=TypicalCaseBulletin.recorded_at, ident=TypicalCaseBulletin.id,
                             cursor=cursor, limit=limit)


async def count(*, uow: UnitOfWork, region: str, first: date | None, last: date | None) -> int:
    """How many were issued under `region` on the days `first`..`last` (both included, either open)."""
    return int(await uow.session.scalar(select(func.count()).select_from(TypicalCaseBulletin).where(
        in_region(TypicalCaseBulletin.region_code, region), *on_days(TypicalCaseBulletin.issued_on, first, last)))
        or 0)
