"""Blacklist use cases: listing from verdicts, the entry's moves with their events, reading an entry
and the sweep. Objections are in objections.py, repair and revocation in removals.py, an entry's
standing on a day in standing.py. Services flush; the edge (request, consumed event or sweep batch)
commits."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Protocol

from sqlalchemy import func, select

from services.credit_blacklist import domain
from services.credit_blacklist.domain import EntryStatus, PeriodRange, Severity
from services.credit_blacklist.identity import IdentityRefused, ReporterIdentity, ReportUnknown, VerdictSuperseded
from services.credit_blacklist.models import Entry, ReportVerdict
from services.credit_blacklist.standing import facts, moved_by_date, standing
from shared.auth import Principal
from shared.calendar import WorkingCalendar, china_date
from shared.crypto import FieldCipher
from shared.db import utcnow
from shared.errors import DomainError, Forbidden, NotFound
from shared.events import (
    INVALID_DATA,
    BlacklistEntryActivatedV1,
    BlacklistEntryNotifiedV1,
    BlacklistEntryRemovedV1,
    PoisonEvent,
    ReportVerifiedV1,
)
from shared.messages import Message
from shared.queries import served
from shared.uow import UnitOfWork

SYSTEM = "system"
ID_LENGTH = 36  # report, case and verdict ids are UUIDs


class EntryNotFound(NotFound):
    code = "entry_not_found"


class DecisionRefused(Forbidden):
    code = "decision_refused"


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


def move(entry: Entry, target: EntryStatus, why: str) -> None:
    """Write the transition down; one the domain's table does not allow for `why` is a bug."""
    source = EntryStatus(entry.status)
    if not domain.can_move(source, target, why):
        raise RuntimeError(f"entry {entry.id}: no transition {source.value} -> {target.value} for {why}")
    entry.status = target.value
    entry.updated_at = utcnow()


def activate(uow: UnitOfWork, entry: Entry, listed_from: date, listed_until: date, why: str) -> None:
    """List the entry from `listed_from` to `listed_until` (inclusive) and publish it."""
    move(entry, EntryStatus.active, why)
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
    move(entry, target, reason)
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
            activate(uow, entry, now.listed_from, now.listed_until, "objection_window_closed")
        else:
            remove(uow, entry, EntryStatus.expired, reason="period_ended", by=SYSTEM)


# --- reading ---------------------------------------------------------------------------------------


async def get(*, uow: UnitOfWork, entry_id: str, principal: Principal, for_update: bool = False) -> Entry:
    """The entry in the principal's jurisdiction (404 otherwise); locked and read fresh `for_update`."""
    stmt = select(Entry).where(Entry.id == entry_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    missing = EntryNotFound(Message("blacklist.entry_not_found", entry_id=entry_id))
    return await served(uow.session, stmt, principal, missing)


async def entry_of(uow: UnitOfWork, entry_id: str, *, principal: Principal, missing: DomainError) -> Entry:
    """The entry an objection or a request is about, locked and read fresh; `missing` (the 404 of the
    objection or request) when the entry lies outside the principal's jurisdiction."""
    try:
        return await get(uow=uow, entry_id=entry_id, principal=principal, for_update=True)
    except EntryNotFound as exc:
        raise missing from exc


# --- the sweep --------------------------------------------------------------------------------------


async def sweep(*, uow_factory: Callable[[], UnitOfWork], today: date | None = None, batch_size: int = 200) -> int:
    """Write down every transition the date has made due (window closed, period ended) and publish
    it. Safe on several replicas at once: rows are taken with `FOR UPDATE SKIP LOCKED` and each
    transition is recomputed from the locked row, so it is applied and published once. Returns
    how many entries moved."""
    today = today or china_date(utcnow())
    due = moved_by_date(today)
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
