"""Conclusions and approvals: a case's verdict classified from its findings and assessments, final
(and published) at once, or, when malicious, once a second officer approves it. Services flush; the
edge commits."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from services.verification import domain, filing_links
from services.verification.domain import CaseStatus, Finding
from services.verification.models import Case, VerdictRecord
from services.verification.recording import EDIT_REFUSED, lineage, recorded, recorded_on
from services.verification.service import next_status
from shared.auth import Principal
from shared.db import utcnow
from shared.errors import Conflict, Forbidden
from shared.events import AllegationV1, ExemptedAllegationV1, ExemptionReasonV1, ReportVerifiedV1, SubjectV1
from shared.messages import Message
from shared.queries import rows_by
from shared.uow import UnitOfWork

if TYPE_CHECKING:
    from services.verification.casefile import CaseFile


class FindingsMissing(Conflict):
    code = "findings_missing"


class AssessmentIncomplete(Conflict):
    code = "assessment_incomplete"


class ApprovalRefused(Forbidden):
    code = "approval_refused"


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


async def conclude(*, uow: UnitOfWork, file: CaseFile, principal: Principal, notes: str = "") -> VerdictRecord:
    """Classify the case and keep the officer's `notes` with the verdict. Non-malicious verdicts are
    final (and published) at once; a malicious one waits for a second officer's approval. The
    confirmed prior risk filings weigh in as they stand now; the verdict keeps how many it named."""
    case = file.case
    next_status(case, domain.CaseEvent.concluded, refused=EDIT_REFUSED)
    missing = [a.allegation_id for a in case.allegations if a.finding is None]
    if missing:
        raise FindingsMissing(Message("verification.findings_missing", count=len(missing)),
                              missing_allegation_ids=missing)
    findings = {a.allegation_id: Finding(a.finding) for a in case.allegations if a.finding is not None}
    try:
        result = domain.classify(findings, _malice(case), _fault_tolerance(case),
                                 filing_links.prior_filings_of(file.linked))
    except domain.IncompleteAssessment as exc:
        raise AssessmentIncomplete(Message("verification.malice_incomplete"), missing=["kind", "severity"]) from exc
    status = next_status(case, domain.conclusion(result.verdict), refused=EDIT_REFUSED)
    now = utcnow()
    record = VerdictRecord(
        id=str(uuid.uuid4()), case_id=case.id, report_id=case.report_id,
        version=file.next_version,
        state="final" if status == CaseStatus.final else "pending_approval",
        verdict=result.verdict.value, fault_tolerance_exempted=result.fault_tolerance_exempted,
        malice_kind=result.malice_kind.value if result.malice_kind else None,
        severity=result.severity.value if result.severity else None,
        refuted_allegation_ids=list(result.refuted_allegation_ids),
        rationale=[{"rule": h.rule, "reason": h.reason} for h in result.rationale],
        findings_snapshot={a.allegation_id: {"finding": a.finding, "evidence_notes": a.evidence_notes}
                           for a in case.allegations},
        notes=notes or None,
        prior_filings_cited=result.rule_ids.count("FT-PRIOR-FILING"),
        concluded_by=principal.subject, concluded_by_level=principal.org_level, concluded_at=now,
        supersedes_verdict_id=file.superseded_verdict_id,
    )
    file.add(record)
    file.add(recorded(case, principal, "conclusion"))
    case.status, case.updated_at = status.value, now
    uow.record_audit(actor=principal.subject, action="case.concluded", object_type="case", object_id=case.id,
                     details={"verdict": record.verdict, "verdict_id": record.id, "rules": result.rule_ids})
    if record.state == "final":
        _finalize(uow, case, record)
    await file.save(uow)
    return record


def pending_verdict(file: CaseFile) -> VerdictRecord | None:
    return next((v for v in file.verdicts if v.state == "pending_approval"), None)


async def decide_approval(
    *, uow: UnitOfWork, file: CaseFile, principal: Principal, approve: bool, reason: str
) -> VerdictRecord:
    """A second officer approves (final, published) or rejects (back to investigating) a malicious verdict:
    at municipal level or higher, and none of those who recorded anything on the case or a case it corrects."""
    case = file.case
    status = next_status(case, domain.CaseEvent.approved if approve else domain.CaseEvent.rejected,
                         refused=Message("verification.only_awaiting_approval"))
    record = pending_verdict(file)
    assert record is not None, "a case awaiting approval has its pending verdict"
    refusal = domain.approval_refusal(
        approver=principal.subject, approver_at_least_municipal=principal.at_least(domain.APPROVER_MIN_LEVEL),
        recorded_by=await recorded_on(uow, await lineage(uow, case)))
    if refusal is not None:
        raise ApprovalRefused.because(refusal)
    now = utcnow()
    record.decided_by, record.decided_by_level, record.decided_at = principal.subject, principal.org_level, now
    record.decision_reason = reason
    case.status, case.updated_at = status.value, now
    record.state = "final" if approve else "rejected"
    if approve:
        _finalize(uow, case, record)
    uow.record_audit(actor=principal.subject, action="verdict.approved" if approve else "verdict.rejected",
                     object_type="case", object_id=case.id, reason=reason,
                     details={"verdict_id": record.id, "org_level": principal.org_level})
    await file.save(uow)
    return record


def _finalize(uow: UnitOfWork, case: Case, record: VerdictRecord) -> None:
    """Make the verdict the case's outcome and publish it (through the outbox, in this transaction)."""
    case.verdict = record.verdict
    case.fault_tolerance_exempted = record.fault_tolerance_exempted
    case.finalized_at = record.decided_at or record.concluded_at
    exempted = domain.exempted_allegations({a: s["finding"] for a, s in record.findings_snapshot.items()},
                                           exempted=record.fault_tolerance_exempted)
    assessment = _fault_tolerance(case)
    reasons = [ExemptionReasonV1(condition=k, text=t) for k, t in assessment.holding()] if assessment else []
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
            exempted_allegations=[
                ExemptedAllegationV1(allegation_id=a.allegation_id, category=a.category, summary=a.summary,
                                     occurred_on=a.occurred_on, place=a.place, reasons=reasons)
                for a in case.allegations if a.allegation_id in exempted
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


async def verdicts_of(uow: UnitOfWork, case_ids: list[str]) -> dict[str, list[VerdictRecord]]:
    """Each case's verdicts, by version."""
    return await rows_by(uow.session, VerdictRecord, VerdictRecord.case_id, case_ids, VerdictRecord.version)
