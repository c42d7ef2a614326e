"""Credit repair and revocation: one officer asks, with a reason; another grants or refuses, with theirs.

Both are removal requests (one table, `kind` repair or revocation): they differ only in the rule
checked -- repair after the minimum period, revocation while the entry is notified or active -- and
in the status a granted request leaves the entry in. The rule is checked when asked (so the
requester learns at once) and again when granted (the entry may have moved meanwhile). Every
request and decision is audited with the requester, the decider and both reasons. Services flush;
the edge commits.
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import select

from services.credit_blacklist import domain
from services.credit_blacklist.domain import EntryStatus, RemovalKind
from services.credit_blacklist.models import Entry, RemovalRequest
from services.credit_blacklist.service import DecisionRefused, catch_up, entry_of, remove
from services.credit_blacklist.standing import standing
from shared.auth import Principal
from shared.calendar import china_date
from shared.db import in_region, utcnow
from shared.errors import Conflict, NotFound
from shared.messages import Message, Term
from shared.queries import keyset_page, rows_by
from shared.uow import UnitOfWork

PENDING = "pending"
# What a granted request makes of the entry, and the reason code its removal event carries.
OUTCOME: dict[RemovalKind, tuple[EntryStatus, str]] = {
    RemovalKind.repair: (EntryStatus.repaired, "credit_repaired"),
    RemovalKind.revocation: (EntryStatus.revoked, "revocation_granted"),
}


class RemovalRequestNotFound(NotFound):
    code = "removal_request_not_found"


class RemovalRequestPending(Conflict):
    code = "removal_request_pending"


class RemovalRequestDecided(Conflict):
    code = "removal_request_already_decided"


class RepairNotYetPossible(Conflict):
    code = "repair_not_yet_possible"


class RevocationNotPossible(Conflict):
    code = "revocation_not_possible"


def _check_possible(kind: RemovalKind, entry: Entry, today: date) -> None:
    """409 when the entry, as it stands today, cannot be repaired (or revoked)."""
    now = standing(entry, today)
    if kind == RemovalKind.repair:
        refusal = domain.repair_refusal(now, entry.minimum_months, today)
        if refusal is not None:
            detail, possible_from = refusal
            raise RepairNotYetPossible(detail, entry_status=now.status.value,
                                       possible_from=possible_from.isoformat() if possible_from else None)
    else:
        reason = domain.revocation_refusal(now)
        if reason is not None:
            raise RevocationNotPossible(reason, entry_status=now.status.value)


async def request_removal(
    *, uow: UnitOfWork, entry: Entry, principal: Principal, kind: RemovalKind, reason: str,
) -> RemovalRequest:
    """File a repair or revocation request for a (locked) entry; another officer decides it."""
    today = china_date(utcnow())
    catch_up(uow, entry, today)
    _check_possible(kind, entry, today)
    pending = await uow.session.scalar(select(RemovalRequest).where(
        RemovalRequest.entry_id == entry.id, RemovalRequest.status == PENDING))
    if pending is not None:
        raise RemovalRequestPending(Message("blacklist.removal_pending", kind=Term("removal_kind", pending.kind),
                                            requested_on=pending.requested_at), pending_request_id=pending.id,
                                    pending_kind=pending.kind)
    request = RemovalRequest(id=str(uuid.uuid4()), entry_id=entry.id, kind=kind.value, reason=reason,
                             requested_by=principal.subject, requested_at=utcnow(), status=PENDING)
    uow.session.add(request)
    uow.record_audit(actor=principal.subject, action=f"{kind.value}.requested", object_type="entry",
                     object_id=entry.id, reason=reason,
                     details={"request_id": request.id, "entry_status": standing(entry, today).status.value})
    await uow.session.flush()
    return request


async def get_request(*, uow: UnitOfWork, request_id: str, kind: RemovalKind, principal: Principal
                      ) -> tuple[RemovalRequest, Entry]:
    """The request of this kind and its entry, both locked and read fresh (two deciders decide once)."""
    request = await uow.session.get(RemovalRequest, request_id, with_for_update=True, populate_existing=True)
    missing = RemovalRequestNotFound(Message("blacklist.removal_not_found", kind=Term("removal_kind", kind.value),
                                             request_id=request_id))
    if request is None or request.kind != kind.value:
        raise missing
    return request, await entry_of(uow, request.entry_id, principal=principal, missing=missing)


async def decide_removal(
    *, uow: UnitOfWork, request: RemovalRequest, entry: Entry, principal: Principal, grant: bool, reason: str,
) -> RemovalRequest:
    """Grant (the entry is repaired or revoked, and the removal published) or refuse a pending
    request, with the reason; by an officer other than the requester."""
    kind = RemovalKind(request.kind)
    refusal = domain.decision_refusal(kind, asked_by=request.requested_by, decider=principal.subject)
    if refusal is not None:
        raise DecisionRefused.because(refusal)
    if request.status != PENDING:
        raise RemovalRequestDecided(Message("blacklist.removal_decided", kind=Term("removal_kind", kind.value),
                                            status=Term("request_status", request.status),
                                            decided_on=request.decided_at), request_status=request.status)
    today = china_date(utcnow())
    if grant:
        catch_up(uow, entry, today)
        _check_possible(kind, entry, today)
        target, reason_code = OUTCOME[kind]
        remove(uow, entry, target, reason=reason_code, by=principal.subject, note=reason)
    request.status = "granted" if grant else "refused"
    request.decision_reason, request.decided_by, request.decided_at = reason, principal.subject, utcnow()
    uow.record_audit(actor=principal.subject, action=f"{kind.value}.{request.status}", object_type="entry",
                     object_id=entry.id, reason=reason,
                     details={"request_id": request.id, "requested_by": request.requested_by,
                              "request_reason": request.reason, "entry_status": entry.status})
    await uow.session.flush()
    return request


async def requests_of(uow: UnitOfWork, entry_ids: list[str]) -> dict[str, list[RemovalRequest]]:
    """Each entry's repair and revocation requests, oldest first."""
    return await rows_by(uow.session, RemovalRequest, RemovalRequest.entry_id, entry_ids,
                         RemovalRequest.requested_at, RemovalRequest.id)


async def list_requests(
    *, uow: UnitOfWork, principal: Principal, kind: RemovalKind, status: str | None, cursor: str | None, limit: int,
) -> tuple[list[RemovalRequest], str | None]:
    """Requests of one kind on entries in the principal's jurisdiction, oldest first (the deciders' queue)."""
    t = RemovalRequest
    stmt = (select(t).join(Entry, Entry.id == t.entry_id)
            .where(t.kind == kind.value, in_region(Entry.region_code, principal.region)))
    if status is not None:
        stmt = stmt.where(t.status == status)
    return await keyset_page(uow.session, stmt, at=t.requested_at, ident=t.id, cursor=cursor, limit=limit)
