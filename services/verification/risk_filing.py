"""Risk filing use cases (风险报备, DESIGN.md §4.5): a risky decision filed before acting by an officer
on behalf of the official or their unit, then accepted at the level the matter requires, assessed,
reviewed by a different officer (`filed` or `not_filed`, published when filed), answered with
feedback and, for a filed matter, closed with its outcome (published). Each step is audited. Also
the candidate links a case opening makes to the filings its report may be about (filing_links.py
has the case's side). Services flush; the edge commits."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import func, select

from services.verification import risk_filing_domain as rules
from services.verification.models import Case, RiskFiling, RiskFilingLink
from services.verification.risk_filing_domain import FilingEvent, FilingStatus
from services.verification.schemas import (
    FilingAcceptanceIn,
    FilingAssessmentIn,
    FilingFeedbackIn,
    FilingReviewIn,
    RiskFilingIn,
    RiskFilingStats,
)
from shared.auth import Principal, RegionOutsideJurisdiction
from shared.calendar import china_date
from shared.db import in_region, utcnow
from shared.errors import Conflict, Forbidden, InvalidRequest, NotFound
from shared.events import RiskFilingClosedV1, RiskFilingFiledV1, RiskOfficialV1
from shared.messages import Message, Term
from shared.queries import keyset_page, served, within_days
from shared.uow import UnitOfWork


class RiskFilingNotFound(NotFound):
    code = "risk_filing_not_found"


class RiskFilingNotEditable(Conflict):
    code = "risk_filing_not_editable"


class RiskFilingRefused(Forbidden):
    code = "risk_filing_refused"


# Why a step may not be taken on a filing as it stands, by the step.
WHY: dict[FilingEvent, str] = {
    FilingEvent.accepted: "risk_filing.why_accept", FilingEvent.returned: "risk_filing.why_accept",
    FilingEvent.assessed: "risk_filing.why_assess",
    FilingEvent.filed: "risk_filing.why_review", FilingEvent.not_filed: "risk_filing.why_review",
    FilingEvent.fed_back: "risk_filing.why_feedback", FilingEvent.outcome_recorded: "risk_filing.why_outcome",
}


def _next(filing: RiskFiling, event: FilingEvent) -> FilingStatus:
    """The status `event` moves the filing to; 409 naming its status and why when it may not."""
    target = rules.filing_after(filing.status, event)
    if target is None:
        raise RiskFilingNotEditable(Message("risk_filing.not_editable", status=Term("filing_status", filing.status),
                                            why=Message(WHY[event])), filing_status=filing.status)
    return target


def _may(filing: RiskFiling, principal: Principal, *, reviewing: bool = False) -> None:
    """403 `risk_filing_refused` naming the rule when this officer may not take a step on the filing."""
    refusal = rules.filing_refusal(officer=principal.subject, at_level=principal.at_least(filing.acceptance_level),
                                   level=filing.acceptance_level, filed_by=filing.filed_by, reviewing=reviewing,
                                   handled_by=frozenset(filing.handled_by))
    if refusal is not None:
        raise RiskFilingRefused.because(refusal)


def _invalid(summary: str, errors: list[dict[str, Any]]) -> None:
    if errors:
        raise InvalidRequest(Message(summary, count=len(errors)), errors=errors)


def _problem(field: str, message: Message, kind: str = "value_error") -> dict[str, Any]:
    return {"field": field, "message": message, "type": kind}


# --- the chain ----------------------------------------------------------------------------------------


async def submit(*, uow: UnitOfWork, principal: Principal, body: RiskFilingIn,
                 grading: rules.FilingGrading) -> RiskFiling:
    """File a risky decision before acting (status `submitted`), graded to the level that accepts it.

    Only in the officer's jurisdiction (403 otherwise); the matter starts no earlier than the day it
    is filed (a filing made after the act would cover what was already done) and runs at most
    MAX_MATTER_YEARS; 422 naming the field otherwise."""
    official, matter = body.official, body.matter
    if not principal.serves(official.region_code):
        raise RegionOutsideJurisdiction(Message("auth.region_outside", region=official.region_code,
                                                jurisdiction=principal.region or "-"))
    today = china_date(utcnow())
    errors = []
    if matter.starts_on < today:
        errors.append(_problem("matter.starts_on", Message("risk_filing.starts_before_filing", today=today)))
    if matter.ends_on < matter.starts_on:
        errors.append(_problem("matter.ends_on", Message("risk_filing.ends_before_start")))
    elif matter.ends_on > rules.latest_end(matter.starts_on):
        errors.append(_problem("matter.ends_on", Message("risk_filing.too_long", years=rules.MAX_MATTER_YEARS)))
    _invalid("risk_filing.matter_invalid", errors)
    now = utcnow()
    filing = RiskFiling(
        id=str(uuid.uuid4()), status=FilingStatus.submitted.value, region_code=official.region_code,
        official_name=official.name, official_position=official.position,
        official_organization=official.organization, official_level=official.org_level,
        official_key=rules.official_key(official.name, official.organization, official.region_code),
        filed_for=body.filed_for, matter_title=matter.title, matter_description=matter.description,
        matter_starts_on=matter.starts_on, matter_ends_on=matter.ends_on, matter_reach=matter.reach,
        amount_yuan=matter.amount_yuan, policy_basis=body.policy_basis, foreseeable_risks=body.foreseeable_risks,
        safeguards=body.safeguards, public_benefit=body.public_benefit,
        acceptance_level=rules.acceptance_level(official_level=official.org_level, reach=matter.reach,
                                                amount_yuan=matter.amount_yuan, grading=grading),
        filed_by=principal.subject, filed_by_level=principal.org_level, submitted_at=now, handled_by=[],
        updated_at=now,
    )
    uow.session.add(filing)
    uow.record_audit(actor=principal.subject, action="risk_filing.submitted", object_type="risk_filing",
                     object_id=filing.id, details={
                         "official": official.name, "organization": official.organization,
                         "region_code": official.region_code, "filed_for": body.filed_for, "matter": matter.title,
                         "starts_on": matter.starts_on.isoformat(), "ends_on": matter.ends_on.isoformat(),
                         "acceptance_level": filing.acceptance_level})
    await uow.session.flush()
    return filing


async def accept(*, uow: UnitOfWork, filing: RiskFiling, principal: Principal, body: FilingAcceptanceIn
                 ) -> RiskFiling:
    """Accept (on to the assessment) or return for completion a submitted filing, by an officer at
    the level it requires, with the reason."""
    _may(filing, principal)
    accepted = body.decision == "accepted"
    status = _next(filing, FilingEvent.accepted if accepted else FilingEvent.returned)
    now = utcnow()
    filing.acceptance_decision, filing.acceptance_reason = body.decision, body.reason
    filing.accepted_by, filing.accepted_by_level, filing.accepted_at = principal.subject, principal.org_level, now
    filing.handled_by = [*filing.handled_by, principal.subject]
    filing.status, filing.updated_at = status.value, now
    uow.record_audit(actor=principal.subject, action=f"risk_filing.{body.decision}", object_type="risk_filing",
                     object_id=filing.id, reason=body.reason, details={"org_level": principal.org_level})
    await uow.session.flush()
    return filing


async def assess(*, uow: UnitOfWork, filing: RiskFiling, principal: Principal, body: FilingAssessmentIn
                 ) -> RiskFiling:
    """Record the risk assessment of an accepted filing (again, replacing it, until the review)."""
    _may(filing, principal)
    status = _next(filing, FilingEvent.assessed)
    now = utcnow()
    filing.risk_level, filing.conditions, filing.assessment_notes = body.risk_level.value, body.conditions, body.notes
    filing.assessed_by, filing.assessed_by_level, filing.assessed_at = principal.subject, principal.org_level, now
    if principal.subject not in filing.handled_by:
        filing.handled_by = [*filing.handled_by, principal.subject]
    filing.status, filing.updated_at = status.value, now
    uow.record_audit(actor=principal.subject, action="risk_filing.assessed", object_type="risk_filing",
                     object_id=filing.id, details={"risk_level": body.risk_level.value, "conditions": body.conditions,
                                                   "org_level": principal.org_level})
    await uow.session.flush()
    return filing


async def review(*, uow: UnitOfWork, filing: RiskFiling, principal: Principal, body: FilingReviewIn) -> RiskFiling:
    """The review decision on an assessed filing, by an officer at its level other than the filer
    and everyone who accepted or assessed it: `filed` (published) or `not_filed`."""
    _may(filing, principal, reviewing=True)
    filed = body.decision == "filed"
    status = _next(filing, FilingEvent.filed if filed else FilingEvent.not_filed)
    now = utcnow()
    filing.review_decision, filing.review_opinions = body.decision, body.opinions
    filing.reviewed_by, filing.reviewed_by_level, filing.reviewed_at = principal.subject, principal.org_level, now
    filing.status, filing.updated_at = status.value, now
    uow.record_audit(actor=principal.subject, action=f"risk_filing.{body.decision}", object_type="risk_filing",
                     object_id=filing.id, reason=body.opinions, details={"org_level": principal.org_level})
    if filed:
        uow.raise_event(RiskFilingFiledV1(
            filing_id=filing.id, region_code=filing.region_code, official=_official(filing),
            filed_for=filing.filed_for,  # type: ignore[arg-type]
            matter=filing.matter_title, starts_on=filing.matter_starts_on, ends_on=filing.matter_ends_on,
            acceptance_level=filing.acceptance_level, risk_level=filing.risk_level,  # type: ignore[arg-type]
            conditions=list(filing.conditions or []), filed_at=now), key=filing.id)
    await uow.session.flush()
    return filing


async def give_feedback(*, uow: UnitOfWork, filing: RiskFiling, principal: Principal, body: FilingFeedbackIn
                        ) -> RiskFiling:
    """Feedback to the filer on the review's decision, once; or, after it, a filed matter's outcome,
    which closes the filing (published). By an officer at the filing's level, not its filer: the
    outcome decides whether a later verdict shows a departure from the plan."""
    _may(filing, principal)
    if body.kind == "feedback":
        return await _feedback(uow, filing, principal, body)
    return await _outcome(uow, filing, principal, body)


async def _feedback(uow: UnitOfWork, filing: RiskFiling, principal: Principal, body: FilingFeedbackIn) -> RiskFiling:
    status = _next(filing, FilingEvent.fed_back)
    _invalid("risk_filing.feedback_invalid", [
        *([_problem("feedback", Message("risk_filing.required_for", kind="feedback"), "missing")]
          if body.feedback is None else []),
        *(_problem(name, Message("risk_filing.not_for_kind", kind="feedback"), "extra_forbidden")
          for name in ("outcome", "deviation", "completed_on") if getattr(body, name) is not None)])
    if filing.feedback_at is not None:
        raise RiskFilingNotEditable(Message("risk_filing.feedback_given", given_on=china_date(filing.feedback_at)),
                                    filing_status=filing.status)
    now = utcnow()
    filing.feedback, filing.feedback_by, filing.feedback_at = body.feedback, principal.subject, now
    filing.status, filing.updated_at = status.value, now
    uow.record_audit(actor=principal.subject, action="risk_filing.feedback_given", object_type="risk_filing",
                     object_id=filing.id, details={"decision": filing.review_decision})
    await uow.session.flush()
    return filing


async def _outcome(uow: UnitOfWork, filing: RiskFiling, principal: Principal, body: FilingFeedbackIn) -> RiskFiling:
    status = _next(filing, FilingEvent.outcome_recorded)
    today = china_date(utcnow())
    errors = [_problem(name, Message("risk_filing.required_for", kind="outcome"), "missing")
              for name in ("outcome", "completed_on") if getattr(body, name) is None]
    if body.feedback is not None:
        errors.append(_problem("feedback", Message("risk_filing.not_for_kind", kind="outcome"), "extra_forbidden"))
    deviated = body.outcome == rules.MatterOutcome.deviated
    if deviated and body.deviation is None:
        errors.append(_problem("deviation", Message("risk_filing.deviation_required"), "missing"))
    if not deviated and body.deviation is not None:
        errors.append(_problem("deviation", Message("risk_filing.deviation_only_when_deviated")))
    if body.completed_on is not None and not filing.matter_starts_on <= body.completed_on <= today:
        errors.append(_problem("completed_on", Message("risk_filing.completed_on_range",
                                                       starts_on=filing.matter_starts_on, today=today)))
    _invalid("risk_filing.feedback_invalid", errors)
    if filing.feedback_at is None:
        raise RiskFilingNotEditable(Message("risk_filing.feedback_first"), filing_status=filing.status)
    assert body.outcome is not None and body.completed_on is not None  # checked above
    now = utcnow()
    filing.outcome, filing.deviation, filing.outcome_notes = body.outcome.value, body.deviation, body.notes or None
    filing.completed_on, filing.outcome_by, filing.closed_at = body.completed_on, principal.subject, now
    filing.status, filing.updated_at = status.value, now
    uow.record_audit(actor=principal.subject, action="risk_filing.closed", object_type="risk_filing",
                     object_id=filing.id, details={"outcome": filing.outcome,
                                                   "completed_on": body.completed_on.isoformat()})
    uow.raise_event(RiskFilingClosedV1(
        filing_id=filing.id, region_code=filing.region_code, official=_official(filing), matter=filing.matter_title,
        starts_on=filing.matter_starts_on, ends_on=filing.matter_ends_on,
        risk_level=filing.risk_level,  # type: ignore[arg-type]
        outcome=filing.outcome,  # type: ignore[arg-type]
        deviation=filing.deviation, completed_on=body.completed_on, closed_at=now), key=filing.id)
    await uow.session.flush()
    return filing


def _official(filing: RiskFiling) -> RiskOfficialV1:
    return RiskOfficialV1(name=filing.official_name, position=filing.official_position,
                          organization=filing.official_organization, region_code=filing.region_code,
                          org_level=filing.official_level)


# --- reading ------------------------------------------------------------------------------------------


async def get(*, uow: UnitOfWork, filing_id: str, principal: Principal, for_update: bool = False) -> RiskFiling:
    """The filing, or 404 when there is none in the principal's jurisdiction."""
    stmt = select(RiskFiling).where(RiskFiling.id == filing_id)
    if for_update:
        stmt = stmt.with_for_update()
    return await served(uow.session, stmt, principal,
                        RiskFilingNotFound(Message("risk_filing.not_found", filing_id=filing_id)))


async def list_filings(
    *, uow: UnitOfWork, principal: Principal, official: str | None, organization: str | None, region: str | None,
    status: str | None, period_from: date | None, period_to: date | None, cursor: str | None, limit: int,
) -> tuple[list[RiskFiling], str | None]:
    """Filings in the principal's region, oldest first: of an official (by name) and organization,
    in a status, whose matter period overlaps the days from `period_from` to `period_to`."""
    effective = principal.narrow(region)
    if effective is None:
        return [], None
    stmt = select(RiskFiling).where(in_region(RiskFiling.region_code, effective))
    if official is not None:
        stmt = stmt.where(RiskFiling.official_name == official)
    if organization is not None:
        stmt = stmt.where(RiskFiling.official_organization == organization)
    if status is not None:
        stmt = stmt.where(RiskFiling.status == status)
    if period_from is not None:
        stmt = stmt.where(RiskFiling.matter_ends_on >= period_from)
    if period_to is not None:
        stmt = stmt.where(RiskFiling.matter_starts_on <= period_to)
    return await keyset_page(uow.session, stmt, at=RiskFiling.submitted_at, ident=RiskFiling.id, cursor=cursor,
                             limit=limit)


async def stats(*, uow: UnitOfWork, region: str, submitted_from: date | None, submitted_to: date | None,
                exemptions_citing_filing: int) -> RiskFilingStats:
    """Filings of officials in `region` submitted in the period: how many, by status, by assessed
    risk level and by the level that accepts them."""
    conditions = [in_region(RiskFiling.region_code, region),
                  *within_days(RiskFiling.submitted_at, submitted_from, submitted_to)]

    async def counted(column: Any) -> dict[str, int]:
        return {str(value): int(n) for value, n in await uow.session.execute(
            select(column, func.count()).where(*conditions, column.is_not(None)).group_by(column))}

    by_status = await counted(RiskFiling.status)
    return RiskFilingStats(submitted=sum(by_status.values()), by_status=by_status,
                           by_risk_level=await counted(RiskFiling.risk_level),
                           by_acceptance_level=await counted(RiskFiling.acceptance_level),
                           exemptions_citing_filing=exemptions_citing_filing)


# --- the link a case opening makes ------------------------------------------------------------------------


async def link_candidates(uow: UnitOfWork, cases: Sequence[Case]) -> None:
    """Attach to each newly opened case, as candidates, the filings of the same official (name,
    organization and region) whose matter period covers any of its allegations' dates (one query for
    all). A filing made after the case opened is never linked: it could not have been made before
    the act."""
    by_key: defaultdict[str, list[Case]] = defaultdict(list)
    for case in cases:
        by_key[rules.official_key(case.subject_name, case.subject_organization, case.region_code)].append(case)
    if not by_key:
        return
    filings = await uow.session.scalars(select(RiskFiling).where(
        RiskFiling.official_key.in_(by_key), RiskFiling.status.in_(sorted(rules.LINKABLE))))
    now = utcnow()
    for filing in filings:
        for case in by_key[filing.official_key]:
            covered = rules.overlapping_allegations(
                starts_on=filing.matter_starts_on, ends_on=filing.matter_ends_on,
                allegations={a.allegation_id: a.occurred_on for a in case.allegations},
                received_on=china_date(case.report_received_at))
            if covered:
                uow.session.add(RiskFilingLink(
                    id=str(uuid.uuid4()), report_id=case.report_id, case_id=case.id, filing_id=filing.id,
                    status=rules.LinkStatus.candidate.value, covered_allegation_ids=list(covered), linked_at=now))
