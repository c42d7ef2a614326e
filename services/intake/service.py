"""Intake use cases: load, apply rules, save, raise events. The edge (request or event) commits."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case, delete, func, insert, select
from sqlalchemy.orm import selectinload

from services.intake import domain
from services.intake.models import Allegation, Base, IdempotencyRecord, Report
from services.intake.schemas import ReportIn
from shared.auth import Principal
from shared.calendar import WorkingCalendar, china_date, local_day_bounds
from shared.crypto import FieldCipher
from shared.db import in_region, utcnow
from shared.errors import DomainError, NotFound
from shared.events import PoisonEvent, ReportSubmittedV1, ReportVerifiedV1
from shared.identity import normalize_id_number
from shared.pagination import cursor_filter, page_after
from shared.uow import UnitOfWork

EARLIER_REPORTS_COMPARED = 200  # the most recent reports about the same subject
# The tables themselves, for Core bulk inserts (no ORM objects on the submission path).
REPORTS, ALLEGATIONS, IDEMPOTENCY_KEYS = (
    Base.metadata.tables[name] for name in ("reports", "allegations", "idempotency_keys")
)


class ReportNotFound(NotFound):
    code = "report_not_found"
    title = "Report not found"


class ReceiptNotFound(NotFound):
    code = "receipt_not_found"
    title = "No report has this receipt code"


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422
    title = "Idempotency-Key already used for a different request"



@dataclass(frozen=True)
class IntakeRules:
    """The configurable parts of intake."""

    acceptance_notice_working_days: int = 15
    duplicate_similarity: float = 0.8
    idempotency_retention: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Submission:
    report_id: str
    receipt_code: str
    status: str
    flags: list[str]
    linked_report_ids: list[str]
    replayed: bool = False


def request_fingerprint(report_in: ReportIn) -> str:
    canonical = json.dumps(report_in.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


async def replay(
    *, uow: UnitOfWork, cipher: FieldCipher, principal_subject: str, key: str, fingerprint: str, rules: IntakeRules
) -> Submission | None:
    """The first answer to this Idempotency-Key, if it is still kept; 422 if the body differs."""
    record = await uow.session.get(IdempotencyRecord, (principal_subject, key))
    if record is None or record.created_at < utcnow() - rules.idempotency_retention:
        return None
    answer = _replayed(cipher, record.request_hash, record.response_enc, fingerprint)
    if isinstance(answer, DomainError):
        raise answer
    return answer


@dataclass(frozen=True)
class NewReport:
    """A submission made ready to store: everything but what depends on the reports before it."""

    principal: str
    idempotency_key: str | None
    fingerprint: str | None
    receipt_code: str
    row: dict[str, Any]  # the `reports` row; flags and links are added when it is written
    allegations: list[dict[str, Any]]
    shingles: frozenset[str]

    @property
    def report_id(self) -> str:
        return str(self.row["id"])


def prepare(
    *,
    cipher: FieldCipher,
    calendar: WorkingCalendar,
    rules: IntakeRules,
    report_in: ReportIn,
    principal: Principal,
    idempotency_key: str | None = None,
) -> NewReport:
    """Everything a submission needs that no other report affects: ids, the receipt code, the
    reporter encrypted (one call per field) and the blind index, the allegations' shingles.

    The receipt code exists in plain form only here and in the answer (and, for an idempotent
    retry, encrypted in the idempotency record until it expires).
    """
    report_id = str(uuid.uuid4())
    receipt_code = domain.new_receipt_code()
    reporter = report_in.reporter
    subject = report_in.subject
    received_at = utcnow()

    def enc(value: str | None, column: str) -> str | None:
        return None if value is None else cipher.encrypt(value, column=f"reports.{column}")

    summaries = [a.summary for a in report_in.allegations]
    row: dict[str, Any] = {
        "id": report_id,
        "channel": report_in.channel.value,
        "subject_name": subject.name,
        "subject_position": subject.position,
        "subject_organization": subject.organization,
        "region_code": subject.region_code,
        "status": "received",
        "anonymous": reporter.anonymous,
        "reporter_name_enc": enc(reporter.name, "reporter_name_enc"),
        "reporter_id_number_enc": enc(reporter.id_number, "reporter_id_number_enc"),
        "reporter_phone_enc": enc(reporter.phone, "reporter_phone_enc"),
        "reporter_address_enc": enc(reporter.address, "reporter_address_enc"),
        "reporter_blind_index": None if reporter.id_number is None
        else cipher.blind_index(normalize_id_number(reporter.id_number)),
        "receipt_code_hash": domain.receipt_code_hash(receipt_code),
        "external_ref": report_in.external_ref,
        "received_at": received_at,
        "submitted_by": principal.subject,
        "subject_key": domain.subject_key(subject.name, subject.region_code),
        # Only a named reporter can be told of acceptance, so only they get a deadline.
        "acceptance_notice_due": None if reporter.anonymous else calendar.add_working_days(
            china_date(received_at), rules.acceptance_notice_working_days),
        "outcome": None,
        "verdict_version": 0,
        "concluded_at": None,
    }
    allegations = [
        {"id": str(uuid.uuid4()), "report_id": report_id, "position": i, "category": a.category.value,
         "summary": a.summary, "occurred_on": a.occurred_on, "place": a.place}
        for i, a in enumerate(report_in.allegations)
    ]
    return NewReport(
        principal=principal.subject,
        idempotency_key=idempotency_key,
        fingerprint=None if idempotency_key is None else request_fingerprint(report_in),
        receipt_code=receipt_code,
        row=row,
        allegations=allegations,
        shingles=domain.shingles(domain.allegation_text(summaries)),
    )


class _Earlier:
    """A stored report as a new one about the same subject sees it (by the same reporter or not)."""

    __slots__ = ("blind_index", "by_other", "by_same")

    def __init__(self, report_id: str, blind_index: str | None, concluded: bool, shingles: frozenset[str]) -> None:
        self.blind_index = blind_index
        self.by_other = domain.EarlierReport(report_id, shingles, same_reporter=False, concluded=concluded)
        self.by_same = domain.EarlierReport(report_id, shingles, same_reporter=True, concluded=concluded)

    def seen_by(self, blind_index: str | None) -> domain.EarlierReport:
        return self.by_same if blind_index is not None and blind_index == self.blind_index else self.by_other


class ShingleCache:
    """Shingles of stored reports by id. Allegations never change once stored, so they can be kept;
    the most recent `capacity` reports stay, which are the ones new reports are compared with. A
    report's shingles take about 20 KB, so the default bounds the cache near 80 MB per process."""

    def __init__(self, capacity: int = 4_096) -> None:
        self._capacity = capacity
        self._by_id: dict[str, frozenset[str]] = {}

    def get(self, report_id: str) -> frozenset[str] | None:
        return self._by_id.get(report_id)

    def put(self, report_id: str, shingles: frozenset[str]) -> None:
        if len(self._by_id) >= self._capacity:
            del self._by_id[next(iter(self._by_id))]  # the oldest entry
        self._by_id[report_id] = shingles


async def submit_many(
    *,
    uow: UnitOfWork,
    cipher: FieldCipher,
    rules: IntakeRules,
    reports: list[NewReport],
    cache: ShingleCache | None = None,
) -> list[Submission | DomainError]:
    """Store prepared submissions in the unit of work, in order, as if one after the other; the
    caller commits. Each gets its own answer: a new report, the first answer to its
    Idempotency-Key, or its own error.

    Core bulk inserts (one statement per table for the whole batch) and one outbox row per report.
    A report is compared with the reports stored before it and with those earlier in the batch.
    """
    cache = cache if cache is not None else ShingleCache()
    answers: list[Submission | DomainError | None] = [None] * len(reports)
    now = utcnow()
    first_answers = await _first_answers(uow, reports)
    writing: list[int] = []
    holders: dict[tuple[str, str], int] = {}  # an Idempotency-Key used in this batch -> the report that stores it
    replays: dict[int, int] = {}  # a retry in this batch -> the report whose answer it repeats
    for i, new in enumerate(reports):
        if new.idempotency_key is not None:
            id_key = (new.principal, new.idempotency_key)
            record = first_answers.get(id_key)
            if record is not None and record.created_at >= now - rules.idempotency_retention:
                answers[i] = _replayed(cipher, record.request_hash, record.response_enc, new.fingerprint)
                continue
            if id_key in holders:
                first = reports[holders[id_key]]
                if first.fingerprint != new.fingerprint:
                    answers[i] = _key_reused()
                else:
                    replays[i] = holders[id_key]
                continue
            holders[id_key] = i
        writing.append(i)
    if writing:
        await _store(uow, cipher, rules, [reports[i] for i in writing], now, cache, answers, writing)
    for i, first_i in replays.items():
        first_answer = answers[first_i]
        assert isinstance(first_answer, Submission)
        answers[i] = dataclasses.replace(first_answer, replayed=True)
    return [a for a in answers if a is not None]


async def _first_answers(uow: UnitOfWork, reports: list[NewReport]) -> dict[tuple[str, str], Any]:
    keys = {r.idempotency_key for r in reports if r.idempotency_key is not None}
    if not keys:
        return {}
    principals = {r.principal for r in reports if r.idempotency_key is not None}
    t = IDEMPOTENCY_KEYS.c
    rows = await uow.session.execute(
        select(t.principal, t.key, t.request_hash, t.response_enc, t.created_at)
        .where(t.key.in_(sorted(keys)), t.principal.in_(sorted(principals)))
    )
    return {(row.principal, row.key): row for row in rows}


def _key_reused() -> IdempotencyKeyReused:
    return IdempotencyKeyReused(
        "this Idempotency-Key was first sent with a different body; use a new key for a new report",
        errors=[{"field": "Idempotency-Key", "message": "already used for a different body",
                 "type": "idempotency_key_reused"}],
    )


def _replayed(cipher: FieldCipher, request_hash: str, response_enc: str, fingerprint: str | None
              ) -> Submission | DomainError:
    if request_hash != fingerprint:
        return _key_reused()
    first = json.loads(cipher.decrypt(response_enc, column="idempotency_keys.response_enc"))
    return Submission(**first, replayed=True)


async def _store(
    uow: UnitOfWork, cipher: FieldCipher, rules: IntakeRules, reports: list[NewReport], now: datetime,
    cache: ShingleCache, answers: list[Submission | DomainError | None], positions: list[int],
) -> None:
    earlier = await _earlier_reports(uow, {r.row["subject_key"] for r in reports}, cache)
    report_rows: list[dict[str, Any]] = []
    allegation_rows: list[dict[str, Any]] = []
    idempotency_rows: list[dict[str, Any]] = []
    for position, new in zip(positions, reports, strict=True):
        row = new.row
        before = earlier.setdefault(row["subject_key"], [])
        blind_index = row["reporter_blind_index"]
        repeats = domain.assess_repeats(
            new.shingles, [e.seen_by(blind_index) for e in before], threshold=rules.duplicate_similarity)
        before.append(_Earlier(new.report_id, blind_index, False, new.shingles))
        del before[:-EARLIER_REPORTS_COMPARED]
        flags, links = list(repeats.flags), list(repeats.linked_report_ids)
        report_rows.append({**row, "flags": flags, "flagged": bool(flags), "linked_report_ids": links})
        allegation_rows.extend(new.allegations)
        submission = Submission(new.report_id, new.receipt_code, "received", flags, links)
        answers[position] = submission
        if new.idempotency_key is not None:
            first = {"report_id": submission.report_id, "receipt_code": submission.receipt_code,
                     "status": submission.status, "flags": flags, "linked_report_ids": links}
            idempotency_rows.append({
                "principal": new.principal, "key": new.idempotency_key, "request_hash": new.fingerprint,
                "report_id": new.report_id, "created_at": now,
                "response_enc": cipher.encrypt(json.dumps(first), column="idempotency_keys.response_enc"),
            })
        uow.raise_event(_submitted_event(row, new.allegations, flags, links), key=new.report_id)
    session = uow.session
    await session.execute(insert(REPORTS), report_rows)
    await session.execute(insert(ALLEGATIONS), allegation_rows)
    if idempotency_rows:
        # Expired answers go: they hold receipt codes, which are otherwise kept only as hashes.
        await session.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.created_at < now - rules.idempotency_retention))
        await session.execute(insert(IDEMPOTENCY_KEYS), idempotency_rows)
    for new in reports:
        cache.put(new.report_id, new.shingles)


def _submitted_event(
    row: dict[str, Any], allegations: list[dict[str, Any]], flags: list[str], links: list[str]
) -> ReportSubmittedV1:
    # From plain values in one pass of Pydantic's core: cheaper than building each model in Python.
    return ReportSubmittedV1.model_validate({
        "report_id": row["id"],
        "channel": row["channel"],
        "subject": {"name": row["subject_name"], "position": row["subject_position"],
                    "organization": row["subject_organization"], "region_code": row["region_code"]},
        "allegations": [
            {"allegation_id": a["id"], "category": a["category"], "summary": a["summary"],
             "occurred_on": a["occurred_on"], "place": a["place"]}
            for a in allegations
        ],
        "region_code": row["region_code"],
        "anonymous": row["anonymous"],
        "reporter_blind_index": row["reporter_blind_index"],
        "linked_report_ids": links,
        "flags": flags,
        "received_at": row["received_at"],
    })


async def _earlier_reports(uow: UnitOfWork, keys: set[str], cache: ShingleCache) -> dict[str, list[_Earlier]]:
    """The latest reports about each subject, oldest first, through the subject-key index."""
    ranked = (
        select(
            Report.id, Report.reporter_blind_index, Report.status, Report.subject_key, Report.received_at,
            func.row_number().over(
                partition_by=Report.subject_key, order_by=(Report.received_at.desc(), Report.id.desc())
            ).label("rank"),
        )
        .where(Report.subject_key.in_(sorted(keys)))
        .subquery()
    )
    rows = (
        await uow.session.execute(
            select(ranked.c.id, ranked.c.reporter_blind_index, ranked.c.status, ranked.c.subject_key)
            .where(ranked.c.rank <= EARLIER_REPORTS_COMPARED)
            .order_by(ranked.c.received_at, ranked.c.id)
        )
    ).all()
    missing = [r.id for r in rows if cache.get(r.id) is None]
    for chunk in range(0, len(missing), 1000):
        summaries: dict[str, list[str]] = {rid: [] for rid in missing[chunk : chunk + 1000]}
        for report_id, summary in await uow.session.execute(
            select(Allegation.report_id, Allegation.summary)
            .where(Allegation.report_id.in_(summaries))
            .order_by(Allegation.report_id, Allegation.position)
        ):
            summaries[report_id].append(summary)
        for rid, texts in summaries.items():
            cache.put(rid, domain.shingles(domain.allegation_text(texts)))
    by_key: dict[str, list[_Earlier]] = {}
    for r in rows:
        shingles = cache.get(r.id)
        if shingles is None:  # pushed out of a small cache by this very batch: read it again
            shingles = await _shingles_of(uow, r.id)
        by_key.setdefault(r.subject_key, []).append(
            _Earlier(r.id, r.reporter_blind_index, r.status == "concluded", shingles))
    return by_key


async def _shingles_of(uow: UnitOfWork, report_id: str) -> frozenset[str]:
    summaries = (await uow.session.scalars(
        select(Allegation.summary).where(Allegation.report_id == report_id).order_by(Allegation.position)
    )).all()
    return domain.shingles(domain.allegation_text(list(summaries)))


async def get(*, uow: UnitOfWork, report_id: str, principal: Principal) -> Report:
    """The report, if it lies in the principal's region; otherwise it does not exist for them."""
    report = await uow.session.scalar(
        select(Report).where(Report.id == report_id).options(selectinload(Report.allegations))
    )
    if report is None or not principal.serves(report.region_code):
        raise ReportNotFound(f"no report {report_id} in your jurisdiction")
    return report


async def list_reports(
    *,
    uow: UnitOfWork,
    principal: Principal,
    region: str | None,
    status: str | None,
    channel: str | None,
    received_from: date | None,
    received_to: date | None,
    flagged: bool | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[Report], str | None]:
    """Reports in the principal's jurisdiction, oldest first, filtered, one page at a time."""
    effective = principal.narrow(region)
    if effective is None:
        return [], None
    stmt = (
        select(Report)
        .where(in_region(Report.region_code, effective))
        .options(selectinload(Report.allegations))
        .order_by(Report.received_at, Report.id)
        .limit(limit + 1)
    )
    start, end = local_day_bounds(received_from, received_to)
    if start is not None:
        stmt = stmt.where(Report.received_at >= start)
    if end is not None:
        stmt = stmt.where(Report.received_at < end)
    if status is not None:
        stmt = stmt.where(Report.status == status)
    if channel is not None:
        stmt = stmt.where(Report.channel == channel)
    if flagged is not None:
        stmt = stmt.where(Report.flagged == flagged)
    after = cursor_filter(Report.received_at, Report.id, cursor)
    if after is not None:
        stmt = stmt.where(after)
    rows = list((await uow.session.scalars(stmt)).all())
    return page_after(rows, limit, at="received_at", ident="id")


async def receipt_status(*, uow: UnitOfWork, receipt_code: str) -> tuple[str, date, str | None]:
    """Status, received date and outcome class for a receipt code; 404 after the same work if unknown."""
    digest = domain.receipt_code_hash(receipt_code[:64])
    row = (
        await uow.session.execute(
            select(Report.status, Report.received_at, Report.outcome).where(Report.receipt_code_hash == digest)
        )
    ).first()
    if row is None:
        raise ReceiptNotFound("check the code and try again")
    return row.status, china_date(row.received_at), row.outcome


async def apply_verdict(*, uow: UnitOfWork, verdict: ReportVerifiedV1) -> None:
    """Keep the receipt status current: the newest verdict version wins, older ones are ignored.
    Only a verified event (signed by verification) gets here; its verdict id and approver are what
    identity custody releases a reporter to credit_blacklist on."""
    report = await uow.session.get(Report, verdict.report_id, with_for_update=True)
    if report is None:
        raise PoisonEvent(f"verdict for unknown report {verdict.report_id}")
    if verdict.version <= report.verdict_version:
        return
    report.status = "concluded"
    report.outcome = verdict.verdict
    report.verdict_version = verdict.version
    report.concluded_at = verdict.concluded_at
    report.verdict_id = verdict.verdict_id
    report.verdict_approved_by = verdict.approver
    report.verdict_approver_level = verdict.approver_org_level
    await uow.session.flush()


@dataclass(frozen=True)
class Stats:
    region: str
    received: int
    by_channel: dict[str, int]
    by_status: dict[str, int]
    by_outcome: dict[str, int]
    anonymous: int
    flagged: int


async def stats(
    *, uow: UnitOfWork, principal: Principal, region: str | None, received_from: date | None,
    received_to: date | None,
) -> Stats:
    effective = principal.within(region)
    conditions = [in_region(Report.region_code, effective)]
    start, end = local_day_bounds(received_from, received_to)
    if start is not None:
        conditions.append(Report.received_at >= start)
    if end is not None:
        conditions.append(Report.received_at < end)

    async def grouped(column: object) -> dict[str, int]:
        rows = await uow.session.execute(
            select(column, func.count()).where(*conditions).group_by(column)  # type: ignore[call-overload]
        )
        return {str(k): int(n) for k, n in rows if k is not None}

    totals = (
        await uow.session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(case((Report.anonymous.is_(True), 1), else_=0)), 0),
                func.coalesce(func.sum(case((Report.flagged.is_(True), 1), else_=0)), 0),
            ).where(*conditions)
        )
    ).one()
    return Stats(
        region=effective, received=int(totals[0]), by_channel=await grouped(Report.channel),
        by_status=await grouped(Report.status), by_outcome=await grouped(Report.outcome),
        anonymous=int(totals[1]), flagged=int(totals[2]),
    )
