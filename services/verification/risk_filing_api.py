"""Risk filing HTTP routes (风险报备): parse, authorize, call the use case, shape the response. The chain
on /v1/risk-filings, and the investigator's decision on a filing linked to a case."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel

from services.verification import filing_links, risk_filing, service
from services.verification.api import CaseId, Writer, respond
from services.verification.models import RiskFiling
from services.verification.risk_filing import RiskFilingNotEditable, RiskFilingNotFound, RiskFilingRefused
from services.verification.risk_filing_domain import FilingStatus
from services.verification.schemas import (
    CaseOut,
    FilingAcceptanceIn,
    FilingAcceptanceOut,
    FilingAssessmentIn,
    FilingAssessmentOut,
    FilingFeedbackIn,
    FilingFeedbackOut,
    FilingOutcomeOut,
    FilingReviewIn,
    FilingReviewOut,
    LinkDecisionIn,
    RiskFilingIn,
    RiskFilingOut,
    RiskFilingPage,
    RiskMatterOut,
    RiskOfficialOut,
)
from services.verification.service import CaseNotEditable, CaseNotFound, VerificationRules
from shared.auth import Principal, RegionOutsideJurisdiction
from shared.errors import InvalidRequest
from shared.pagination import InvalidCursor
from shared.web import RegionPrefix, UoW, authorized, problems, resources

router = APIRouter(prefix="/v1", tags=["risk filing"])
Filer = Annotated[Principal, authorized("risk:file")]
Reviewer = Annotated[Principal, authorized("risk:review")]
Reader = Annotated[Principal, authorized("risk:read")]
Rules = Annotated[VerificationRules, Depends(resources(VerificationRules))]
FilingId = Annotated[str, Path(max_length=36)]
STEP_PROBLEMS = (RiskFilingNotFound, RiskFilingNotEditable, RiskFilingRefused)


def filing_out(f: RiskFiling) -> RiskFilingOut:
    """The filing with each step of its chain taken so far."""
    return RiskFilingOut(
        id=f.id, status=FilingStatus(f.status), region_code=f.region_code,
        official=RiskOfficialOut(name=f.official_name, position=f.official_position,
                                 organization=f.official_organization, region_code=f.region_code,
                                 org_level=f.official_level),
        filed_for=f.filed_for,
        matter=RiskMatterOut(title=f.matter_title, description=f.matter_description, starts_on=f.matter_starts_on,
                             ends_on=f.matter_ends_on, reach=f.matter_reach, amount_yuan=f.amount_yuan),
        policy_basis=f.policy_basis, foreseeable_risks=f.foreseeable_risks, safeguards=f.safeguards,
        public_benefit=f.public_benefit, acceptance_level=f.acceptance_level, filed_by=f.filed_by,
        filed_by_level=f.filed_by_level, submitted_at=f.submitted_at,
        acceptance=None if f.accepted_at is None else FilingAcceptanceOut(
            by=f.accepted_by or "", level=f.accepted_by_level, at=f.accepted_at, decision=f.acceptance_decision or "",
            reason=f.acceptance_reason or ""),
        assessment=None if f.assessed_at is None else FilingAssessmentOut(
            by=f.assessed_by or "", level=f.assessed_by_level, at=f.assessed_at, risk_level=f.risk_level or "",
            conditions=list(f.conditions or []), notes=f.assessment_notes or ""),
        review=None if f.reviewed_at is None else FilingReviewOut(
            by=f.reviewed_by or "", level=f.reviewed_by_level, at=f.reviewed_at, decision=f.review_decision or "",
            opinions=f.review_opinions or ""),
        feedback=None if f.feedback_at is None else FilingFeedbackOut(
            by=f.feedback_by or "", level=None, at=f.feedback_at, feedback=f.feedback or ""),
        outcome=None if f.closed_at is None or f.completed_on is None else FilingOutcomeOut(
            by=f.outcome_by or "", level=None, at=f.closed_at, outcome=f.outcome or "", deviation=f.deviation,
            notes=f.outcome_notes, completed_on=f.completed_on),
        updated_at=f.updated_at,
    )


async def step(uow: UoW, filing_id: str, principal: Principal, take: Callable[..., Awaitable[RiskFiling]],
               body: BaseModel, **more: Any) -> RiskFilingOut:
    """Lock the filing, take one step of its chain with `take`, commit, and answer the filing as it now is."""
    filing = await risk_filing.get(uow=uow, filing_id=filing_id, principal=principal, for_update=True)
    await take(uow=uow, filing=filing, principal=principal, body=body, **more)
    await uow.commit()
    return filing_out(filing)


@router.post("/risk-filings", response_model=RiskFilingOut, status_code=201, operation_id="file_risk_filing",
             responses=problems(RegionOutsideJurisdiction, InvalidRequest),
             summary="File a risky decision before acting (备案申请)",
             description="An officer files on behalf of the official or their unit (the official is no user of "
             "this system), in their jurisdiction: the official, the matter (what will be done, from when, by when, "
             "how far it reaches, the money it involves), the policy basis, the foreseeable risks and the "
             "safeguards, the expected public benefit. The matter starts no earlier than today (a filing comes "
             "before the act) and runs at most five years. The answer says at which org level it is accepted, "
             "assessed and reviewed (`acceptance_level`): township and county matters at county level, a matter of "
             "a higher official or reaching further at that level, a large one (by amount, configurable) at "
             "municipal level or higher. Status `submitted`.")
async def post_risk_filing(body: RiskFilingIn, uow: UoW, principal: Filer, rules: Rules) -> RiskFilingOut:
    filing = await risk_filing.submit(uow=uow, principal=principal, body=body, grading=rules.filing_grading)
    await uow.commit()
    return filing_out(filing)


@router.get("/risk-filings", response_model=RiskFilingPage, responses=problems(InvalidCursor),
            operation_id="list_risk_filings", summary="List risk filings in your jurisdiction",
            description="Oldest first. `official` and `organization` match exactly; `period_from`/`period_to` "
            "keep the filings whose matter period overlaps those days.")
async def list_risk_filings(
    uow: UoW,
    principal: Reader,
    official: Annotated[str | None, Query(min_length=1, max_length=100, description="the official's name")] = None,
    organization: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    region: RegionPrefix = None,
    status: FilingStatus | None = None,
    period_from: date | None = None,
    period_to: date | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> RiskFilingPage:
    filings, next_cursor = await risk_filing.list_filings(
        uow=uow, principal=principal, official=official, organization=organization, region=region,
        status=status.value if status else None, period_from=period_from, period_to=period_to, cursor=cursor,
        limit=limit)
    return RiskFilingPage(items=[filing_out(f) for f in filings], next_cursor=next_cursor)


@router.get("/risk-filings/{filing_id}", response_model=RiskFilingOut, responses=problems(RiskFilingNotFound),
            operation_id="get_risk_filing", summary="Read one risk filing")
async def get_risk_filing(filing_id: FilingId, uow: UoW, principal: Reader) -> RiskFilingOut:
    return filing_out(await risk_filing.get(uow=uow, filing_id=filing_id, principal=principal))


@router.post("/risk-filings/{filing_id}/acceptance", response_model=RiskFilingOut,
             operation_id="decide_risk_filing_acceptance", responses=problems(*STEP_PROBLEMS),
             summary="Accept or return a submitted filing (分级受理)",
             description="By an officer at the filing's `acceptance_level` or higher who did not file it, with the "
             "reason: `accepted` goes on to the risk assessment, `returned` sends it back for completion (it is "
             "filed again). Refusals are 403 naming the `rule` (`separation_of_duties`, `acceptance_level`); 409 "
             "once decided.")
async def post_acceptance(filing_id: FilingId, body: FilingAcceptanceIn, uow: UoW, principal: Reviewer
                          ) -> RiskFilingOut:
    return await step(uow, filing_id, principal, risk_filing.accept, body)


@router.put("/risk-filings/{filing_id}/assessment", response_model=RiskFilingOut,
            operation_id="record_risk_assessment", responses=problems(*STEP_PROBLEMS),
            summary="Record the risk assessment (风险评估)",
            description="The risk level and the conditions attached, for an accepted filing; recorded again, it "
            "replaces the assessment, until the review. At the filing's level, not by its filer (403 naming the "
            "`rule`).")
async def put_assessment(filing_id: FilingId, body: FilingAssessmentIn, uow: UoW, principal: Reviewer
                         ) -> RiskFilingOut:
    return await step(uow, filing_id, principal, risk_filing.assess, body)


@router.post("/risk-filings/{filing_id}/review", response_model=RiskFilingOut,
             operation_id="decide_risk_filing_review", responses=problems(*STEP_PROBLEMS),
             summary="Decide the review of an assessed filing (研究审核, four eyes)",
             description="By an officer at the filing's level other than its filer and everyone who accepted or "
             "assessed it (403, `rule` `separation_of_duties`; below the level, `acceptance_level`): `filed` with "
             "the opinions, published as `risk_filing.filed.v1`, or `not_filed` with the reasons. 409 unless the "
             "filing is assessed.")
async def post_review(filing_id: FilingId, body: FilingReviewIn, uow: UoW, principal: Reviewer) -> RiskFilingOut:
    return await step(uow, filing_id, principal, risk_filing.review, body)


@router.post("/risk-filings/{filing_id}/feedback", response_model=RiskFilingOut,
             operation_id="record_risk_filing_feedback", responses=problems(*STEP_PROBLEMS, InvalidRequest),
             summary="Give feedback to the filer, and later the matter's outcome (情况反馈)",
             description="`kind: feedback` tells the filer the review's decision, once. `kind: outcome`, after the "
             "feedback and only for a filed matter, records how it turned out (`as_planned`, or `deviated` with how) "
             "and when it was completed; it closes the filing and is published as `risk_filing.closed.v1`. A case "
             "about the matter shows the departure, and a true verdict's rationale names it (`FT-FILING-DEVIATED`). "
             "At the filing's level, not by its filer (403 naming the `rule`).")
async def post_feedback(filing_id: FilingId, body: FilingFeedbackIn, uow: UoW, principal: Reviewer
                        ) -> RiskFilingOut:
    return await step(uow, filing_id, principal, risk_filing.give_feedback, body)


@router.post("/cases/{case_id}/risk-filing-links/{filing_id}", response_model=CaseOut, tags=["cases"],
             operation_id="decide_risk_filing_link",
             responses=problems(CaseNotFound, CaseNotEditable, filing_links.RiskFilingLinkNotFound),
             summary="Confirm or dismiss a risk filing linked to the case",
             description="The case's `risk_filing_links` are the filings of the same official (name, organization "
             "and region) whose matter period covers the allegations' dates, found when the case opened. The "
             "investigator confirms (the report is about the filed matter) or dismisses each, with the reason; "
             "again, changing it, while the case is open or investigating (409 otherwise). A confirmed filing "
             "reviewed `filed` appears in `prior_filings`: a factor in the fault-tolerance assessment, named in a "
             "true verdict's rationale, never an exemption by itself. 404 for a filing not linked to the case.")
async def post_link_decision(case_id: CaseId, filing_id: FilingId, body: LinkDecisionIn, uow: UoW,
                             principal: Writer) -> CaseOut:
    case = await service.get(uow=uow, case_id=case_id, principal=principal, for_update=True)
    await filing_links.decide(uow=uow, case=case, principal=principal, filing_id=filing_id, body=body)
    await uow.commit()
    return await respond(uow, case)
