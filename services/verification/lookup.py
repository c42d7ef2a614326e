"""The read side: cases listed by the filters officers use (overdue among them), and the figures by
region and period."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import func, select

from services.verification import casefile, domain, risk_filing
from services.verification.casefile import CaseFile
from services.verification.domain import CaseStatus
from services.verification.models import Case, VerdictRecord
from services.verification.schemas import VerificationStats
from shared.auth import Principal
from shared.calendar import china_date
from shared.db import in_region, utcnow
from shared.pagination import decode_cursor, page_after
from shared.queries import within_days
from shared.uow import UnitOfWork

AWAITING = sorted(status.value for status in domain.AWAITING_VERDICT)  # as the status column holds them


def is_overdue(case: Case, today: date) -> bool:
    """Still waiting for its verdict after its verification due date."""
    return case.status in AWAITING and case.verification_due < today


async def list_cases(
    *, uow: UnitOfWork, principal: Principal, report_id: str | None, status: str | None, verdict: str | None,
    overdue: bool | None, region: str | None, cursor: str | None, limit: int,
) -> tuple[list[CaseFile], str | None]:
    """Cases in the principal's region, oldest first, filtered, one page at a time (one statement on
    PostgreSQL, each case with what its answer shows)."""
    effective = principal.narrow(region)
    if effective is None:
        return [], None
    low, high = effective.ljust(6, "0"), effective.ljust(6, "9")  # shared.db.in_region, as text
    where = ["c.region_code BETWEEN :region_low AND :region_high"]
    params: dict[str, Any] = {"region_low": low, "region_high": high}
    for name, value in (("report_id", report_id), ("status", status), ("verdict", verdict)):
        if value is not None:
            where.append(f"c.{name} = :{name}")
            params[name] = value
    if overdue is not None:
        late = f"(c.status IN ({', '.join(repr(s) for s in AWAITING)}) AND c.verification_due < :today)"
        where.append(late if overdue else f"NOT {late}")
        params["today"] = china_date(utcnow())
    if cursor is not None:
        params["cursor_at"], params["cursor_id"] = decode_cursor(cursor)
        where.append("(c.opened_at > :cursor_at OR (c.opened_at = :cursor_at AND c.id > :cursor_id))")
    files = await casefile.read_files(uow, " AND ".join(where), {**params, "limit": limit + 1}, paged=True)
    page, next_cursor = page_after([f.case for f in files], limit, at="opened_at", ident="id")
    return files[:len(page)], next_cursor


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
