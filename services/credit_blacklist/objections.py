"""The listed person's objection: recorded by one officer while the entry is notified or active (it is
then under review, and not listed), upheld (the entry is revoked) or rejected (it returns where it
was) by another, with reasons. Services flush; the edge commits."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import func, select

from services.credit_blacklist import domain
from services.credit_blacklist.domain import EntryStatus
from services.credit_blacklist.models import Entry, Objection
from services.credit_blacklist.service import DecisionRefused, activate, catch_up, entry_of, move, remove
from services.credit_blacklist.standing import facts, standing
from shared.auth import Principal
from shared.calendar import china_date
from shared.db import utcnow
from shared.errors import Conflict, InvalidRequest, NotFound
from shared.messages import Message, Term
from shared.queries import rows_by
from shared.uow import UnitOfWork


class ObjectionNotFound(NotFound):
    code = "objection_not_found"


class ObjectionRefused(Conflict):
    code = "objection_refused"


class ObjectionAlreadyDecided(Conflict):
    code = "objection_already_decided"


async def objections_of(uow: UnitOfWork, entry_ids: list[str]) -> dict[str, list[Objection]]:
    """Each entry's objections, oldest first."""
    return await rows_by(uow.session, Objection, Objection.entry_id, entry_ids, Objection.filed_at, Objection.id)


async def file_objection(
    *, uow: UnitOfWork, entry: Entry, principal: Principal, grounds: str, received_on: date | None,
) -> Objection:
    """Record the listed person's objection; the entry is under review until it is decided."""
    today = china_date(utcnow())
    received = received_on or today
    if received > today or received < china_date(entry.notified_at):
        raise InvalidRequest(Message("blacklist.received_on_range"), errors=[
            {"field": "received_on", "message": Message("blacklist.between_notice_and_today"), "type": "date_range"}])
    catch_up(uow, entry, today)
    earlier = int(await uow.session.scalar(
        select(func.count()).select_from(Objection).where(Objection.entry_id == entry.id)) or 0)
    refusal = domain.objection_refusal(standing(entry, today), objections_so_far=earlier)
    if refusal:
        raise ObjectionRefused(refusal, entry_status=entry.status)
    objection = Objection(
        id=str(uuid.uuid4()), entry_id=entry.id, grounds=grounds, received_on=received, status_before=entry.status,
        filed_by=principal.subject, filed_at=utcnow(),
    )
    uow.session.add(objection)
    entry.status_before_review = entry.status
    move(entry, EntryStatus.under_review, "objection_filed")
    uow.record_audit(actor=principal.subject, action="objection.filed", object_type="entry", object_id=entry.id,
                     details={"objection_id": objection.id, "status_before": objection.status_before,
                              "received_on": received.isoformat()})
    await uow.session.flush()
    return objection


async def get_objection(*, uow: UnitOfWork, objection_id: str, principal: Principal) -> tuple[Objection, Entry]:
    """The objection and its entry, both locked and read fresh (two officers deciding at once decide once)."""
    objection = await uow.session.get(Objection, objection_id, with_for_update=True, populate_existing=True)
    missing = ObjectionNotFound(Message("blacklist.objection_not_found", objection_id=objection_id))
    if objection is None:
        raise missing
    return objection, await entry_of(uow, objection.entry_id, principal=principal, missing=missing)


async def decide_objection(
    *, uow: UnitOfWork, objection: Objection, entry: Entry, principal: Principal, uphold: bool, reason: str,
) -> Objection:
    """Uphold (the entry is revoked) or reject (it returns where it was) an objection, with reasons;
    by an officer other than the one who recorded it."""
    refusal = domain.decision_refusal("objection", asked_by=objection.filed_by, decider=principal.subject)
    if refusal is not None:
        raise DecisionRefused.because(refusal)
    if objection.decision is not None:
        raise ObjectionAlreadyDecided(Message("blacklist.objection_decided",
                                              decision=Term("objection_decision", objection.decision),
                                              decided_on=objection.decided_at),
                                      decision=objection.decision)
    if entry.status != EntryStatus.under_review.value:
        raise ObjectionAlreadyDecided(Message("blacklist.nothing_under_review",
                                              status=Term("entry_status", entry.status)), entry_status=entry.status)
    today = china_date(utcnow())
    objection.decision = "upheld" if uphold else "rejected"
    objection.decision_reason, objection.decided_by, objection.decided_at = reason, principal.subject, utcnow()
    if uphold:
        remove(uow, entry, EntryStatus.revoked, reason="objection_upheld", by=principal.subject, note=reason)
    else:
        previous = EntryStatus(entry.status_before_review or objection.status_before)
        target, listed_from, listed_until = domain.after_rejection(previous, facts(entry), today)
        entry.status_before_review = None
        if target == EntryStatus.active and previous == EntryStatus.notified:
            assert listed_from is not None and listed_until is not None
            activate(uow, entry, listed_from, listed_until, "objection_rejected")
        else:
            move(entry, target, "objection_rejected")
        catch_up(uow, entry, today)
    uow.record_audit(actor=principal.subject, action=f"objection.{objection.decision}", object_type="entry",
                     object_id=entry.id, reason=reason,
                     details={"objection_id": objection.id, "recorded_by": objection.filed_by,
                              "entry_status": entry.status})
    await uow.session.flush()
    return objection
