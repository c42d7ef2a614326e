"""Retention of a reporter's personal data (DESIGN.md §4.6; personal-information law: kept no longer than
the purpose needs, deleted when the retention period ends).

A configured number of years (default 5) after a report's conclusion -- the newest final verdict intake
recorded from report.verified.v1 -- its personal data is purged: the reporter's name, ID number, phone
and address, the blind index of the ID number, the bytes of its evidence files (and their keys) and the
texts of its messages. What stays is what the office's figures and the record need and names nobody:
the report's channel, subject, allegations, region, dates, outcome and flags, its receipt code's hash
(so the receipt still answers the status), each file's media type, sizes, piece counts and SHA-256
hashes, and each message's place, author role, kind and times.

The blind index goes too. It is a keyed hash of the ID number: pseudonymised data is still personal
information, and keeping it would let the report be linked to the person whenever they report again,
which is exactly the processing the law ends with the period. Repeat detection needs it only while a
report is recent; an office that must match repeats for longer sets a longer period.

Never while something depends on the data. Intake itself holds a report with an identity-access request
pending, or approved and not yet used. Verification (a case still under way or reopened by a correction,
a correction pending) and credit_blacklist (an entry notified, active or under review, a repair or
revocation pending, a verdict not applied yet) answer at purge time, each asked with intake's own signed
service credential at `GET /v1/retention-holds` (shared/holds.py says why asking beats keeping a copy
of their state from events). A service that does not answer holds the report this round: no answer, no
purge; the next round asks again.

Each report is purged in one transaction with one audit record; a report already purged is not purged
again, except for content that arrived after its purge, which is purged once it is itself older than the
period (so a late message from the reporter is not lost unread). Killed at any point, a round leaves
every report either untouched or purged. The sweeper runs a round a day in the consumer and all roles;
`zhengming purge [--dry-run]` runs one from the command line."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import httpx
from dateutil.relativedelta import relativedelta
from pydantic import ValidationError
from sqlalchemy import and_, exists, func, or_, select, update

from services.intake.models import Attachment, IdentityAccessRequest, Message, Report
from services.intake.resources import IntakeResources
from services.intake.settings import IntakeSettings
from services.intake.storage import EvidenceStore
from shared.calendar import china_date
from shared.db import lock_names, utcnow
from shared.holds import PATH, RetentionHolds
from shared.runtime import Runtime
from shared.uow import UnitOfWork
from shared.workers import Sweeper

log = logging.getLogger("zhengming.intake.retention")

ACTION = "report.personal_data_purged"
SWEEPER = "system:retention"  # the audit trail's actor for the sweeper's purges
PEERS = ("verification", "credit_blacklist")  # who may still depend on a report's personal data
IDENTITY_FIELDS = ("name", "id_number", "phone", "address")
# Intake's own reasons to hold (the peers' are shared.holds.HoldReason).
IDENTITY_REQUEST_OPEN = "identity_request_open"
PEER_UNANSWERED = "peer_unanswered"

Outcome = Literal["purged", "would_purge", "held", "skipped"]


@dataclass(frozen=True)
class Held:
    """One reason a report's personal data stays: which service says so, why, and on what."""

    service: str
    reason: str
    object_id: str | None = None
    status: str | None = None


@dataclass(frozen=True)
class Due:
    """A report whose retention period has ended, as found: `purged_before` when only content that arrived
    after an earlier purge is left."""

    report_id: str
    concluded_at: datetime
    verdict_version: int
    purged_before: bool


@dataclass(frozen=True)
class Removed:
    """What a purge removed (or, in a dry run, would remove): no value of it, only what and how much."""

    identity_fields: tuple[str, ...]
    blind_index: bool
    attachments: int
    pieces: int
    messages: int

    def as_details(self) -> dict[str, Any]:
        return {"identity_fields": list(self.identity_fields), "blind_index": self.blind_index,
                "attachments": self.attachments, "pieces": self.pieces, "messages": self.messages}


@dataclass(frozen=True)
class Examined:
    """What became of one due report in a round."""

    report_id: str
    outcome: Outcome  # skipped: no longer due when its turn came (a newer verdict, another purger first)
    holds: tuple[Held, ...] = ()
    removed: Removed | None = None


@dataclass
class Round:
    examined: list[Examined] = field(default_factory=list)
    # Where the next round continues (the last report examined), or None when this one reached the end.
    after: tuple[datetime, str] | None = None

    def count(self, outcome: Outcome) -> int:
        return sum(1 for e in self.examined if e.outcome == outcome)


def cutoff(now: datetime, years: int) -> datetime:
    """The latest conclusion whose retention period of `years` has ended at `now`."""
    return now - relativedelta(years=years)


# --- what is due ----------------------------------------------------------------------------------------


def _late_content(cut: datetime) -> Any:
    """SQL: the report has content that arrived after its purge and is itself older than the period."""
    return or_(
        exists().where(Message.report_id == Report.id, Message.body_enc.is_not(None), Message.posted_at <= cut),
        exists().where(Attachment.report_id == Report.id, Attachment.data_key_enc.is_not(None),
                       Attachment.uploaded_at <= cut))


async def due(uow: UnitOfWork, *, cut: datetime, after: tuple[datetime, str] | None, limit: int) -> list[Due]:
    """Up to `limit` reports concluded no later than `cut` with personal data left, oldest conclusion first,
    after the report `after` (conclusion, id)."""
    stmt = select(Report.id, Report.concluded_at, Report.verdict_version, Report.personal_data_purged_at).where(
        Report.concluded_at.is_not(None), Report.concluded_at <= cut,
        or_(Report.personal_data_purged_at.is_(None), _late_content(cut)))
    if after is not None:
        at, report_id = after
        stmt = stmt.where(or_(Report.concluded_at > at, and_(Report.concluded_at == at, Report.id > report_id)))
    rows = await uow.session.execute(stmt.order_by(Report.concluded_at, Report.id).limit(limit))
    return [Due(r.id, r.concluded_at, r.verdict_version, r.personal_data_purged_at is not None) for r in rows]


async def count_due(uow: UnitOfWork, *, cut: datetime) -> int:
    """How many reports `due` would find in all (the command's progress)."""
    return int(await uow.session.scalar(select(func.count()).select_from(Report).where(
        Report.concluded_at.is_not(None), Report.concluded_at <= cut,
        or_(Report.personal_data_purged_at.is_(None), _late_content(cut)))) or 0)


async def local_holds(uow: UnitOfWork, report_id: str, now: datetime) -> list[Held]:
    """Intake's own reasons to keep the report's data: an identity-access request pending, or approved and
    still usable (a custodian decided someone may read the identity: it must be there to read)."""
    t = IdentityAccessRequest
    rows = await uow.session.execute(
        select(t.id, t.status).where(t.report_id == report_id, or_(
            t.status == "pending", and_(t.status == "approved", t.expires_at > now))).order_by(t.requested_at, t.id))
    return [Held("intake", IDENTITY_REQUEST_OPEN, row.id, row.status) for row in rows]


# --- asking the others ----------------------------------------------------------------------------------


class PeerUnanswered(Exception):
    """A service gave no usable answer: its holds are unknown, so the report is held."""


class Peer:
    """One service that may depend on a report's personal data, asked with intake's own service credential."""

    def __init__(self, name: str, http: httpx.AsyncClient | None, credential: Callable[[], str]) -> None:
        self.name = name
        self._http = http  # None: no address configured for it
        self._credential = credential

    async def holds(self, due: Due) -> list[Held]:
        """What the service says keeps the report; PeerUnanswered if it cannot be asked or says nothing usable."""
        if self._http is None:
            raise PeerUnanswered(f"no address for {self.name} (setting audit_peers)")
        try:
            response = await self._http.get(
                PATH, params={"report_id": due.report_id, "verdict_version": due.verdict_version},
                headers={"Authorization": f"Bearer {self._credential()}"})
        except httpx.HTTPError as exc:  # refused, reset, timed out
            raise PeerUnanswered(f"{self.name}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise PeerUnanswered(f"{self.name} answered {response.status_code}")
        try:
            answer = RetentionHolds.model_validate_json(response.content)
        except ValidationError as exc:  # a reason this intake does not know is no reason to purge
            raise PeerUnanswered(f"{self.name} answered what intake cannot read") from exc
        if answer.report_id != due.report_id:
            raise PeerUnanswered(f"{self.name} answered for another report")
        found = [Held(self.name, h.reason.value, h.object_id, h.status) for h in answer.holds]
        return found or ([Held(self.name, "held")] if answer.held else [])


@contextlib.asynccontextmanager
async def peers_of(runtime: Runtime[IntakeSettings]) -> AsyncIterator[list[Peer]]:
    """The services to ask, at the addresses of the setting audit_peers (or in-process, for tests), each with
    its own connection pool for the round."""
    settings = runtime.settings
    urls = settings.audit_peer_urls
    timeout = httpx.Timeout(settings.retention_peer_timeout_s, connect=min(settings.retention_peer_timeout_s, 2.0))
    async with contextlib.AsyncExitStack() as stack:
        peers = []
        for name in PEERS:
            transport = runtime.peer_transports.get(name)
            base_url = urls.get(name) or (f"http://{name}" if transport is not None else None)
            http = None if base_url is None else await stack.enter_async_context(
                httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport))
            peers.append(Peer(name, http, lambda name=name: runtime.signer.credential(audience=name)))  # type: ignore[misc]
        yield peers


# --- purging one report ---------------------------------------------------------------------------------


def _items(column: Any, cut: datetime | None) -> list[Any]:
    """All of a report's content at its first purge; after it, only what is itself older than the period."""
    return [] if cut is None else [column <= cut]


async def contents(uow: UnitOfWork, report: Report, later_than_purge: datetime | None) -> Removed:
    """What a purge of `report` removes now (`later_than_purge`: the cut for content that came after an
    earlier purge)."""
    row = (await uow.session.execute(
        select(func.count(), func.coalesce(func.sum(Attachment.chunk_count), 0),
               func.coalesce(func.sum(Attachment.original_chunk_count), 0))
        .where(Attachment.report_id == report.id, Attachment.data_key_enc.is_not(None),
               *_items(Attachment.uploaded_at, later_than_purge)))).one()
    files, kept_pieces, original_pieces = (int(n or 0) for n in row)
    messages = await uow.session.scalar(
        select(func.count()).where(Message.report_id == report.id, Message.body_enc.is_not(None),
                                   *_items(Message.posted_at, later_than_purge)))
    return Removed(
        identity_fields=tuple(name for name in IDENTITY_FIELDS if getattr(report, f"reporter_{name}_enc") is not None),
        blind_index=report.reporter_blind_index is not None, attachments=files,
        pieces=kept_pieces + original_pieces, messages=int(messages or 0))


async def _still_due(uow: UnitOfWork, due: Due, cut: datetime, *, lock: bool) -> Report | None:
    """The report (locked, with `lock`) if it is still due as it was found: the same verdict, and not purged
    (or purged) since."""
    stmt = select(Report).where(Report.id == due.report_id)
    report = await uow.session.scalar((stmt.with_for_update() if lock else stmt)
                                      .execution_options(populate_existing=True))
    if report is None or report.verdict_version != due.verdict_version or report.concluded_at is None \
            or report.concluded_at > cut or (report.personal_data_purged_at is not None) != due.purged_before:
        return None
    return report


async def purge(*, uow: UnitOfWork, store: EvidenceStore, due: Due, cut: datetime, now: datetime, actor: str,
                years: int, asked: Sequence[str]) -> Removed | list[Held] | None:
    """Purge the report's personal data in this unit of work, with its audit record (the caller commits):
    what was removed; intake's own holds if one appeared since it was asked; None if it is no longer due."""
    report = await _still_due(uow, due, cut, lock=True)
    if report is None:
        return None
    held = await local_holds(uow, report.id, now)
    if held:
        return held
    # Uploads record a file under this lock (attachments.record): none lands between the count and the delete.
    await lock_names(uow.session, f"attachments:{report.id}")
    later = cut if due.purged_before else None
    removed = await contents(uow, report, later)
    for attachment_id in await uow.session.scalars(
            select(Attachment.id).where(Attachment.report_id == report.id, Attachment.data_key_enc.is_not(None),
                                        *_items(Attachment.uploaded_at, later))):
        await store.delete(uow, attachment_id)
    # The wrapped key goes with the pieces: whatever a backup still holds of them can no longer be opened.
    await uow.session.execute(
        update(Attachment).where(Attachment.report_id == report.id, Attachment.data_key_enc.is_not(None),
                                 *_items(Attachment.uploaded_at, later))
        .values(data_key_enc=None).execution_options(synchronize_session=False))
    await uow.session.execute(
        update(Message).where(Message.report_id == report.id, Message.body_enc.is_not(None),
                              *_items(Message.posted_at, later))
        .values(body_enc=None).execution_options(synchronize_session=False))
    for name in IDENTITY_FIELDS:
        setattr(report, f"reporter_{name}_enc", None)
    report.reporter_blind_index = None
    report.personal_data_purged_at = report.personal_data_purged_at or now
    concluded_on = china_date(report.concluded_at).isoformat() if report.concluded_at else None
    uow.record_audit(
        actor=actor, action=ACTION, object_type="report", object_id=report.id,
        reason=f"retention period of {years} year(s) after the conclusion on {concluded_on} ended",
        details={**removed.as_details(), "concluded_at": concluded_on, "verdict_version": report.verdict_version,
                 "outcome": report.outcome, "after_earlier_purge": due.purged_before, "holds_asked": list(asked)})
    await uow.session.flush()
    return removed


# --- a round --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Retention:
    """How a round runs: the period, who is recorded as purging, and what it may touch."""

    years: int
    actor: str
    store: EvidenceStore
    uow: Callable[[], UnitOfWork]


async def _ask(peers: Sequence[Peer], due: Due, unanswered: set[str]) -> list[Held]:
    """Every peer's holds on the report. A peer that failed once this round is not asked again in it (each
    report would wait for its timeout); it holds every report until the next round."""
    async def one(peer: Peer) -> list[Held]:
        if peer.name in unanswered:
            return [Held(peer.name, PEER_UNANSWERED)]
        try:
            return await peer.holds(due)
        except PeerUnanswered as exc:
            unanswered.add(peer.name)
            log.warning("retention: a service did not answer; its reports are held this round",
                        extra={"peer": peer.name, "error": str(exc)[:200]})
            return [Held(peer.name, PEER_UNANSWERED)]

    return [held for found in await asyncio.gather(*(one(peer) for peer in peers)) for held in found]


async def examine(retention: Retention, peers: Sequence[Peer], due: Due, *, cut: datetime, now: datetime,
                  dry_run: bool, unanswered: set[str]) -> Examined:
    """One due report: held (by intake, or by what a peer says or does not say), purged, or in a dry run
    what would be purged. Peers are asked outside any transaction: no lock waits on the network."""
    async with retention.uow() as uow:
        report = await _still_due(uow, due, cut, lock=False)
        if report is None:
            return Examined(due.report_id, "skipped")
        held = await local_holds(uow, report.id, now)
        preview = None if held else await contents(uow, report, cut if due.purged_before else None)
    if held:
        return Examined(due.report_id, "held", tuple(held))
    held = await _ask(peers, due, unanswered)
    if held:
        return Examined(due.report_id, "held", tuple(held))
    if dry_run:
        return Examined(due.report_id, "would_purge", removed=preview)
    async with retention.uow() as uow:
        done = await purge(uow=uow, store=retention.store, due=due, cut=cut, now=now, actor=retention.actor,
                           years=retention.years, asked=[peer.name for peer in peers])
        if isinstance(done, Removed):
            await uow.commit()
            return Examined(due.report_id, "purged", removed=done)
    return Examined(due.report_id, "skipped") if done is None else Examined(due.report_id, "held", tuple(done))


async def run_round(retention: Retention, peers: Sequence[Peer], *, limit: int | None, batch: int,
                    after: tuple[datetime, str] | None = None, dry_run: bool = False,
                    on_examined: Callable[[Examined], Awaitable[None] | None] | None = None) -> Round:
    """Examine the due reports oldest conclusion first, after `after`, `batch` at a time, until none is left
    or `limit` were examined; each purged in its own transaction (or, `dry_run`, none)."""
    now = utcnow()
    cut = cutoff(now, retention.years)
    done = Round()
    unanswered: set[str] = set()
    while limit is None or len(done.examined) < limit:
        size = batch if limit is None else min(batch, limit - len(done.examined))
        async with retention.uow() as uow:
            page = await due(uow, cut=cut, after=after, limit=size)
        for found in page:
            examined = await examine(retention, peers, found, cut=cut, now=now, dry_run=dry_run,
                                     unanswered=unanswered)
            done.examined.append(examined)
            after = (found.concluded_at, found.report_id)
            if on_examined is not None:
                shown = on_examined(examined)
                if shown is not None:
                    await shown
        if len(page) < size:
            after = None  # the end: the next round starts from the oldest again
            break
    done.after = after
    return done


# --- the sweeper ----------------------------------------------------------------------------------------


async def run_sweeper(runtime: Runtime[IntakeSettings], store: EvidenceStore) -> None:
    """A round every `retention_interval_s` (the first at start), each examining at most
    `retention_batch_size` reports and continuing where the last left off, so reports held for long never
    keep the rest from their turn. Several replicas may run it at once: each report is locked and checked
    again before it is purged."""
    settings = runtime.settings
    retention = Retention(years=settings.retention_years, actor=SWEEPER, store=store, uow=runtime.uow)
    after: tuple[datetime, str] | None = None
    while not runtime.stop.is_set():
        try:
            async with peers_of(runtime) as peers:
                done = await run_round(retention, peers, limit=settings.retention_batch_size,
                                       batch=settings.retention_batch_size, after=after)
            after = done.after
            if done.examined:
                log.info("retention round", extra={"purged": done.count("purged"), "held": done.count("held"),
                                                   "skipped": done.count("skipped")})
        except Exception as exc:  # the database may be away; the next round tries again
            log.warning("retention round failed", extra={"error": type(exc).__name__, "detail": str(exc)[:200]})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runtime.stop.wait(), timeout=settings.retention_interval_s)


def sweepers(runtime: Runtime[IntakeSettings], own: IntakeResources) -> Sequence[Sweeper]:
    return [Sweeper("retention", lambda: run_sweeper(runtime, own.evidence))] if runtime.settings.run_retention \
        else []
