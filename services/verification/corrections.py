"""Correcting a final verdict, four eyes: one officer requests it with a reason, another approves or rejects it.

A request changes nothing on the case and publishes nothing. Only its approval supersedes the
final case (kept as it was) and opens its successor, whose next final verdict publishes an event
naming the verdict it supersedes. The approver is not the requester, took no part in the case or
a case it corrects (recorded on it, concluded it, decided a verdict there), and stands at or above
the level the rule in domain.py sets for the verdict. One request per case is pending at a time.
Every request and decision is audited with the requester, the approver and both reasons. Services
flush; the edge commits.
"""

from __future__ import annotations

import uuid

from sqlalchemy import select

from services.verification import domain
from services.verification.models import Case, CaseAllegation, Correction, VerdictRecord
from services.verification.recording import lineage, recorded_on
from services.verification.service import get, next_status
from shared.auth import Principal
from shared.db import utcnow
from shared.errors import Conflict, Forbidden, NotFound
from shared.messages import Message, Term
from shared.queries import rows_by
from shared.uow import UnitOfWork

PENDING = "pending"
NOT_FINAL = Message("verification.only_final_corrected")


class CorrectionNotFound(NotFound):
    code = "correction_not_found"


class CorrectionPending(Conflict):
    code = "correction_pending"


class CorrectionDecided(Conflict):
    code = "correction_already_decided"


class CorrectionRefused(Forbidden):
    code = "correction_refused"


async def _final_verdict(uow: UnitOfWork, case: Case) -> VerdictRecord:
    """The final verdict of a case a correction could supersede; 409 for any other case."""
    next_status(case, domain.CaseEvent.corrected, refused=NOT_FINAL)
    record = await uow.session.scalar(
        select(VerdictRecord).where(VerdictRecord.case_id == case.id, VerdictRecord.state == "final"))
    assert record is not None, "a final case has its final verdict"
    return record


async def request_correction(*, uow: UnitOfWork, case: Case, principal: Principal, reason: str) -> Correction:
    """File a request to correct the (locked) case's final verdict; another officer decides it."""
    verdict = await _final_verdict(uow, case)
    pending = await uow.session.scalar(
        select(Correction).where(Correction.case_id == case.id, Correction.status == PENDING))
    if pending is not None:
        raise CorrectionPending(Message("verification.correction_pending", requested_by=pending.requested_by,
                                        requested_on=pending.requested_at), pending_correction_id=pending.id)
    correction = Correction(
        id=str(uuid.uuid4()), case_id=case.id, report_id=case.report_id, region_code=case.region_code,
        verdict_id=verdict.id, status=PENDING, reason=reason, requested_by=principal.subject,
        requested_by_level=principal.org_level, requested_at=utcnow(),
        min_approver_level=domain.correction_approver_level(
            verdict=domain.Verdict(verdict.verdict), fault_tolerance_exempted=verdict.fault_tolerance_exempted,
            approver_level=verdict.decided_by_level, concluder_level=verdict.concluded_by_level),
    )
    uow.session.add(correction)
    uow.record_audit(actor=principal.subject, action="correction.requested", object_type="case", object_id=case.id,
                     reason=reason, details={"correction_id": correction.id, "verdict_id": verdict.id,
                                             "min_approver_level": correction.min_approver_level})
    await uow.session.flush()
    return correction


async def get_correction(*, uow: UnitOfWork, correction_id: str, principal: Principal) -> tuple[Correction, Case]:
    """The correction and its case, both locked and read fresh (two approvers decide once)."""
    correction = await uow.session.get(Correction, correction_id, with_for_update=True, populate_existing=True)
    missing = CorrectionNotFound(Message("verification.correction_not_found", correction_id=correction_id))
    if correction is None or not principal.serves(correction.region_code):
        raise missing
    try:
        case = await get(uow=uow, case_id=correction.case_id, principal=principal, for_update=True)
    except NotFound as exc:
        raise missing from exc
    return correction, case


async def decide_correction(
    *, uow: UnitOfWork, correction: Correction, case: Case, principal: Principal, approve: bool, reason: str,
) -> Correction:
    """Approve (the case is superseded and its successor opened) or reject a pending correction."""
    case_ids = await lineage(uow, case)
    deciders = await uow.session.scalars(select(VerdictRecord.decided_by).where(
        VerdictRecord.case_id.in_(case_ids), VerdictRecord.decided_by.is_not(None)))
    refusal = domain.correction_refusal(
        approver=principal.subject, approver_at_least_min_level=principal.at_least(correction.min_approver_level),
        requested_by=correction.requested_by, took_part=await recorded_on(uow, case_ids) | {d for d in deciders if d},
        min_level=correction.min_approver_level)
    if refusal is not None:
        raise CorrectionRefused.because(refusal)
    if correction.status != PENDING:
        raise CorrectionDecided(Message("verification.correction_decided",
                                        status=Term("request_status", correction.status),
                                        decided_on=correction.decided_at),
                                correction_status=correction.status)
    if approve:
        verdict = await _final_verdict(uow, case)
        verdict.correction_reason = correction.reason
        correction.successor_case_id = (await _supersede(uow, case)).id
    correction.status = "approved" if approve else "rejected"
    correction.decided_by, correction.decided_by_level = principal.subject, principal.org_level
    correction.decided_at, correction.decision_reason = utcnow(), reason
    uow.record_audit(actor=principal.subject, action=f"correction.{correction.status}", object_type="case",
                     object_id=case.id, reason=reason,
                     details={"correction_id": correction.id, "requested_by": correction.requested_by,
                              "request_reason": correction.reason, "verdict_id": correction.verdict_id,
                              "org_level": principal.org_level, "successor_case_id": correction.successor_case_id})
    await uow.session.flush()
    return correction


async def _supersede(uow: UnitOfWork, case: Case) -> Case:
    """Mark the final case superseded and open its successor for re-verification.

    The final case and its verdict stay as they were; the successor starts from the same
    allegations, findings and assessments, and its next final verdict supersedes the old one.
    """
    now = utcnow()
    successor = Case(
        id=str(uuid.uuid4()), report_id=case.report_id, status=domain.SUCCESSOR_STATUS.value,
        region_code=case.region_code, channel=case.channel, subject_name=case.subject_name,
        subject_position=case.subject_position, subject_organization=case.subject_organization,
        anonymous=case.anonymous, reporter_blind_index=case.reporter_blind_index,
        report_received_at=case.report_received_at, opened_at=now, linked_report_ids=case.linked_report_ids,
        signals=case.signals, acceptance_notice_due=case.acceptance_notice_due,
        verification_due=case.verification_due, malice_assessment=case.malice_assessment,
        fault_tolerance=case.fault_tolerance, fault_tolerance_exempted=False, supersedes_case_id=case.id,
        updated_at=now,
    )
    successor.allegations = [
        CaseAllegation(
            id=str(uuid.uuid4()), allegation_id=a.allegation_id, position=a.position, category=a.category,
            summary=a.summary, occurred_on=a.occurred_on, place=a.place, finding=a.finding,
            evidence_notes=a.evidence_notes, finding_recorded_by=a.finding_recorded_by,
            finding_recorded_at=a.finding_recorded_at,
        )
        for a in case.allegations
    ]
    case.status = next_status(case, domain.CaseEvent.corrected, refused=NOT_FINAL).value
    case.superseded_by_case_id = successor.id
    case.updated_at = now
    await uow.session.flush()  # the old case leaves the "one current case per report" index first
    uow.session.add(successor)
    await uow.session.flush()
    return successor


async def corrections_of(uow: UnitOfWork, case_ids: list[str]) -> dict[str, list[Correction]]:
    """Each case's correction requests, oldest first."""
    return await rows_by(uow.session, Correction, Correction.case_id, case_ids, Correction.requested_at, Correction.id)
