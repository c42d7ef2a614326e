"""Intake use cases: load, apply rules, save, raise events. The edge (request or event) commits."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import case, delete, func, select
from sqlalchemy.orm import selectinload

from services.intake import domain
from services.intake.models import Allegation, IdempotencyRecord, Report
from services.intake.schemas import ReportIn
from shared.auth import Principal
from shared.calendar import WorkingCalendar, china_date, local_day_bounds
from shared.crypto import FieldCipher
from shared.db import in_region, utcnow
from shared.errors import DomainError, NotFound
from shared.events import AllegationV1, PoisonEvent, ReportSubmittedV1, ReportVerifiedV1, SubjectV1
from shared.identity import normalize_id_number
from shared.observability import report_id_var
from shared.pagination import cursor_filter, page_after
from shared.uow import UnitOfWork

IDENTITY_COLUMNS = ("reporter_name_enc", "reporter_id_number_enc", "reporter_phone_enc", "reporter_address_enc")
EARLIER_REPORTS_COMPARED = 200  # the most recent reports about the same subject


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
    *, uow: UnitOfWork, cipher: FieldCipher, principal: Principal, key: str, fingerprint: str, rules: IntakeRules
) -> Submission | None:
    """The first answer to this Idempotency-Key, if it is still kept; 422 if the body differs."""
    record = await uow.session.get(IdempotencyRecord, (principal.subject, key))
    if record is None or record.created_at < utcnow() - rules.idempotency_retention:
        return None
    if record.request_hash != fingerprint:
        raise IdempotencyKeyReused(
            "this Idempotency-Key was first sent with a different body; use a new key for a new report",
            errors=[{"field": "Idempotency-Key", "message": "already used for a different body",
                     "type": "idempotency_key_reused"}],
        )
    first = json.loads(cipher.decrypt(record.response_enc, column="idempotency_keys.response_enc"))
    return Submission(**first, replayed=True)


async def submit(
    *,
    uow: UnitOfWork,
    cipher: FieldCipher,
    calendar: WorkingCalendar,
    rules: IntakeRules,
    report_in: ReportIn,
    principal: Principal,
    idempotency_key: str | None = None,
) -> Submission:
    """Store a new report with its reporter encrypted, link it to earlier ones, raise the event.

    The receipt code exists in plain form only in the returned value (and, for an idempotent
    retry, encrypted in the idempotency record until it expires).
    """
    report_id = str(uuid.uuid4())
    report_id_var.set(report_id)
    receipt_code = domain.new_receipt_code()
    reporter = report_in.reporter
    received_at = utcnow()

    def enc(value: str | None, column: str) -> str | None:
        return None if value is None else cipher.encrypt(value, column=f"reports.{column}")

    blind_index = (
        cipher.blind_index(normalize_id_number(reporter.id_number)) if reporter.id_number is not None else None
    )
    key = domain.subject_key(report_in.subject.name, report_in.subject.region_code)
    shingles = domain.shingles(domain.allegation_text([a.summary for a in report_in.allegations]))
    repeats = domain.assess_repeats(
        shingles, await _earlier_reports(uow, key, blind_index), threshold=rules.duplicate_similarity
    )
    report = Report(
        id=report_id,
        channel=report_in.channel.value,
        subject_name=report_in.subject.name,
        subject_position=report_in.subject.position,
        subject_organization=report_in.subject.organization,
        region_code=report_in.subject.region_code,
        status="received",
        anonymous=reporter.anonymous,
        reporter_name_enc=enc(reporter.name, "reporter_name_enc"),
        reporter_id_number_enc=enc(reporter.id_number, "reporter_id_number_enc"),
        reporter_phone_enc=enc(reporter.phone, "reporter_phone_enc"),
        reporter_address_enc=enc(reporter.address, "reporter_address_enc"),
        reporter_blind_index=blind_index,
        receipt_code_hash=domain.receipt_code_hash(receipt_code),
        external_ref=report_in.external_ref,
        received_at=received_at,
        submitted_by=principal.subject,
        subject_key=key,
        flags=list(repeats.flags),
        flagged=bool(repeats.flags),
        linked_report_ids=list(repeats.linked_report_ids),
        # Only a named reporter can be told of acceptance, so only they get a deadline.
        acceptance_notice_due=None if reporter.anonymous else calendar.add_working_days(
            china_date(received_at), rules.acceptance_notice_working_days),
        verdict_version=0,
    )
    report.allegations = [
        Allegation(
            id=str(uuid.uuid4()), position=i, category=a.category.value, summary=a.summary,
            occurred_on=a.occurred_on, place=a.place,
        )
        for i, a in enumerate(report_in.allegations)
    ]
    uow.session.add(report)
    submission = Submission(report.id, receipt_code, report.status, report.flags, report.linked_report_ids)
    if idempotency_key is not None:
        await _remember(uow, cipher, principal, idempotency_key, request_fingerprint(report_in), submission, rules)
    await uow.session.flush()
    uow.raise_event(
        ReportSubmittedV1(
            report_id=report.id,
            channel=report.channel,
            subject=SubjectV1(
                name=report.subject_name, position=report.subject_position,
                organization=report.subject_organization, region_code=report.region_code,
            ),
            allegations=[
                AllegationV1(allegation_id=a.id, category=a.category, summary=a.summary,
                             occurred_on=a.occurred_on, place=a.place)
                for a in report.allegations
            ],
            region_code=report.region_code,
            anonymous=report.anonymous,
            reporter_blind_index=report.reporter_blind_index,
            linked_report_ids=report.linked_report_ids,
            flags=report.flags,
            received_at=report.received_at,
        ),
        key=report.id,
    )
    return submission


async def _earlier_reports(uow: UnitOfWork, key: str, blind_index: str | None) -> list[domain.EarlierReport]:
    """Earlier reports about the same subject, oldest first, through the subject-key index."""
    rows = (
        await uow.session.execute(
            select(Report.id, Report.reporter_blind_index, Report.status)
            .where(Report.subject_key == key)
            .order_by(Report.received_at.desc(), Report.id.desc())
            .limit(EARLIER_REPORTS_COMPARED)
        )
    ).all()
    if not rows:
        return []
    summaries: dict[str, list[str]] = {r.id: [] for r in rows}
    for report_id, summary in await uow.session.execute(
        select(Allegation.report_id, Allegation.summary)
        .where(Allegation.report_id.in_(summaries))
        .order_by(Allegation.report_id, Allegation.position)
    ):
        summaries[report_id].append(summary)
    return [
        domain.EarlierReport(
            report_id=r.id,
            shingles=domain.shingles(domain.allegation_text(summaries[r.id])),
            same_reporter=blind_index is not None and r.reporter_blind_index == blind_index,
            concluded=r.status == "concluded",
        )
        for r in reversed(rows)
    ]


async def _remember(
    uow: UnitOfWork, cipher: FieldCipher, principal: Principal, key: str, fingerprint: str,
    submission: Submission, rules: IntakeRules,
) -> None:
    now = utcnow()
    # Expired answers go: they hold receipt codes, which are otherwise kept only as hashes.
    await uow.session.execute(
        delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - rules.idempotency_retention)
    )
    first = {"report_id": submission.report_id, "receipt_code": submission.receipt_code, "status": submission.status,
             "flags": submission.flags, "linked_report_ids": submission.linked_report_ids}
    uow.session.add(IdempotencyRecord(
        principal=principal.subject, key=key, request_hash=fingerprint, report_id=submission.report_id,
        response_enc=cipher.encrypt(json.dumps(first), column="idempotency_keys.response_enc"), created_at=now,
    ))


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


@dataclass(frozen=True)
class Identity:
    report_id: str
    anonymous: bool
    name: str | None
    id_number: str | None
    phone: str | None
    address: str | None


async def release_identity(
    *, uow: UnitOfWork, cipher: FieldCipher, principal: Principal, report_id: str, reason: str
) -> Identity:
    """Decrypt the reporter of a report for a principal with `reports:identity`, and audit it."""
    report = await get(uow=uow, report_id=report_id, principal=principal)

    def dec(column: str) -> str | None:
        stored = getattr(report, column)
        return None if stored is None else cipher.decrypt(stored, column=f"reports.{column}")

    identity = Identity(
        report_id=report.id, anonymous=report.anonymous, name=dec("reporter_name_enc"),
        id_number=dec("reporter_id_number_enc"), phone=dec("reporter_phone_enc"),
        address=dec("reporter_address_enc"),
    )
    released = [c.removeprefix("reporter_").removesuffix("_enc") for c in IDENTITY_COLUMNS
                if getattr(report, c) is not None]
    uow.record_audit(
        actor=principal.subject, action="reporter.identity_released", object_type="report", object_id=report.id,
        reason=reason, details={"fields": released, "anonymous": report.anonymous},
    )
    return identity


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
    """Keep the receipt status current: the newest verdict version wins, older ones are ignored."""
    report = await uow.session.get(Report, verdict.report_id, with_for_update=True)
    if report is None:
        raise PoisonEvent(f"verdict for unknown report {verdict.report_id}")
    if verdict.version <= report.verdict_version:
        return
    report.status = "concluded"
    report.outcome = verdict.verdict
    report.verdict_version = verdict.version
    report.concluded_at = verdict.concluded_at
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
