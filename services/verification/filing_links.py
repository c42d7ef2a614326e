"""The case's side of risk filing: the filings a report may be about (found when its case opened),
confirmed or dismissed by the investigator with the reason, and the confirmed ones reviewed `filed`
before the act, which the fault-tolerance assessment weighs and a true verdict's rationale names.
Services flush; the edge commits."""

from __future__ import annotations

from sqlalchemy import select

from services.verification import domain
from services.verification.models import Case, RiskFiling, RiskFilingLink
from services.verification.recording import EDIT_REFUSED, note_recorded_by
from services.verification.risk_filing_domain import FILED, FilingStatus, LinkStatus, MatterOutcome
from services.verification.schemas import (
    LinkDecisionIn,
    LinkedFilingOut,
    PriorFilingOut,
    RiskFilingLinkOut,
    RiskOfficialOut,
)
from services.verification.service import next_status
from shared.auth import Principal
from shared.db import utcnow
from shared.errors import NotFound
from shared.messages import Message
from shared.uow import UnitOfWork

Linked = tuple[RiskFilingLink, RiskFiling]


class RiskFilingLinkNotFound(NotFound):
    code = "risk_filing_link_not_found"


async def links_of(uow: UnitOfWork, report_ids: list[str]) -> dict[str, list[Linked]]:
    """Each report's links with their filings, in the order they were found (one query; none for no
    reports)."""
    out: dict[str, list[Linked]] = {report_id: [] for report_id in report_ids}
    if report_ids:
        rows = await uow.session.execute(
            select(RiskFilingLink, RiskFiling).join(RiskFiling, RiskFiling.id == RiskFilingLink.filing_id)
            .where(RiskFilingLink.report_id.in_(report_ids))
            .order_by(RiskFilingLink.linked_at, RiskFiling.matter_starts_on, RiskFilingLink.id))
        for link, filing in rows:
            out[link.report_id].append((link, filing))
    return out


def counts(linked: Linked) -> bool:
    """A link weighs in the fault-tolerance assessment when the investigator confirmed it and the
    filing was reviewed `filed` (a closed filing was)."""
    link, filing = linked
    return link.status == LinkStatus.confirmed.value and FilingStatus(filing.status) in FILED


def deviation(filing: RiskFiling) -> str | None:
    """How the matter departed from the filed plan, when its recorded outcome says it did."""
    return filing.deviation if filing.outcome == MatterOutcome.deviated.value else None


async def prior_filings(uow: UnitOfWork, case: Case) -> list[domain.PriorFiling]:
    """The confirmed filings of the case's report reviewed `filed`, as the classifier weighs them."""
    return prior_filings_of((await links_of(uow, [case.report_id]))[case.report_id])


def prior_filings_of(linked: list[Linked]) -> list[domain.PriorFiling]:
    """`prior_filings` among a report's links already read."""
    return [domain.PriorFiling(filing.id, filing.matter_title, deviation(filing))
            for link, filing in linked if counts((link, filing))]


async def decide(*, uow: UnitOfWork, case: Case, principal: Principal, filing_id: str, body: LinkDecisionIn) -> Case:
    """Confirm or dismiss, with the reason, that the case's report is about a linked filing; again
    (changing it) while the case is open or investigating. 404 for a filing not linked to it."""
    status = next_status(case, domain.CaseEvent.recorded, refused=EDIT_REFUSED)
    link = await uow.session.scalar(select(RiskFilingLink).where(
        RiskFilingLink.report_id == case.report_id, RiskFilingLink.filing_id == filing_id).with_for_update())
    if link is None:
        raise RiskFilingLinkNotFound(Message("risk_filing.link_not_found", filing_id=filing_id, case_id=case.id))
    now = utcnow()
    link.status, link.reason, link.decided_by, link.decided_at = body.decision, body.reason, principal.subject, now
    case.status, case.updated_at = status.value, now
    note_recorded_by(uow, case, principal, "risk_filing_link")
    uow.record_audit(actor=principal.subject, action=f"risk_filing_link.{body.decision}", object_type="case",
                     object_id=case.id, reason=body.reason, details={"filing_id": filing_id})
    await uow.session.flush()
    return case


# --- how the case shows them ------------------------------------------------------------------------------


def _official(filing: RiskFiling) -> RiskOfficialOut:
    return RiskOfficialOut(name=filing.official_name, position=filing.official_position,
                           organization=filing.official_organization, region_code=filing.region_code,
                           org_level=filing.official_level)


def link_out(linked: Linked) -> RiskFilingLinkOut:
    link, filing = linked
    return RiskFilingLinkOut(
        filing_id=filing.id, status=LinkStatus(link.status), covered_allegation_ids=link.covered_allegation_ids,
        linked_at=link.linked_at, reason=link.reason, decided_by=link.decided_by, decided_at=link.decided_at,
        filing=LinkedFilingOut(status=FilingStatus(filing.status), official=_official(filing),
                               matter=filing.matter_title, starts_on=filing.matter_starts_on,
                               ends_on=filing.matter_ends_on, risk_level=filing.risk_level,
                               review_decision=filing.review_decision, outcome=filing.outcome,
                               deviation=filing.deviation))


def prior_filing_out(filing: RiskFiling) -> PriorFilingOut:
    return PriorFilingOut(filing_id=filing.id, matter=filing.matter_title, starts_on=filing.matter_starts_on,
                          ends_on=filing.matter_ends_on, risk_level=filing.risk_level,
                          conditions=list(filing.conditions or []), filed_at=filing.reviewed_at,
                          deviated=deviation(filing) is not None, deviation=deviation(filing))


def prior_filings_out(links: list[Linked]) -> list[PriorFilingOut]:
    """The case's `prior_filings`: the links that weigh in its fault-tolerance assessment."""
    return [prior_filing_out(linked[1]) for linked in links if counts(linked)]
