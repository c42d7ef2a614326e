"""The listed person's objection: recorded by one officer while the entry is notified or active (it is
then under review, and not listed), upheld (the entry is revoked) or rejected (it returns where it
was) by another, with reasons. Services write what they changed; the edge commits.

The objection paths read and write on Core statements built once (#22): the entry and the objection
come back as the mapped classes filled straight from the row, in no Session, the use cases change
them as before, and `_save` writes the columns they changed (the instrumentation keeps which), one
UPDATE per changed row, one INSERT for a new objection. Deciding locks the objection and its entry in
one statement: both rows are locked, so after a wait PostgreSQL reads both again as they now are."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, func, insert, select, update
from sqlalchemy.orm import attributes, configure_mappers

from services.credit_blacklist import domain
from services.credit_blacklist.domain import EntryStatus
from services.credit_blacklist.models import Entry, Objection
from services.credit_blacklist.service import DecisionRefused, EntryNotFound, activate, catch_up, move, remove
from services.credit_blacklist.standing import facts, standing
from shared.auth import Principal
from shared.calendar import china_date
from shared.db import utcnow
from shared.errors import Conflict, InvalidRequest, NotFound
from shared.messages import Message, Term
from shared.uow import UnitOfWork

T = TypeVar("T", Entry, Objection)
configure_mappers()  # as in services/clarification/store.py: new_instance() would not
ENTRIES: Table = Entry.__table__  # type: ignore[assignment]
OBJECTIONS: Table = Objection.__table__  # type: ignore[assignment]
_E = [c.key for c in ENTRIES.c]
_O = [c.key for c in OBJECTIONS.c]
LOCK_ENTRY = select(ENTRIES).where(ENTRIES.c.id == bindparam("id")).with_for_update()
COUNT = select(func.count()).select_from(OBJECTIONS).where(OBJECTIONS.c.entry_id == bindparam("id"))
# The objection and its entry, both rows locked (FOR UPDATE of both tables).
LOCK_OBJECTION = select(OBJECTIONS, *[ENTRIES.c[k].label(f"e_{k}") for k in _E]).select_from(
    OBJECTIONS.join(ENTRIES, ENTRIES.c.id == OBJECTIONS.c.entry_id)).where(
    OBJECTIONS.c.id == bindparam("id")).with_for_update()
OF_ENTRIES = select(OBJECTIONS).where(OBJECTIONS.c.entry_id.in_(bindparam("ids", expanding=True))).order_by(
    OBJECTIONS.c.filed_at, OBJECTIONS.c.id)
_UPDATE = {t.name: update(t).where(t.c.id == bindparam("_key")) for t in (ENTRIES, OBJECTIONS)}
_INSERT_OBJECTION = insert(OBJECTIONS)
_COLUMNS = {t.name: frozenset(_E if t is ENTRIES else _O) for t in (ENTRIES, OBJECTIONS)}


class ObjectionNotFound(NotFound):
    code = "objection_not_found"


class ObjectionRefused(Conflict):
    code = "objection_refused"


class ObjectionAlreadyDecided(Conflict):
    code = "objection_already_decided"


def _detached(cls: type[T], values: dict[str, Any]) -> T:
    """An instance of the mapped class holding `values` as loaded (nothing changed yet), in no Session."""
    obj: T = attributes.manager_of_class(cls).new_instance()
    state = attributes.instance_state(obj)
    state.dict.update(values)
    state.key = (cls, (values["id"],), None)
    return obj


async def _rows(uow: UnitOfWork, stmt: Any, params: dict[str, Any]) -> Sequence[Any]:
    conn = await uow.session.connection()
    return (await conn.execute(stmt, params)).all()


async def _save(uow: UnitOfWork, obj: Entry | Objection) -> None:
    """Write the columns changed since `obj` was read (nothing when none did), or INSERT a new objection."""
    state = attributes.instance_state(obj)
    table = ENTRIES.name if isinstance(obj, Entry) else OBJECTIONS.name
    conn = await uow.session.connection()
    if state.key is None:
        await conn.execute(_INSERT_OBJECTION, {k: v for k, v in state.dict.items() if k in _COLUMNS[table]})
        state.key = (type(obj), (state.dict["id"],), None)
    elif changed := {k: state.dict[k] for k in state.committed_state if k in _COLUMNS[table]}:
        await conn.execute(_UPDATE[table], {"_key": state.dict["id"], **changed})
    state.committed_state.clear()


async def objections_of(uow: UnitOfWork, entry_ids: list[str]) -> dict[str, list[Objection]]:
    """Each entry's objections, oldest first."""
    out: dict[str, list[Objection]] = {key: [] for key in entry_ids}
    if entry_ids:
        for row in await _rows(uow, OF_ENTRIES, {"ids": entry_ids}):
            objection = _detached(Objection, dict(zip(_O, row, strict=True)))
            out[objection.entry_id].append(objection)
    return out


async def entry_to_change(*, uow: UnitOfWork, entry_id: str, principal: Principal) -> Entry:
    """The entry an objection is filed against, locked; 404 when there is none in the principal's
    jurisdiction."""
    rows = await _rows(uow, LOCK_ENTRY, {"id": entry_id})
    if not rows or not principal.serves(rows[0].region_code):
        raise EntryNotFound(Message("blacklist.entry_not_found", entry_id=entry_id))
    return _detached(Entry, dict(zip(_E, rows[0], strict=True)))


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
    earlier = int((await _rows(uow, COUNT, {"id": entry.id}))[0][0] or 0)
    refusal = domain.objection_refusal(standing(entry, today), objections_so_far=earlier)
    if refusal:
        raise ObjectionRefused(refusal, entry_status=entry.status)
    objection = Objection(
        id=str(uuid.uuid4()), entry_id=entry.id, grounds=grounds, received_on=received, status_before=entry.status,
        filed_by=principal.subject, filed_at=utcnow(),
    )
    entry.status_before_review = entry.status
    move(entry, EntryStatus.under_review, "objection_filed")
    uow.record_audit(actor=principal.subject, action="objection.filed", object_type="entry", object_id=entry.id,
                     details={"objection_id": objection.id, "status_before": objection.status_before,
                              "received_on": received.isoformat()})
    await _save(uow, objection)
    await _save(uow, entry)
    return objection


async def get_objection(*, uow: UnitOfWork, objection_id: str, principal: Principal) -> tuple[Objection, Entry]:
    """The objection and its entry, both locked and read as they are once locked (two officers deciding
    at once decide once); 404 when there is none or its entry lies outside the principal's jurisdiction."""
    rows = await _rows(uow, LOCK_OBJECTION, {"id": objection_id})
    if not rows or not principal.serves(rows[0].e_region_code):
        raise ObjectionNotFound(Message("blacklist.objection_not_found", objection_id=objection_id))
    width = len(_O)
    return (_detached(Objection, dict(zip(_O, rows[0][:width], strict=True))),
            _detached(Entry, dict(zip(_E, rows[0][width:], strict=True))))


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
    await _save(uow, objection)
    await _save(uow, entry)
    return objection
