"""Verification use cases around the case itself: opening one for every submitted report, reading
one, and moving it as the domain's table of case moves allows. Findings and assessments are in
recording.py, conclusions and approvals in verdicts.py, corrections in corrections.py, lists and
figures in lookup.py. Services flush; the edge (request or consumed event) commits."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field

from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from services.verification import domain, risk_filing
from services.verification.domain import CaseStatus
from services.verification.models import Case, CaseAllegation
from services.verification.risk_filing_domain import FilingGrading
from shared.auth import Principal
from shared.calendar import WorkingCalendar, china_date
from shared.db import utcnow
from shared.errors import Conflict, NotFound
from shared.events import ReportSubmittedV1
from shared.messages import Message, Term
from shared.queries import served
from shared.uow import UnitOfWork


class CaseNotFound(NotFound):
    code = "case_not_found"


class CaseNotEditable(Conflict):
    code = "case_not_editable"


@dataclass(frozen=True)
class VerificationRules:
    acceptance_notice_working_days: int = 15
    verification_period_working_days: int = 60
    many_subjects_threshold: int = 3
    filing_grading: FilingGrading = field(default_factory=FilingGrading)


def next_status(case: Case, event: domain.CaseEvent, *, refused: Message) -> CaseStatus:
    """The status `event` moves the case to (domain.CASE_MOVES); 409 `case_not_editable` naming the
    case's status and why (`refused`) when it may not happen to the case as it stands."""
    target = domain.after(case.status, event)
    if target is None:
        raise CaseNotEditable(Message("verification.case_not_editable", status=Term("case_status", case.status),
                                      why=refused), case_status=case.status)
    return target


# --- opening ---------------------------------------------------------------------------------------


async def open_case(
    *, uow: UnitOfWork, report: ReportSubmittedV1, calendar: WorkingCalendar, rules: VerificationRules
) -> Case:
    """Open the case for `report`, or return the current one (one current case per report)."""
    (case,) = await open_cases(uow=uow, reports=[report], calendar=calendar, rules=rules)
    return case


async def open_cases(
    *, uow: UnitOfWork, reports: list[ReportSubmittedV1], calendar: WorkingCalendar, rules: VerificationRules
) -> list[Case]:
    """Open the case for each report in order, or return its current one, as if one after the other:
    a report's triage counts the cases of the same reporter opened before it, in this batch too.

    Each new case gets, as candidates, the risk filings of the same official whose matter period
    covers its allegations (risk_filing.link_candidates).

    Four queries for the whole batch (current cases, concluded linked reports, reporter histories,
    the officials' filings), then two flushes: a consumer applying a poll's events together pays for
    them once.
    """
    session = uow.session
    current = {c.report_id: c for c in await session.scalars(
        select(Case).where(Case.report_id.in_({r.report_id for r in reports}),
                           Case.status != CaseStatus.superseded.value))}
    linked = {rid for r in reports for rid in r.linked_report_ids}
    concluded = set(await session.scalars(select(Case.report_id).where(
        Case.report_id.in_(linked), Case.status == CaseStatus.final.value))) if linked else set()
    histories = await _histories(uow, {r.reporter_blind_index for r in reports if r.reporter_blind_index})
    cases, opened = [], []
    for report in reports:
        case = current.get(report.report_id)
        if case is None:
            duplicate_of_concluded = any(rid in concluded for rid in report.linked_report_ids)
            history = None if report.reporter_blind_index is None else histories[report.reporter_blind_index]
            signals = domain.triage(None if history is None else history.seen_with(report),
                                    duplicate_of_concluded=duplicate_of_concluded,
                                    many_subjects_threshold=rules.many_subjects_threshold)
            case = current[report.report_id] = _new_case(report, signals, calendar, rules)
            session.add(case)
            opened.append(case)
            if history is not None:
                history.add(report)
        cases.append(case)
    await session.flush()
    await risk_filing.link_candidates(uow, opened)  # the links name their cases, flushed first
    await session.flush()
    return cases


def _new_case(report: ReportSubmittedV1, signals: domain.TriageSignals, calendar: WorkingCalendar,
              rules: VerificationRules) -> Case:
    received = china_date(report.received_at)
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
        linked_report_ids=list(report.linked_report_ids),
        signals=asdict(signals),
        # Anonymous reporters are owed it too: intake delivers it through the receipt code's channel.
        acceptance_notice_due=calendar.add_working_days(received, rules.acceptance_notice_working_days),
        verification_due=calendar.add_working_days(received, rules.verification_period_working_days),
        fault_tolerance_exempted=False,
        updated_at=utcnow(),
    )
    case.allegations = [
        CaseAllegation(
            id=str(uuid.uuid4()), allegation_id=a.allegation_id, position=i, category=a.category,
            summary=a.summary, occurred_on=a.occurred_on, place=a.place,
        )
        for i, a in enumerate(report.allegations)
    ]
    return case


@dataclass
class _ReporterCases:
    """The current cases of one reporter (by blind index): how many, their verdicts, whom they named."""

    earlier: int = 0
    untrue: int = 0
    malicious: int = 0
    subjects: set[tuple[str, str]] = field(default_factory=set)

    def seen_with(self, report: ReportSubmittedV1) -> domain.ReporterHistory:
        subjects = len(self.subjects | {(report.subject.name, report.region_code)})
        return domain.ReporterHistory(self.earlier, self.untrue, self.malicious, subjects)

    def add(self, report: ReportSubmittedV1) -> None:
        self.earlier += 1  # a new case has no verdict yet
        self.subjects.add((report.subject.name, report.region_code))


async def _histories(uow: UnitOfWork, blind_indexes: set[str]) -> defaultdict[str, _ReporterCases]:
    """The current (not superseded) cases of each reporter, by blind index, in one query."""
    histories: defaultdict[str, _ReporterCases] = defaultdict(_ReporterCases)
    if not blind_indexes:
        return histories
    rows = await uow.session.execute(
        select(
            Case.reporter_blind_index, Case.subject_name, Case.region_code, func.count(),
            func.coalesce(func.sum(sql_case((Case.verdict == "untrue", 1), else_=0)), 0),
            func.coalesce(func.sum(sql_case((Case.verdict == "malicious", 1), else_=0)), 0),
        )
        .where(Case.reporter_blind_index.in_(blind_indexes), Case.status != CaseStatus.superseded.value)
        .group_by(Case.reporter_blind_index, Case.subject_name, Case.region_code)
    )
    for blind_index, subject_name, region_code, count, untrue, malicious in rows:
        history = histories[blind_index]
        history.earlier += int(count)
        history.untrue += int(untrue)
        history.malicious += int(malicious)
        history.subjects.add((subject_name, region_code))
    return histories


# --- reading ---------------------------------------------------------------------------------------


async def get(*, uow: UnitOfWork, case_id: str, principal: Principal, for_update: bool = False) -> Case:
    stmt = select(Case).where(Case.id == case_id).options(selectinload(Case.allegations))
    if for_update:
        stmt = stmt.with_for_update(of=Case)
    return await served(uow.session, stmt, principal,
                        CaseNotFound(Message("verification.case_not_found", case_id=case_id)))
