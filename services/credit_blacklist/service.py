"""Blacklist use cases: listing from verdicts, objections, the sweep (repair and revocation are in
removals.py). Services flush; the edge (request, consumed event or sweep batch) commits."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from sqlalchemy import func, or_, select

from services.credit_blacklist import domain
from services.credit_blacklist.domain import EntryStatus, PeriodRange, Severity
from services.credit_blacklist.identity import IdentityRefused, ReporterIdentity, ReportUnknown, VerdictSuperseded
from services.credit_blacklist.models import Entry, Objection, ReportVerdict
from shared.auth import Principal
from shared.calendar import WorkingCalendar, china_date
from shared.crypto import FieldCipher
from shared.db import utcnow
from shared.errors import Conflict, Forbidden, InvalidRequest, NotFound
from shared.events import (
    INVALID_DATA,
    BlacklistEntryActivatedV1,
    BlacklistEntryNotifiedV1,
    BlacklistEntryRemovedV1,
    PoisonEvent,
    ReportVerifiedV1,
)
from shared.uow import UnitOfWork

SYSTEM = "system"
ID_LENGTH = 36  # report, case and verdict ids are UUIDs


class EntryNotFound(NotFound):
    code = "entry_not_found"
    title = "Blacklist entry not found"


class ObjectionNotFound(NotFound):
    code = "objection_not_found"
    title = "Objection not found"


class ObjectionRefused(Conflict):
    code = "objection_refused"
    title = "The objection cannot be filed"


class ObjectionAlreadyDecided(Conflict):
    code = "objection_already_decided"
    title = "The objection was already decided"


class RepairNotYetPossible(Conflict):
    code = "repair_not_yet_possible"
    title = "Credit repair is not possible now"


class DecisionRefused(Forbidden):
    code = "decision_refused"
    title = "You may not decide this"


def refused(refusal: domain.Refusal) -> DecisionRefused:
    """The 403 for a refusal: its sentence as the detail, its rule named in the body."""
    return DecisionRefused(refusal.detail, rule=refusal.rule)


@dataclass(frozen=True)
class BlacklistRules:
    """The configurable parts of the blacklist."""

    legal_basis_ref: str = domain.LEGAL_BASIS_UNSET
    legal_basis_text: str = domain.LEGAL_BASIS_UNSET
    objection_window_days: int = 15
    periods: Mapping[Severity, PeriodRange] = field(default_factory=lambda: dict(domain.DEFAULT_PERIODS))
    check_lists_notified: bool = False


class IdentitySource(Protocol):
    async def reporter_identity(self, *, report_id: str, verdict_id: str, version: int) -> ReporterIdentity: ...


def facts(entry: Entry) -> domain.EntryFacts:
    return domain.EntryFacts(
        status=EntryStatus(entry.status), objection_deadline=entry.objection_deadline, months=entry.period_months,
        listed_from=entry.listed_from, listed_until=entry.listed_until,
    )


def standing(entry: Entry, today: date | None = None) -> domain.Standing:
    return domain.standing(facts(entry), today or china_date(utcnow()))


# --- listing from verdicts ------------------------------------------------------------------------


async def apply_verdict(
    *, uow: UnitOfWork, verdict: ReportVerifiedV1, identities: IdentitySource, cipher: FieldCipher,
    calendar: WorkingCalendar, rules: BlacklistRules,
) -> ReportVerdict:
    """Apply a final verdict for a report: list a malicious reporter, revoke what a superseding
    verdict no longer supports. The newest verdict version wins; older or repeated ones change nothing."""
    too_long = [name for name in ("report_id", "case_id", "verdict_id") if len(getattr(verdict, name)) > ID_LENGTH]
    if too_long or len(verdict.region_code) != 6:
        raise PoisonEvent(f"verdict {verdict.verdict_id[:40]} carries ids this service cannot store: "
                          f"{', '.join(too_long) or 'region_code'}", reason=INVALID_DATA)
    if verdict.verdict == "malicious" and not verdict.approver:
        # Verification publishes a malicious verdict only once a second officer approved it.
        raise PoisonEvent(f"malicious verdict {verdict.verdict_id[:40]} names no approver", reason=INVALID_DATA)
    seen = await uow.session.get(ReportVerdict, verdict.report_id, with_for_update=True)
    if seen is not None and verdict.version <= seen.version:
        return seen
    earlier = list(await uow.session.scalars(
        select(Entry).where(Entry.report_id == verdict.report_id, Entry.status != EntryStatus.revoked.value)
        .with_for_update()
    ))
    served = False
    for entry in earlier:
        if verdict.verdict == "malicious" and entry.status in (EntryStatus.expired, EntryStatus.repaired):
            served = True  # the person already served a listing for this report: never listed twice
            continue
        remove(uow, entry, EntryStatus.revoked, reason="verdict_superseded", by=SYSTEM,
                note=f"superseded by verdict {verdict.verdict_id} ({verdict.verdict})")

    entry_id = None
    if verdict.verdict != "malicious":
        outcome = "not_listed"
    elif served:
        outcome = "served"
    elif verdict.anonymous or verdict.reporter_blind_index is None:
        outcome = "unidentified"  # nobody to list, and no identity is ever asked for
    else:
        try:
            identity: ReporterIdentity | None = await identities.reporter_identity(
                report_id=verdict.report_id, verdict_id=verdict.verdict_id, version=verdict.version)
        except (ReportUnknown, IdentityRefused) as exc:
            raise PoisonEvent(str(exc)) from exc
        except VerdictSuperseded:
            identity = None  # a newer verdict is on its way here and decides instead
        if identity is None:
            outcome = "superseded"
        elif identity.anonymous or not identity.name or not identity.id_number:
            outcome = "unidentified"
        else:
            entry = await _list(uow=uow, verdict=verdict, identity=identity, cipher=cipher, calendar=calendar,
                                rules=rules)
            outcome, entry_id = "listed", entry.id
    if seen is None:
        seen = ReportVerdict(report_id=verdict.report_id)
        uow.session.add(seen)
    seen.case_id, seen.verdict_id, seen.version, seen.verdict = (
        verdict.case_id, verdict.verdict_id, verdict.version, verdict.verdict)
    seen.region_code, seen.outcome, seen.entry_id, seen.applied_at = (
        verdict.region_code, outcome, entry_id, utcnow())
    await uow.session.flush()
    return seen


async def _list(
    *, uow: UnitOfWork, verdict: ReportVerifiedV1, identity: ReporterIdentity, cipher: FieldCipher,
    calendar: WorkingCalendar, rules: BlacklistRules,
) -> Entry:
    if verdict.severity is None or verdict.malice_kind is None:
        raise PoisonEvent(f"malicious verdict {verdict.verdict_id} carries no severity or malice kind")
    assert identity.name is not None and identity.id_number is not None
    blind_index = cipher.blind_index(domain.normalize_id_number(identity.id_number))
    repeat = bool(await uow.session.scalar(
        select(func.count()).select_from(Entry).where(
            Entry.blind_index == blind_index, Entry.status != EntryStatus.revoked.value,
            Entry.report_id != verdict.report_id)
    ))
    listing = domain.listing_for(Severity(verdict.severity), repeat_offender=repeat, periods=rules.periods)
    now = utcnow()

    def enc(value: str | None, column: str) -> str | None:
        return None if value is None else cipher.encrypt(value, column=f"entries.{column}")

    entry = Entry(
        id=str(uuid.uuid4()), report_id=verdict.report_id, case_id=verdict.case_id, verdict_id=verdict.verdict_id,
        region_code=verdict.region_code, status=EntryStatus.notified.value, severity=verdict.severity,
        reason_code=verdict.malice_kind, legal_basis_ref=rules.legal_basis_ref,
        legal_basis_text=rules.legal_basis_text, repeat_offender=repeat, publication=listing.publication.value,
        period_months=listing.months, minimum_months=listing.minimum_months, period_basis=listing.basis,
        name_enc=enc(identity.name, "name_enc"), id_number_enc=enc(identity.id_number, "id_number_enc"),
        phone_enc=enc(identity.phone, "phone_enc"), address_enc=enc(identity.address, "address_enc"),
        blind_index=blind_index, notified_at=now,
        objection_deadline=domain.objection_deadline(china_date(now), rules.objection_window_days,
                                                     calendar.is_working_day),
        created_at=now, updated_at=now,
    )
    uow.session.add(entry)
    uow.raise_event(
        BlacklistEntryNotifiedV1(
            entry_id=entry.id, report_id=entry.report_id, case_id=entry.case_id,
            severity=entry.severity,  # type: ignore[arg-type]
            reason_code=entry.reason_code, legal_basis_ref=entry.legal_basis_ref, repeat_offender=repeat,
            publication=entry.publication,  # type: ignore[arg-type]
            objection_deadline=entry.objection_deadline, notified_at=now,
        ),
        key=entry.report_id,
    )
    return entry


# --- state changes ------------------------------------------------------------------------------------


def _move(entry: Entry, target: EntryStatus, why: str) -> None:
    source = EntryStatus(entry.status)
    if not domain.can_move(source, target, why):
        raise RuntimeError(f"entry {entry.id}: no transition {source.value} -> {target.value} for {why}")
    entry.status = target.value
    entry.updated_at = utcnow()


def _activate(uow: UnitOfWork, entry: Entry, listed_from: date, listed_until: date, why: str) -> None:
    _move(entry, EntryStatus.active, why)
    entry.listed_from, entry.listed_until = listed_from, listed_until
    uow.raise_event(
        BlacklistEntryActivatedV1(
            entry_id=entry.id, report_id=entry.report_id, severity=entry.severity,  # type: ignore[arg-type]
            reason_code=entry.reason_code, publication=entry.publication,  # type: ignore[arg-type]
            listed_from=listed_from, listed_until=listed_until, activated_at=entry.updated_at,
        ),
        key=entry.report_id,
    )


def remove(uow: UnitOfWork, entry: Entry, target: EntryStatus, *, reason: str, by: str,
           note: str | None = None) -> None:
    """Take the entry off the list (`reason` is the transition's reason and the event's code) and publish it."""
    _move(entry, target, reason)
    entry.removed_at, entry.removal_reason, entry.removed_by, entry.removal_note = (
        entry.updated_at, reason, by, note)
    entry.status_before_review = None
    uow.raise_event(
        BlacklistEntryRemovedV1(entry_id=entry.id, report_id=entry.report_id, status=target.value,  # type: ignore[arg-type]
                                reason_code=reason, removed_at=entry.updated_at),
        key=entry.report_id,
    )


def catch_up(uow: UnitOfWork, entry: Entry, today: date) -> None:
    """Write down what the date has made of the entry (window closed, period ended), with events."""
    for _source, target in domain.due_transitions(facts(entry), today):
        if target == EntryStatus.active:
            now = standing(entry, today)
            assert now.listed_from is not None and now.listed_until is not None
            _activate(uow, entry, now.listed_from, now.listed_until, "objection_window_closed")
        else:
            remove(uow, entry, EntryStatus.expired, reason="period_ended", by=SYSTEM)


# --- reading ---------------------------------------------------------------------------------------


async def get(*, uow: UnitOfWork, entry_id: str, principal: Principal, for_update: bool = False) -> Entry:
    stmt = select(Entry).where(Entry.id == entry_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    entry = await uow.session.scalar(stmt)
    if entry is None or not principal.serves(entry.region_code):
        raise EntryNotFound(f"no blacklist entry {entry_id} in your jurisdiction")
    return entry


async def objections_of(uow: UnitOfWork, entry_ids: list[str]) -> dict[str, list[Objection]]:
    out: dict[str, list[Objection]] = {eid: [] for eid in entry_ids}
    if entry_ids:
        for o in await uow.session.scalars(
            select(Objection).where(Objection.entry_id.in_(entry_ids)).order_by(Objection.filed_at, Objection.id)
        ):
            out[o.entry_id].append(o)
    return out


# --- objections ------------------------------------------------------------------------------------


async def file_objection(
    *, uow: UnitOfWork, entry: Entry, principal: Principal, grounds: str, received_on: date | None,
) -> Objection:
    """Record the listed person's objection; the entry is under review until it is decided."""
    today = china_date(utcnow())
    received = received_on or today
    if received > today or received < china_date(entry.notified_at):
        raise InvalidRequest("received_on must lie between the notice and today", errors=[
            {"field": "received_on", "message": "between the notice date and today", "type": "date_range"}])
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
    _move(entry, EntryStatus.under_review, "objection_filed")
    uow.record_audit(actor=principal.subject, action="objection.filed", object_type="entry", object_id=entry.id,
                     details={"objection_id": objection.id, "status_before": objection.status_before,
                              "received_on": received.isoformat()})
    await uow.session.flush()
    return objection


async def get_objection(*, uow: UnitOfWork, objection_id: str, principal: Principal) -> tuple[Objection, Entry]:
    # Locked (objection, then entry) and read fresh: two officers deciding at once decide once.
    objection = await uow.session.get(Objection, objection_id, with_for_update=True, populate_existing=True)
    if objection is None:
        raise ObjectionNotFound(f"no objection {objection_id} in your jurisdiction")
    try:
        entry = await get(uow=uow, entry_id=objection.entry_id, principal=principal, for_update=True)
    except EntryNotFound as exc:
        raise ObjectionNotFound(f"no objection {objection_id} in your jurisdiction") from exc
    return objection, entry


async def decide_objection(
    *, uow: UnitOfWork, objection: Objection, entry: Entry, principal: Principal, uphold: bool, reason: str,
) -> Objection:
    """Uphold (the entry is revoked) or reject (it returns where it was) an objection, with reasons;
    by an officer other than the one who recorded it."""
    refusal = domain.decision_refusal("objection", asked_by=objection.filed_by, decider=principal.subject)
    if refusal is not None:
        raise refused(refusal)
    if objection.decision is not None:
        raise ObjectionAlreadyDecided(f"the objection was {objection.decision} on {objection.decided_at:%Y-%m-%d}",
                                      decision=objection.decision)
    if entry.status != EntryStatus.under_review.value:
        raise ObjectionAlreadyDecided(f"the entry is {entry.status}; nothing is under review any more",
                                      entry_status=entry.status)
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
            _activate(uow, entry, listed_from, listed_until, "objection_rejected")
        else:
            _move(entry, target, "objection_rejected")
        catch_up(uow, entry, today)
    uow.record_audit(actor=principal.subject, action=f"objection.{objection.decision}", object_type="entry",
                     object_id=entry.id, reason=reason,
                     details={"objection_id": objection.id, "recorded_by": objection.filed_by,
                              "entry_status": entry.status})
    await uow.session.flush()
    return objection


# --- the sweep --------------------------------------------------------------------------------------


async def sweep(*, uow_factory: Callable[[], UnitOfWork], today: date | None = None, batch_size: int = 200) -> int:
    """Write down every transition the date has made due (window closed, period ended) and publish
    it. Safe on several replicas at once: rows are taken with `FOR UPDATE SKIP LOCKED` and each
    transition is recomputed from the locked row, so it is applied and published once. Returns
    how many entries moved."""
    today = today or china_date(utcnow())
    due = or_(
        (Entry.status == EntryStatus.notified.value) & (Entry.objection_deadline < today),
        (Entry.status == EntryStatus.active.value) & (Entry.listed_until < today),
    )
    moved = 0
    while True:
        async with uow_factory() as uow:
            entries = list(await uow.session.scalars(
                select(Entry).where(due).order_by(Entry.id).limit(batch_size).with_for_update(skip_locked=True)))
            for entry in entries:
                catch_up(uow, entry, today)
            await uow.commit()
        moved += len(entries)
        if len(entries) < batch_size:
            return moved
