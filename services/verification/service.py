"""Verification use cases. Services flush; the edge (request or consumed event) commits."""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date

from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from services.verification import domain
from services.verification.domain import CaseStatus, Finding
from services.verification.models import Case, CaseAllegation, CaseRecording, VerdictRecord
from services.verification.schemas import FaultToleranceIn, FindingsIn, MaliceAssessmentIn
from shared.auth import Principal
from shared.calendar import WorkingCalendar, china_date, local_day_bounds
from shared.db import in_region, utcnow
from shared.errors import Conflict, Forbidden, InvalidRequest, NotFound
from shared.events import AllegationV1, ReportSubmittedV1, ReportVerifiedV1, SubjectV1
from shared.pagination import cursor_filter, page_after
from shared.uow import UnitOfWork

OPEN_STATUSES = (CaseStatus.open.value, CaseStatus.investigating.value, CaseStatus.awaiting_approval.value)


class CaseNotFound(NotFound):
    code = "case_not_found"
    title = "Case not found"


class CaseNotEditable(Conflict):
    code = "case_not_editable"
    title = "The case is not open for this change"


class FindingsMissing(Conflict):
    code = "findings_missing"
    title = "Some allegations have no finding yet"


class AssessmentIncomplete(Conflict):
    code = "assessment_incomplete"
    title = "The malice assessment is incomplete"


class ApprovalRefused(Forbidden):
    code = "approval_refused"
    title = "You may not approve this verdict"


@dataclass(frozen=True)
class VerificationRules:
    acceptance_notice_working_days: int = 15
    verification_period_working_days: int = 60
    many_subjects_threshold: int = 3


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

    Three queries for the whole batch (current cases, concluded linked reports, reporter
    histories), then one flush: a consumer applying a poll's events together pays for them once.
    """
    session = uow.session
    current = {c.report_id: c for c in await session.scalars(
        select(Case).where(Case.report_id.in_({r.report_id for r in reports}),
                           Case.status != CaseStatus.superseded.value))}
    linked = {rid for r in reports for rid in r.linked_report_ids}
    concluded = set(await session.scalars(select(Case.report_id).where(
        Case.report_id.in_(linked), Case.status == CaseStatus.final.value))) if linked else set()
    histories = await _histories(uow, {r.reporter_blind_index for r in reports if r.reporter_blind_index})
    cases = []
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
            if history is not None:
                history.add(report)
        cases.append(case)
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
        acceptance_notice_due=None if report.anonymous else calendar.add_working_days(
            received, rules.acceptance_notice_working_days),
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
    case = await uow.session.scalar(stmt)
    if case is None or not principal.serves(case.region_code):
        raise CaseNotFound(f"no case {case_id} in your jurisdiction")
    return case


async def verdicts_of(uow: UnitOfWork, case_ids: list[str]) -> dict[str, list[VerdictRecord]]:
    out: dict[str, list[VerdictRecord]] = {cid: [] for cid in case_ids}
    if case_ids:
        for v in await uow.session.scalars(
            select(VerdictRecord).where(VerdictRecord.case_id.in_(case_ids)).order_by(VerdictRecord.version)
        ):
            out[v.case_id].append(v)
    return out


def is_overdue(case: Case, today: date) -> bool:
    return case.status in OPEN_STATUSES and case.verification_due < today


async def list_cases(
    *, uow: UnitOfWork, principal: Principal, report_id: str | None, status: str | None, verdict: str | None,
    overdue: bool | None, region: str | None, cursor: str | None, limit: int,
) -> tuple[list[Case], str | None]:
    """Cases in the principal's region, oldest first, filtered, one page at a time."""
    effective = principal.narrow(region)
    if effective is None:
        return [], None
    stmt = (
        select(Case)
        .where(in_region(Case.region_code, effective))
        .options(selectinload(Case.allegations))
        .order_by(Case.opened_at, Case.id)
        .limit(limit + 1)
    )
    if report_id is not None:
        stmt = stmt.where(Case.report_id == report_id)
    if status is not None:
        stmt = stmt.where(Case.status == status)
    if verdict is not None:
        stmt = stmt.where(Case.verdict == verdict)
    if overdue is not None:
        today = china_date(utcnow())
        late = Case.status.in_(OPEN_STATUSES) & (Case.verification_due < today)
        stmt = stmt.where(late if overdue else ~late)
    after = cursor_filter(Case.opened_at, Case.id, cursor)
    if after is not None:
        stmt = stmt.where(after)
    rows = list((await uow.session.scalars(stmt)).all())
    return page_after(rows, limit, at="opened_at", ident="id")


# --- recording -------------------------------------------------------------------------------------


def _require_editable(case: Case) -> None:
    if case.status not in domain.EDITABLE:
        raise CaseNotEditable(f"case is {case.status}; findings and assessments can change only while it is "
                              "open or investigating (a final verdict needs a correction first)",
                              case_status=case.status)


def _touch(case: Case) -> None:
    if case.status == CaseStatus.open.value:
        case.status = CaseStatus.investigating.value
    case.updated_at = utcnow()


def _recorded(uow: UnitOfWork, case: Case, principal: Principal, act: str) -> None:
    """Keep who recorded what on the case, even once it is replaced: separation of duties reads it."""
    uow.session.add(CaseRecording(id=str(uuid.uuid4()), case_id=case.id, act=act, recorded_by=principal.subject,
                                  recorded_at=utcnow()))


async def record_findings(*, uow: UnitOfWork, case: Case, principal: Principal, body: FindingsIn) -> Case:
    _require_editable(case)
    by_id = {a.allegation_id: a for a in case.allegations}
    unknown = [
        {"field": f"findings[{i}].allegation_id", "message": "not an allegation of this case", "type": "unknown"}
        for i, f in enumerate(body.findings) if f.allegation_id not in by_id
    ]
    if unknown:
        raise InvalidRequest(f"{len(unknown)} finding(s) name allegations this case does not have", errors=unknown)
    now = utcnow()
    for f in body.findings:
        allegation = by_id[f.allegation_id]
        allegation.finding = f.finding.value
        allegation.evidence_notes = f.evidence_notes
        allegation.finding_recorded_by = principal.subject
        allegation.finding_recorded_at = now
    _touch(case)
    _recorded(uow, case, principal, "findings")
    uow.record_audit(actor=principal.subject, action="findings.recorded", object_type="case", object_id=case.id,
                     details={f.allegation_id: f.finding.value for f in body.findings})
    await uow.session.flush()
    return case


async def record_malice(*, uow: UnitOfWork, case: Case, principal: Principal, body: MaliceAssessmentIn) -> Case:
    _require_editable(case)
    case.malice_assessment = {**body.model_dump(mode="json"), "recorded_by": principal.subject,
                              "recorded_at": utcnow().isoformat()}
    _touch(case)
    _recorded(uow, case, principal, "malice_assessment")
    uow.record_audit(actor=principal.subject, action="malice_assessment.recorded", object_type="case",
                     object_id=case.id, details=body.model_dump(mode="json", exclude={"notes"}))
    await uow.session.flush()
    return case


async def record_fault_tolerance(
    *, uow: UnitOfWork, case: Case, principal: Principal, body: FaultToleranceIn
) -> Case:
    _require_editable(case)
    case.fault_tolerance = {**body.model_dump(mode="json"), "recorded_by": principal.subject,
                            "recorded_at": utcnow().isoformat()}
    _touch(case)
    _recorded(uow, case, principal, "fault_tolerance")
    uow.record_audit(actor=principal.subject, action="fault_tolerance.recorded", object_type="case",
                     object_id=case.id, details=body.model_dump(mode="json", exclude={"notes"}))
    await uow.session.flush()
    return case


# --- concluding and approving -------------------------------------------------------------------


def _malice(case: Case) -> domain.MaliceAssessment | None:
    m = case.malice_assessment
    if m is None:
        return None
    return domain.MaliceAssessment(
        facts_invented=m["facts_invented"], material_forged=m["material_forged"], knew_false=m["knew_false"],
        meant_punishment=m["meant_punishment"], aggravating=frozenset(domain.Aggravating(a) for a in m["aggravating"]),
        kind=domain.MaliceKind(m["kind"]) if m.get("kind") else None,
        severity=domain.Severity(m["severity"]) if m.get("severity") else None,
    )


def _fault_tolerance(case: Case) -> domain.FaultToleranceAssessment | None:
    ft = case.fault_tolerance
    return None if ft is None else domain.FaultToleranceAssessment(ft["distinctions"], ft["checks"])


async def conclude(*, uow: UnitOfWork, case: Case, principal: Principal) -> VerdictRecord:
    """Classify the case. Non-malicious verdicts are final (and published) at once; a malicious
    one waits for a second officer's approval."""
    _require_editable(case)
    missing = [a.allegation_id for a in case.allegations if a.finding is None]
    if missing:
        raise FindingsMissing(f"record a finding for {len(missing)} allegation(s) first",
                              missing_allegation_ids=missing)
    findings = {a.allegation_id: Finding(a.finding) for a in case.allegations if a.finding is not None}
    try:
        result = domain.classify(findings, _malice(case), _fault_tolerance(case))
    except domain.IncompleteAssessment as exc:
        raise AssessmentIncomplete(str(exc), missing=["kind", "severity"]) from exc
    now = utcnow()
    record = VerdictRecord(
        id=str(uuid.uuid4()), case_id=case.id, report_id=case.report_id,
        version=await _next_version(uow, case.report_id),
        state="pending_approval" if result.verdict == domain.Verdict.malicious else "final",
        verdict=result.verdict.value, fault_tolerance_exempted=result.fault_tolerance_exempted,
        malice_kind=result.malice_kind.value if result.malice_kind else None,
        severity=result.severity.value if result.severity else None,
        refuted_allegation_ids=list(result.refuted_allegation_ids),
        rationale=[{"rule": h.rule, "reason": h.reason} for h in result.rationale],
        findings_snapshot={a.allegation_id: {"finding": a.finding, "evidence_notes": a.evidence_notes}
                           for a in case.allegations},
        concluded_by=principal.subject, concluded_by_level=principal.org_level, concluded_at=now,
        supersedes_verdict_id=await _superseded_verdict_id(uow, case),
    )
    uow.session.add(record)
    _recorded(uow, case, principal, "conclusion")
    case.status = domain.status_after_conclusion(result.verdict).value
    case.updated_at = now
    uow.record_audit(actor=principal.subject, action="case.concluded", object_type="case", object_id=case.id,
                     details={"verdict": record.verdict, "verdict_id": record.id, "rules": result.rule_ids})
    if record.state == "final":
        _finalize(uow, case, record)
    await uow.session.flush()
    return record


async def _next_version(uow: UnitOfWork, report_id: str) -> int:
    current = await uow.session.scalar(
        select(func.max(VerdictRecord.version)).where(VerdictRecord.report_id == report_id))
    return int(current or 0) + 1


async def _superseded_verdict_id(uow: UnitOfWork, case: Case) -> str | None:
    if case.supersedes_case_id is None:
        return None
    return await uow.session.scalar(
        select(VerdictRecord.id).where(VerdictRecord.case_id == case.supersedes_case_id,
                                       VerdictRecord.state == "final"))


async def lineage(uow: UnitOfWork, case: Case) -> list[str]:
    """The ids of this case and of every case it corrects, newest first (one query)."""
    supersedes = {cid: earlier for cid, earlier in await uow.session.execute(
        select(Case.id, Case.supersedes_case_id).where(Case.report_id == case.report_id))}
    ids: list[str] = []
    at: str | None = case.id
    while at is not None and at not in ids:
        ids.append(at)
        at = supersedes.get(at)
    return ids


async def recorded_on(uow: UnitOfWork, case_ids: list[str]) -> frozenset[str]:
    """Everyone who recorded findings, an assessment or a conclusion on these cases, ever."""
    return frozenset(await uow.session.scalars(
        select(CaseRecording.recorded_by).where(CaseRecording.case_id.in_(case_ids)).distinct()))


async def pending_verdict(uow: UnitOfWork, case: Case) -> VerdictRecord | None:
    return await uow.session.scalar(
        select(VerdictRecord).where(VerdictRecord.case_id == case.id, VerdictRecord.state == "pending_approval"))


async def decide_approval(
    *, uow: UnitOfWork, case: Case, principal: Principal, approve: bool, reason: str
) -> VerdictRecord:
    """A second officer approves (final, published) or rejects (back to investigating) a malicious verdict:
    at municipal level or higher, and none of those who recorded anything on the case or a case it corrects."""
    record = await pending_verdict(uow, case)
    if case.status != CaseStatus.awaiting_approval.value or record is None:
        raise CaseNotEditable(f"case is {case.status}; only a malicious verdict awaiting approval can be decided",
                              case_status=case.status)
    refusal = domain.approval_refusal(
        approver=principal.subject, approver_at_least_municipal=principal.at_least(domain.APPROVER_MIN_LEVEL),
        recorded_by=await recorded_on(uow, await lineage(uow, case)))
    if refusal is not None:
        raise ApprovalRefused(refusal.detail, rule=refusal.rule)
    now = utcnow()
    record.decided_by, record.decided_by_level, record.decided_at = principal.subject, principal.org_level, now
    record.decision_reason = reason
    case.updated_at = now
    if approve:
        record.state = "final"
        case.status = CaseStatus.final.value
        _finalize(uow, case, record)
    else:
        record.state = "rejected"
        case.status = CaseStatus.investigating.value
    uow.record_audit(actor=principal.subject, action="verdict.approved" if approve else "verdict.rejected",
                     object_type="case", object_id=case.id, reason=reason,
                     details={"verdict_id": record.id, "org_level": principal.org_level})
    await uow.session.flush()
    return record


def _finalize(uow: UnitOfWork, case: Case, record: VerdictRecord) -> None:
    """Make the verdict the case's outcome and publish it (through the outbox, in this transaction)."""
    case.verdict = record.verdict
    case.fault_tolerance_exempted = record.fault_tolerance_exempted
    case.finalized_at = record.decided_at or record.concluded_at
    uow.raise_event(
        ReportVerifiedV1(
            report_id=case.report_id, case_id=case.id, verdict_id=record.id, version=record.version,
            supersedes_verdict_id=record.supersedes_verdict_id, verdict=record.verdict,  # type: ignore[arg-type]
            fault_tolerance_exempted=record.fault_tolerance_exempted,
            malice_kind=record.malice_kind, severity=record.severity,  # type: ignore[arg-type]
            refuted_allegation_ids=record.refuted_allegation_ids,
            rationale=[hit["rule"] for hit in record.rationale],
            approver=record.decided_by, approver_org_level=record.decided_by_level,
            region_code=case.region_code, anonymous=case.anonymous,
            reporter_blind_index=case.reporter_blind_index,
            concluded_at=case.finalized_at,
            clarification_grounds=_clarification_grounds(case),  # type: ignore[arg-type]
            subject=SubjectV1(name=case.subject_name, position=case.subject_position,
                              organization=case.subject_organization, region_code=case.region_code),
            refuted_allegations=[
                AllegationV1(allegation_id=a.allegation_id, category=a.category, summary=a.summary,
                             occurred_on=a.occurred_on, place=a.place)
                for a in case.allegations if a.allegation_id in record.refuted_allegation_ids
            ],
        ),
        key=case.report_id,
    )


def _clarification_grounds(case: Case) -> list[str]:
    """What verification knows that makes clarifying the official mandatory."""
    aggravating = (case.malice_assessment or {}).get("aggravating", [])
    grounds = []
    if "repeated_after_conclusion" in aggravating or case.signals.get("duplicate_of_concluded"):
        grounds.append("repeated_after_conclusion")
    if "disrupting_election_or_selection" in aggravating:
        grounds.append("affected_selection_election_transfer_awards")
    if "serious_consequences" in aggravating:
        grounds.append("harmed_rights_work_life")
    return grounds


# --- statistics --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    region: str
    cases: int
    by_verdict: dict[str, int]
    exempted: int
    awaiting_approval: int
    overdue: int


async def stats(
    *, uow: UnitOfWork, principal: Principal, region: str | None, opened_from: date | None, opened_to: date | None,
) -> Stats:
    effective = principal.within(region)
    conditions = [in_region(Case.region_code, effective), Case.status != CaseStatus.superseded.value]
    start, end = local_day_bounds(opened_from, opened_to)
    if start is not None:
        conditions.append(Case.opened_at >= start)
    if end is not None:
        conditions.append(Case.opened_at < end)
    today = china_date(utcnow())
    total, exempted, waiting, overdue = (await uow.session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(sql_case((Case.fault_tolerance_exempted.is_(True), 1), else_=0)), 0),
            func.coalesce(func.sum(sql_case((Case.status == CaseStatus.awaiting_approval.value, 1), else_=0)), 0),
            func.coalesce(func.sum(sql_case(
                (Case.status.in_(OPEN_STATUSES) & (Case.verification_due < today), 1), else_=0)), 0),
        ).where(*conditions)
    )).one()
    by_verdict = {str(v): int(n) for v, n in await uow.session.execute(
        select(Case.verdict, func.count()).where(*conditions, Case.verdict.is_not(None)).group_by(Case.verdict))}
    return Stats(effective, int(total), by_verdict, int(exempted), int(waiting), int(overdue))
