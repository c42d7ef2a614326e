"""Verification use cases. Services flush; the edge (request or consumed event) commits."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from services.verification.domain import CaseStatus
from services.verification.models import Case, CaseAllegation
from shared.auth import Principal
from shared.db import in_region
from shared.errors import NotFound
from shared.events import ReportSubmittedV1
from shared.pagination import cursor_filter, page_after
from shared.uow import UnitOfWork


class CaseNotFound(NotFound):
    code = "case_not_found"
    title = "Case not found"


async def open_case(*, uow: UnitOfWork, report: ReportSubmittedV1) -> Case:
    """Open the case for `report`, or return the one already open (one case per report)."""
    existing = await uow.session.scalar(select(Case).where(Case.report_id == report.report_id))
    if existing is not None:
        return existing
    case = Case(
        id=str(uuid.uuid4()),
        report_id=report.report_id,
        status=CaseStatus.open.value,
        region_code=report.region_code,
        channel=report.channel,
        subject_name=report.subject.name,
        subject_position=report.subject.position,
        subject_organization=report.subject.organization,
        anonymous=report.anonymous,
        reporter_blind_index=report.reporter_blind_index,
        report_received_at=report.received_at,
    )
    case.allegations = [
        CaseAllegation(
            id=str(uuid.uuid4()), allegation_id=a.allegation_id, position=i, category=a.category,
            summary=a.summary, occurred_on=a.occurred_on, place=a.place,
        )
        for i, a in enumerate(report.allegations)
    ]
    uow.session.add(case)
    await uow.session.flush()
    return case


async def get(*, uow: UnitOfWork, case_id: str, principal: Principal) -> Case:
    case = await uow.session.scalar(
        select(Case).where(Case.id == case_id).options(selectinload(Case.allegations))
    )
    if case is None or not principal.serves(case.region_code):
        raise CaseNotFound(f"no case {case_id} in your jurisdiction")
    return case


async def list_cases(
    *, uow: UnitOfWork, principal: Principal, report_id: str | None, status: str | None,
    cursor: str | None, limit: int,
) -> tuple[list[Case], str | None]:
    """Cases in the principal's region, oldest first, filtered, one page at a time."""
    stmt = (
        select(Case)
        .where(in_region(Case.region_code, principal.region))
        .options(selectinload(Case.allegations))
        .order_by(Case.opened_at, Case.id)
        .limit(limit + 1)
    )
    if report_id is not None:
        stmt = stmt.where(Case.report_id == report_id)
    if status is not None:
        stmt = stmt.where(Case.status == status)
    after = cursor_filter(Case.opened_at, Case.id, cursor)
    if after is not None:
        stmt = stmt.where(after)
    rows = list((await uow.session.scalars(stmt)).all())
    return page_after(rows, limit, at="opened_at", ident="id")
