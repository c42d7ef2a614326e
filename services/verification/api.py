"""Verification HTTP routes: parse, authorize, call the service, shape the response."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from services.verification import casefile, corrections, filing_links, lookup, recording, service, verdicts
from services.verification.casefile import CaseFile
from services.verification.domain import CaseStatus
from services.verification.models import Case, Correction, VerdictRecord
from services.verification.schemas import (
    ApprovalIn,
    CaseAllegationOut,
    CaseOut,
    CasePage,
    ConclusionIn,
    ConclusionOut,
    CorrectionDecisionIn,
    CorrectionIn,
    CorrectionOut,
    FaultToleranceIn,
    FindingsIn,
    MaliceAssessmentIn,
    VerdictContent,
    VerdictOut,
    VerificationStats,
)
from services.verification.service import CaseNotEditable, CaseNotFound
from shared.auth import Principal, RegionOutsideJurisdiction
from shared.calendar import china_date
from shared.db import utcnow
from shared.errors import InvalidRequest
from shared.pagination import InvalidCursor
from shared.uow import UnitOfWork
from shared.vocabulary import Verdict
from shared.web import RegionPrefix, UoW, authorized, problems

router = APIRouter(prefix="/v1", tags=["cases"])
Reader = Annotated[Principal, authorized("verification:read")]
Writer = Annotated[Principal, authorized("verification:write")]
Approver = Annotated[Principal, authorized("verification:approve")]
CaseId = Annotated[str, Path(max_length=36)]


def case_out(case: Case, concluded: list[VerdictRecord], requested: list[Correction],
             linked: list[filing_links.Linked]) -> CaseOut:
    requests = [CorrectionOut.model_validate(c) for c in requested]
    return CaseOut(
        id=case.id, report_id=case.report_id, status=case.status, region_code=case.region_code,
        channel=case.channel, subject_name=case.subject_name, subject_position=case.subject_position,
        subject_organization=case.subject_organization, anonymous=case.anonymous,
        allegations=[CaseAllegationOut.model_validate(a) for a in case.allegations],
        signals=case.signals, linked_report_ids=case.linked_report_ids,
        acceptance_notice_due=case.acceptance_notice_due, verification_due=case.verification_due,
        overdue=lookup.is_overdue(case, china_date(utcnow())),
        malice_assessment=case.malice_assessment, fault_tolerance=case.fault_tolerance, verdict=case.verdict,
        fault_tolerance_exempted=case.fault_tolerance_exempted,
        verdicts=[VerdictOut.model_validate(v) for v in concluded],
        pending_correction=next((c for c in requests if c.status == corrections.PENDING), None),
        corrections=requests,
        supersedes_case_id=case.supersedes_case_id, superseded_by_case_id=case.superseded_by_case_id,
        report_received_at=case.report_received_at, opened_at=case.opened_at,
        risk_filing_links=[filing_links.link_out(one) for one in linked],
        prior_filings=filing_links.prior_filings_out(linked),
    )


async def respond(uow: UoW, case: Case) -> CaseOut:
    return case_out(case, (await verdicts.verdicts_of(uow, [case.id]))[case.id],
                    (await corrections.corrections_of(uow, [case.id]))[case.id],
                    (await filing_links.links_of(uow, [case.report_id]))[case.report_id])


def answer(file: CaseFile) -> CaseOut:
    return case_out(file.case, file.verdicts, file.corrections, file.linked)


async def record_and_answer(uow: UnitOfWork, case_id: str, principal: Principal,
                            recorder: Callable[..., Awaitable[Case]], body: BaseModel) -> CaseOut:
    """Lock the case, record `body` on it with `recorder`, commit, and answer the case as it now is."""
    file = await casefile.get_file(uow=uow, case_id=case_id, principal=principal, for_writing=True)
    await recorder(uow=uow, file=file, principal=principal, body=body)
    await uow.commit()
    return answer(file)


@router.get("/cases", response_model=CasePage, responses=problems(InvalidCursor), operation_id="list_cases",
            summary="List cases in your jurisdiction",
            description="Oldest first; `overdue=true` lists open cases past their verification due date.")
async def list_cases(
    uow: UoW,
    principal: Reader,
    report_id: Annotated[str | None, Query(max_length=36)] = None,
    status: CaseStatus | None = None,
    verdict: Verdict | None = None,
    overdue: bool | None = None,
    region: RegionPrefix = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CasePage:
    files, next_cursor = await lookup.list_cases(
        uow=uow, principal=principal, report_id=report_id, status=status.value if status else None,
        verdict=verdict.value if verdict else None, overdue=overdue, region=region, cursor=cursor, limit=limit,
    )
    return CasePage(items=[answer(f) for f in files], next_cursor=next_cursor)


@router.get("/cases/{case_id}", response_model=CaseOut, responses=problems(CaseNotFound), operation_id="get_case",
            summary="Read one case")
async def get_case(case_id: CaseId, uow: UoW, principal: Reader) -> CaseOut:
    return answer(await casefile.get_file(uow=uow, case_id=case_id, principal=principal))


@router.put("/cases/{case_id}/findings", response_model=CaseOut, operation_id="record_findings",
            responses=problems(CaseNotFound, CaseNotEditable, InvalidRequest),
            summary="Record findings per allegation",
            description="Each finding given replaces the allegation's earlier one. Only while the case is open "
            "or investigating (409 otherwise).")
async def put_findings(case_id: CaseId, body: FindingsIn, uow: UoW, principal: Writer) -> CaseOut:
    return await record_and_answer(uow, case_id, principal, recording.record_findings, body)


@router.put("/cases/{case_id}/malice-assessment", response_model=CaseOut, operation_id="record_malice_assessment",
            responses=problems(CaseNotFound, CaseNotEditable), summary="Record the malice assessment",
            description="Fabrication (facts invented, material forged), intent (knew it was false, meant the "
            "subject to be punished), aggravating factors, kind and severity.")
async def put_malice(case_id: CaseId, body: MaliceAssessmentIn, uow: UoW, principal: Writer) -> CaseOut:
    return await record_and_answer(uow, case_id, principal, recording.record_malice, body)


@router.put("/cases/{case_id}/fault-tolerance", response_model=CaseOut,
            operation_id="record_fault_tolerance_assessment",
            responses=problems(CaseNotFound, CaseNotEditable), summary="Record the fault-tolerance assessment",
            description="The three distinctions and the five checks; exemption applies when all hold. The case "
            "shows with it the confirmed risk filings reviewed `filed` before the act (`prior_filings`): evidence "
            "for the three distinctions, named in a true verdict's rationale (`FT-PRIOR-FILING`, and "
            "`FT-FILING-DEVIATED` when the matter departed from the filed plan), never an exemption by itself.")
async def put_fault_tolerance(case_id: CaseId, body: FaultToleranceIn, uow: UoW, principal: Writer) -> CaseOut:
    return await record_and_answer(uow, case_id, principal, recording.record_fault_tolerance, body)


@router.post("/cases/{case_id}/conclusion", response_model=ConclusionOut, operation_id="conclude_case",
             responses=problems(CaseNotFound, CaseNotEditable, verdicts.FindingsMissing,
                                verdicts.AssessmentIncomplete), summary="Classify the case",
             description="Returns the verdict with the rule ids that decided it, and keeps the officer's `notes` "
             "with the verdict (shown with it on the case). Non-malicious verdicts are "
             "final and published at once; a malicious verdict waits for approval. 409 lists allegations "
             "still without a finding.")
async def post_conclusion(
    case_id: CaseId, uow: UoW, principal: Writer, body: ConclusionIn | None = None
) -> ConclusionOut:
    file = await casefile.get_file(uow=uow, case_id=case_id, principal=principal, for_writing=True)
    record = await verdicts.conclude(uow=uow, file=file, principal=principal, notes=body.notes if body else "")
    await uow.commit()
    case = file.case
    return ConclusionOut(case_id=case.id, verdict_id=record.id, status=case.status,
                         **VerdictContent.model_validate(record).model_dump())


@router.post("/cases/{case_id}/approval", response_model=CaseOut, operation_id="decide_verdict_approval",
             responses=problems(CaseNotFound, CaseNotEditable, verdicts.ApprovalRefused),
             summary="Approve or reject a malicious verdict (four eyes)",
             description="By an officer at municipal level or higher who recorded nothing on the case nor on any "
             "case it corrects (findings, assessments, conclusions, even those later replaced); refusals are 403 "
             "naming the `rule` (`approver_recorded_on_case`, `approver_level`). Approval makes the verdict "
             "final and publishes it; rejection sends the case back to investigating with the reason.")
async def post_approval(case_id: CaseId, body: ApprovalIn, uow: UoW, principal: Approver) -> CaseOut:
    file = await casefile.get_file(uow=uow, case_id=case_id, principal=principal, for_writing=True)
    await verdicts.decide_approval(uow=uow, file=file, principal=principal, approve=body.decision == "approve",
                                  reason=body.reason)
    await uow.commit()
    return answer(file)


@router.post("/cases/{case_id}/correction", response_model=CorrectionOut, status_code=202,
             operation_id="request_correction", responses=problems(CaseNotFound, CaseNotEditable,
                                                                   corrections.CorrectionPending),
             summary="Request the correction of a final verdict",
             description="Files the request with its reason and answers 202 with it: nothing changes on the case "
             "and nothing is published until a second officer approves it at `POST /v1/corrections/{id}/decision`. "
             "One request per case is pending at a time; 409 while another is, or when the case is not final.")
async def post_correction(case_id: CaseId, body: CorrectionIn, uow: UoW, principal: Writer) -> CorrectionOut:
    case = await service.get(uow=uow, case_id=case_id, principal=principal, for_update=True)
    correction = await corrections.request_correction(uow=uow, case=case, principal=principal, reason=body.reason)
    await uow.commit()
    return CorrectionOut.model_validate(correction)


@router.post("/corrections/{correction_id}/decision", response_model=CorrectionOut, operation_id="decide_correction",
             responses=problems(corrections.CorrectionNotFound, corrections.CorrectionRefused,
                                corrections.CorrectionDecided, CaseNotEditable),
             summary="Approve or reject a correction (four eyes)",
             description="By an officer other than the requester who took no part in the case (recorded on it or "
             "a case it corrects, concluded it, decided its verdict), at or above the request's "
             "`min_approver_level`: the highest of the original approver's and concluding officer's levels, and "
             "municipal or higher for a malicious or exempted verdict. Approval supersedes the final case (kept as "
             "it was) and opens its successor, named in `successor_case_id`; the successor's next final verdict "
             "publishes an event naming the verdict it supersedes. Rejection leaves the case as it is. Refusals "
             "are 403 naming the `rule` (`separation_of_duties`, `approver_level`); 409 once decided.")
async def post_correction_decision(
    correction_id: Annotated[str, Path(max_length=36)], body: CorrectionDecisionIn, uow: UoW, principal: Approver,
) -> CorrectionOut:
    correction, case = await corrections.get_correction(uow=uow, correction_id=correction_id, principal=principal)
    await corrections.decide_correction(uow=uow, correction=correction, case=case, principal=principal,
                                        approve=body.decision == "approve", reason=body.reason)
    await uow.commit()
    return CorrectionOut.model_validate(correction)


@router.get("/stats", response_model=VerificationStats, responses=problems(RegionOutsideJurisdiction),
            tags=["statistics"], operation_id="get_verification_stats",
            summary="Verdict and risk-filing counts by region and period",
            description="Current cases opened in the period by verdict, exempted, awaiting approval and overdue; "
            "the risk filings submitted in the period by status, risk level and acceptance level, and how many "
            "exemptions cited a prior filing.")
async def get_stats(
    uow: UoW, principal: Reader, region: RegionPrefix = None, opened_from: date | None = None,
    opened_to: date | None = None,
) -> VerificationStats:
    return await lookup.stats(uow=uow, principal=principal, region=region, opened_from=opened_from,
                              opened_to=opened_to)
