"""Intake use cases: load, apply rules, save, raise events. The caller commits."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from services.intake.domain import new_receipt_code, normalize_id_number, receipt_code_hash
from services.intake.models import Allegation, Report
from services.intake.schemas import ReportIn
from shared.auth import Principal
from shared.crypto import FieldCipher
from shared.db import utcnow
from shared.errors import NotFound
from shared.events import AllegationV1, ReportSubmittedV1, SubjectV1
from shared.observability import report_id_var
from shared.uow import UnitOfWork


class ReportNotFound(NotFound):
    code = "report_not_found"
    title = "Report not found"


async def submit(*, uow: UnitOfWork, cipher: FieldCipher, report_in: ReportIn) -> tuple[Report, str]:
    """Store a new report with its reporter encrypted, and raise `report.submitted.v1`.

    Returns the report and its receipt code, which exists nowhere else in plain form.
    """
    report_id = str(uuid.uuid4())
    report_id_var.set(report_id)
    receipt_code = new_receipt_code()
    reporter = report_in.reporter

    def enc(value: str | None, column: str) -> str | None:
        return None if value is None else cipher.encrypt(value, column=f"reports.{column}")

    blind_index = (
        cipher.blind_index(normalize_id_number(reporter.id_number)) if reporter.id_number is not None else None
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
        receipt_code_hash=receipt_code_hash(receipt_code),
        external_ref=report_in.external_ref,
        received_at=utcnow(),
    )
    report.allegations = [
        Allegation(
            id=str(uuid.uuid4()), position=i, category=a.category.value, summary=a.summary,
            occurred_on=a.occurred_on, place=a.place,
        )
        for i, a in enumerate(report_in.allegations)
    ]
    uow.session.add(report)
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
            received_at=report.received_at,
        ),
        key=report.id,
    )
    return report, receipt_code


async def get(*, uow: UnitOfWork, report_id: str, principal: Principal) -> Report:
    """The report, if it lies in the principal's region; otherwise it does not exist for them."""
    report = await uow.session.scalar(
        select(Report).where(Report.id == report_id).options(selectinload(Report.allegations))
    )
    if report is None or not principal.serves(report.region_code):
        raise ReportNotFound(f"no report {report_id} in your jurisdiction")
    return report
