"""Intake use cases: a submission made ready to store (store.py stores it, writer.py commits it
with others), reading reports, the public receipt lookup, the verdicts verification publishes, and
the figures. Services flush; the edge (request or event) commits."""

from __future__ import annotations

import hashlib
import json
import statistics
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.orm import selectinload

from services.intake import domain
from services.intake.models import Attachment, Report
from services.intake.models import Message as ConversationMessage
from services.intake.schemas import MessageStats, ReportIn, ReportStats
from shared.auth import Principal
from shared.calendar import WorkingCalendar, china_date
from shared.crypto import FieldCipher
from shared.db import in_region, utcnow
from shared.errors import NotFound
from shared.events import PoisonEvent, ReportVerifiedV1
from shared.identity import normalize_id_number
from shared.messages import Message
from shared.queries import keyset_page, served, within_days
from shared.uow import UnitOfWork


class ReportNotFound(NotFound):
    code = "report_not_found"


class ReceiptNotFound(NotFound):
    code = "receipt_not_found"


# --- a submission made ready to store ---------------------------------------------------------------


@dataclass(frozen=True)
class IntakeRules:
    """The configurable parts of intake."""

    acceptance_notice_working_days: int = 15
    duplicate_similarity: float = 0.8
    idempotency_retention: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Submission:
    """A submission's answer: the report stored (or, `replayed`, the first answer to its Idempotency-Key).
    An idempotency record keeps it, encrypted, as JSON of every field but `replayed`."""

    report_id: str
    receipt_code: str
    status: str
    flags: list[str]
    linked_report_ids: list[str]
    replayed: bool = False


def request_fingerprint(report_in: ReportIn) -> str:
    canonical = json.dumps(report_in.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


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
    report_id = domain.new_id()
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
        # Every reporter is owed the acceptance notice: an anonymous one reads it through the receipt
        # code like a named one (the conversation, #20), so anonymity no longer excuses it.
        "acceptance_notice_due": calendar.add_working_days(china_date(received_at),
                                                           rules.acceptance_notice_working_days),
        "outcome": None,
        "verdict_version": 0,
        "concluded_at": None,
    }
    allegations = [
        {"id": domain.new_id(), "report_id": report_id, "position": i, "category": a.category.value,
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


# --- reading, following and concluding stored reports ---------------------------------------------


async def get(*, uow: UnitOfWork, report_id: str, principal: Principal) -> Report:
    """The report, if it lies in the principal's region; otherwise it does not exist for them."""
    return await served(uow.session, select(Report).where(Report.id == report_id).options(
        selectinload(Report.allegations)), principal,
        ReportNotFound(Message("intake.report_not_found", report_id=report_id)))


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
    notice_overdue: bool | None = None,
) -> tuple[list[Report], str | None]:
    """Reports in the principal's jurisdiction, oldest first, filtered, one page at a time;
    `notice_overdue` keeps only the reports whose acceptance notice is late (true) or is not (false)."""
    effective = principal.narrow(region)
    if effective is None:
        return [], None
    stmt = (
        select(Report)
        .where(in_region(Report.region_code, effective), *within_days(Report.received_at, received_from, received_to))
        .options(selectinload(Report.allegations))
    )
    if status is not None:
        stmt = stmt.where(Report.status == status)
    if channel is not None:
        stmt = stmt.where(Report.channel == channel)
    if flagged is not None:
        stmt = stmt.where(Report.flagged == flagged)
    if notice_overdue is not None:
        today = china_date(utcnow())
        stmt = stmt.where(acceptance_notice_overdue(today) if notice_overdue else acceptance_notice_not_overdue(today))
    return await keyset_page(uow.session, stmt, at=Report.received_at, ident=Report.id, cursor=cursor, limit=limit)


def acceptance_notice_overdue(today: date) -> ColumnElement[bool]:
    """SQL for "the acceptance notice is late on `today` (China)": its due day has passed and none was
    posted (served by ix_reports_acceptance_notice_pending)."""
    return and_(Report.acceptance_notice_at.is_(None), Report.acceptance_notice_due < today)


def acceptance_notice_not_overdue(today: date) -> ColumnElement[bool]:
    """The complement of `acceptance_notice_overdue`, written out: a report with no due day is not late."""
    return or_(Report.acceptance_notice_at.is_not(None), Report.acceptance_notice_due.is_(None),
               Report.acceptance_notice_due >= today)


async def receipt_status(*, uow: UnitOfWork, receipt_code: str) -> tuple[str, date, str | None]:
    """Status, received date and outcome class for a receipt code; 404 after the same work if unknown."""
    digest = domain.receipt_code_hash(receipt_code[:64])
    row = (
        await uow.session.execute(
            select(Report.status, Report.received_at, Report.outcome).where(Report.receipt_code_hash == digest)
        )
    ).first()
    if row is None:
        raise ReceiptNotFound(Message("intake.receipt_not_found"))
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
    report.fault_tolerance_exempted = verdict.fault_tolerance_exempted
    await uow.session.flush()


async def stats(
    *, uow: UnitOfWork, principal: Principal, region: str | None, received_from: date | None,
    received_to: date | None, calendar: WorkingCalendar,
) -> ReportStats:
    """The figures of the reports received in the principal's jurisdiction (narrowed to `region`)
    between the two China-local days, inclusive: with their conversations, evidence files and how
    long their acceptance notices took (in `calendar`'s working days)."""
    effective = principal.within(region)
    conditions = [in_region(Report.region_code, effective),
                  *within_days(Report.received_at, received_from, received_to)]

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
    received, anonymous, flagged = (int(n) for n in totals)
    by_author_and_kind = (await uow.session.execute(
        select(ConversationMessage.author, ConversationMessage.kind, func.count()).select_from(ConversationMessage)
        .join(Report, Report.id == ConversationMessage.report_id).where(*conditions)
        .group_by(ConversationMessage.author, ConversationMessage.kind)
    )).all()
    by_kind: dict[str, int] = {}
    for _, kind, n in by_author_and_kind:
        by_kind[kind] = by_kind.get(kind, 0) + int(n)
    attachments = await uow.session.scalar(
        select(func.count()).select_from(Attachment).join(Report, Report.id == Attachment.report_id)
        .where(*conditions))
    notified = (await uow.session.execute(
        select(Report.received_at, Report.acceptance_notice_at).where(*conditions,
                                                                      Report.acceptance_notice_at.is_not(None))
    )).all()
    # Working days as the deadline counts them: after the day received, up to the day posted (China time).
    took = [calendar.working_days_between(china_date(at), china_date(posted)) for at, posted in notified
            if posted is not None]
    return ReportStats(
        region=effective, received_from=received_from, received_to=received_to, received=received,
        by_channel=await grouped(Report.channel), by_status=await grouped(Report.status),
        by_outcome=await grouped(Report.outcome),
        anonymous_share=round(anonymous / received, 4) if received else 0.0,
        repeat_share=round(flagged / received, 4) if received else 0.0,
        messages=MessageStats(
            from_reporters=sum(int(n) for author, _, n in by_author_and_kind if author == "reporter"),
            from_officers=sum(int(n) for author, _, n in by_author_and_kind if author == "officer"),
            by_kind=by_kind),
        attachments=int(attachments or 0),
        acceptance_notices_posted=len(took),
        acceptance_notice_median_working_days=float(statistics.median(took)) if took else None,
    )
