"""The read side: cases listed by the filters officers use (overdue among them), and the figures by
region and period."""

from __future__ import annotations

from datetime import date

from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from services.verification import domain, risk_filing
from services.verification.domain import CaseStatus
from services.verification.models import Case, VerdictRecord
from services.verification.schemas import VerificationStats
from shared.auth import Principal
from shared.calendar import china_date
from shared.db import in_region, utcnow
from shared.queries import keyset_page, within_days
from shared.uow import UnitOfWork

AWAITING = sorted(status.value for status in domain.AWAITING_VERDICT)  # as the status column holds them


def is_overdue(case: Case, today: date) -> bool:
    """Still waiting for its verdict after its verification due date."""
    return case.status in AWAITING and case.verification_due < today


async def list_cases(
    *, uow: UnitOfWork, principal: Principal, report_id: str | None, status: str | None, verdict: str | None,
    overdue: bool | None, region: str | None, cursor: str | None, limit: int,
) -> tuple[list[Case], str | None]:
    """Cases in the principal's region, oldest first, filtered, one page at a time."""
    effective = principal.narrow(region)
    if effective is None:
        return [], None
    stmt = select(Case).where(in_region(Case.region_code, effective)).options(selectinload(Case.allegations))
    if report_id is not None:
        stmt = stmt.where(Case.report_id == report_id)
    if status is not None:
        stmt = stmt.where(Case.status == status)
    if verdict is not None:
        stmt = stmt.where(Case.verdict == verdict)
    if overdue is not None:
        today = china_date(utcnow())
        late = Case.status.in_(AWAITING) & (Case.verification_due < today)
        stmt = stmt.where(late if overdue else ~late)
    return await keyset_page(uow.session, stmt, at=Case.opened_at, ident=Case.id, cursor=cursor, limit=limit)


async def stats(
    *, uow: UnitOfWork, principal: Principal, region: str | None, opened_from: date | None, opened_to: date | None,
) -> VerificationStats:
    """Current (not superseded) cases opened in the period in `region` (default: the whole jurisdiction):
    how many, by verdict, exempted (and of those, how many cite a prior risk filing), awaiting approval,
    overdue; and the risk filings submitted in the period."""
    effective = principal.within(region)
    conditions = [in_region(Case.region_code, effective), Case.status != CaseStatus.superseded.value,
                  *within_days(Case.opened_at, opened_from, opened_to)]
    today = china_date(utcnow())
    total, exempted, waiting, overdue = (await uow.session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(sql_case((Case.fault_tolerance_exempted.is_(True), 1), else_=0)), 0),
            func.coalesce(func.sum(sql_case((Case.status == CaseStatus.awaiting_approval.value, 1), else_=0)), 0),
            func.coalesce(func.sum(sql_case(
                (Case.status.in_(AWAITING) & (Case.verification_due < today), 1), else_=0)), 0),
        ).where(*conditions)
    )).one()
    by_verdict = {str(v): int(n) for v, n in await uow.session.execute(
        select(Case.verdict, func.count()).where(*conditions, Case.verdict.is_not(None)).group_by(Case.verdict))}
    citing = await uow.session.scalar(
        select(func.count()).select_from(Case).join(VerdictRecord, VerdictRecord.case_id == Case.id)
        .where(*conditions, Case.fault_tolerance_exempted.is_(True), VerdictRecord.state == "final",
               VerdictRecord.fault_tolerance_exempted.is_(True), VerdictRecord.prior_filings_cited > 0))
    filings = await risk_filing.stats(uow=uow, region=effective, submitted_from=opened_from, submitted_to=opened_to,
                                      exemptions_citing_filing=int(citing or 0))
    return VerificationStats(region=effective, opened_from=opened_from, opened_to=opened_to, cases=int(total),
                             by_verdict=by_verdict, fault_tolerance_exempted=int(exempted),
                             awaiting_approval=int(waiting), overdue=int(overdue), risk_filings=filings)
