"""Findings and assessments: what officers record on a case while it is open or investigating, and
the ledger of who recorded what (findings, assessments, conclusions), which separation of duties
reads. Services flush; the edge commits."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Literal

from sqlalchemy import select

from services.verification import domain
from services.verification.models import Case, CaseRecording
from services.verification.schemas import FaultToleranceIn, FindingsIn, MaliceAssessmentIn
from services.verification.service import next_status
from shared.auth import Principal
from shared.calendar import china_time
from shared.db import utcnow
from shared.errors import InvalidRequest
from shared.messages import Message
from shared.uow import UnitOfWork

if TYPE_CHECKING:
    from services.verification.casefile import CaseFile

EDIT_REFUSED = Message("verification.edit_refused")


def recorded(case: Case, principal: Principal, act: str) -> CaseRecording:
    """Who recorded what on the case, kept even once it is replaced: separation of duties reads it."""
    return CaseRecording(id=str(uuid.uuid4()), case_id=case.id, act=act, recorded_by=principal.subject,
                         recorded_at=utcnow())


def note_recorded_by(uow: UnitOfWork, case: Case, principal: Principal, act: str) -> None:
    """`recorded`, for a case loaded in the unit of work's session."""
    uow.session.add(recorded(case, principal, act))


async def record_findings(*, uow: UnitOfWork, file: CaseFile, principal: Principal, body: FindingsIn) -> Case:
    case = file.case
    status = next_status(case, domain.CaseEvent.recorded, refused=EDIT_REFUSED)
    by_id = {a.allegation_id: a for a in case.allegations}
    unknown = [
        {"field": f"findings[{i}].allegation_id", "message": Message("verification.not_an_allegation"),
         "type": "unknown"}
        for i, f in enumerate(body.findings) if f.allegation_id not in by_id
    ]
    if unknown:
        raise InvalidRequest(Message("verification.unknown_allegations", count=len(unknown)), errors=unknown)
    now = utcnow()
    for f in body.findings:
        allegation = by_id[f.allegation_id]
        allegation.finding = f.finding.value
        allegation.evidence_notes = f.evidence_notes
        allegation.finding_recorded_by = principal.subject
        allegation.finding_recorded_at = now
    case.status, case.updated_at = status.value, now
    file.add(recorded(case, principal, "findings"))
    uow.record_audit(actor=principal.subject, action="findings.recorded", object_type="case", object_id=case.id,
                     details={f.allegation_id: f.finding.value for f in body.findings})
    await file.save(uow)
    return case


async def record_malice(*, uow: UnitOfWork, file: CaseFile, principal: Principal, body: MaliceAssessmentIn) -> Case:
    return await _record_assessment(uow, file, principal, "malice_assessment", body)


async def record_fault_tolerance(
    *, uow: UnitOfWork, file: CaseFile, principal: Principal, body: FaultToleranceIn
) -> Case:
    return await _record_assessment(uow, file, principal, "fault_tolerance", body)


async def _record_assessment(uow: UnitOfWork, file: CaseFile, principal: Principal,
                             act: Literal["malice_assessment", "fault_tolerance"],
                             body: MaliceAssessmentIn | FaultToleranceIn) -> Case:
    """Keep the assessment on the case (the column named `act`) with who recorded it and when; its
    notes stay on the case and out of the audit trail."""
    case = file.case
    status = next_status(case, domain.CaseEvent.recorded, refused=EDIT_REFUSED)
    now = utcnow()
    setattr(case, act, {**body.model_dump(mode="json"), "recorded_by": principal.subject,
                        "recorded_at": china_time(now)})
    case.status, case.updated_at = status.value, now
    file.add(recorded(case, principal, act))
    uow.record_audit(actor=principal.subject, action=f"{act}.recorded", object_type="case", object_id=case.id,
                     details=body.model_dump(mode="json", exclude={"notes"}))
    await file.save(uow)
    return case


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
