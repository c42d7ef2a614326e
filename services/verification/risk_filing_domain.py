"""Pure risk-filing rules (风险报备, DESIGN.md §4.5): the filing's state machine, acceptance at the
level the matter requires, four eyes, and how a case opening finds the filings a report may be about.

No I/O imports, like domain.py; a filing weighs in a verdict through domain.PriorFiling.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from shared.messages import Message, Term
from shared.vocabulary import ORG_LEVELS, Refusal

# Before a risky reform or decision, an officer files it on behalf of the official or their unit (the
# official is no user of this system). The chain follows Suzhou's guideline: 备案申请 -> 分级受理 ->
# 风险评估 -> 研究审核 -> 情况反馈.


class FilingStatus(StrEnum):
    """Where a risk filing stands; FILING_MOVES says how it moves:

    - `submitted` (已申请): filed on behalf of the official or their unit, waiting for acceptance.
    - `returned` (退回补正): returned at acceptance for completion; it is filed again with what was missing.
    - `accepted` (已受理): accepted at the level the matter requires.
    - `assessed` (已评估): its risk assessment is recorded (and may be recorded again until the review).
    - `filed` (予以备案): reviewed by a different officer and filed.
    - `not_filed` (不予备案): reviewed by a different officer and declined, with reasons.
    - `closed` (已办结): a filed matter's outcome is recorded: done as planned, or departed from the plan."""

    submitted = "submitted"
    returned = "returned"
    accepted = "accepted"
    assessed = "assessed"
    filed = "filed"
    not_filed = "not_filed"
    closed = "closed"


class FilingEvent(StrEnum):
    """What happens to a risk filing that may move it."""

    accepted = "accepted"
    returned = "returned"
    assessed = "assessed"
    filed = "filed"
    not_filed = "not_filed"
    fed_back = "fed_back"  # feedback to the filer on the review's decision
    outcome_recorded = "outcome_recorded"


FILING_MOVES: Mapping[tuple[FilingStatus, FilingEvent], FilingStatus] = {
    (FilingStatus.submitted, FilingEvent.accepted): FilingStatus.accepted,
    (FilingStatus.submitted, FilingEvent.returned): FilingStatus.returned,
    (FilingStatus.accepted, FilingEvent.assessed): FilingStatus.assessed,
    (FilingStatus.assessed, FilingEvent.assessed): FilingStatus.assessed,
    (FilingStatus.assessed, FilingEvent.filed): FilingStatus.filed,
    (FilingStatus.assessed, FilingEvent.not_filed): FilingStatus.not_filed,
    (FilingStatus.filed, FilingEvent.fed_back): FilingStatus.filed,
    (FilingStatus.not_filed, FilingEvent.fed_back): FilingStatus.not_filed,
    (FilingStatus.filed, FilingEvent.outcome_recorded): FilingStatus.closed,
}
# Filed by review: what a filing has to be to weigh in a fault-tolerance assessment. A closed filing
# was filed; its outcome says whether the matter kept to the plan.
FILED = frozenset({FilingStatus.filed, FilingStatus.closed})
# What a case opening shows as a candidate: every filing but a returned one, which was never accepted
# (it is filed again). One still in the chain may be filed before the verdict; a not_filed one tells
# the investigator the office declined the plan, which matters as much.
LINKABLE = frozenset(FilingStatus) - {FilingStatus.returned}


# A filed matter runs at most this long: a filing is for one decision, not a blanket cover.
MAX_MATTER_YEARS = 5


def latest_end(starts_on: date) -> date:
    """The last day a matter starting on `starts_on` may run to (MAX_MATTER_YEARS later; 29 February
    becomes 28 February in a common year)."""
    year = starts_on.year + MAX_MATTER_YEARS
    try:
        return starts_on.replace(year=year)
    except ValueError:  # 29 February, in a common year
        return starts_on.replace(year=year, day=28)


def filing_after(status: str, event: FilingEvent) -> FilingStatus | None:
    """The status a filing in `status` moves to when `event` happens to it, or None when it may not."""
    return FILING_MOVES.get((FilingStatus(status), event))


class RiskLevel(StrEnum):
    """The assessed risk of a filed matter:

    - `low` (低风险): foreseeable risks are small and the safeguards cover them.
    - `medium` (中风险): real risks, manageable with the conditions attached.
    - `high` (高风险): serious risks; the conditions attached are essential."""

    low = "low"
    medium = "medium"
    high = "high"


class MatterOutcome(StrEnum):
    """How a filed matter turned out:

    - `as_planned` (按备案方案实施): done as the filing planned.
    - `deviated` (偏离备案方案): departed from the filed plan; how is recorded."""

    as_planned = "as_planned"
    deviated = "deviated"


class LinkStatus(StrEnum):
    """A risk filing's link to a report, shown on its case:

    - `candidate` (待确认): found at case opening (same official, matter period overlapping the allegations).
    - `confirmed` (已确认): the investigator confirmed the report is about the filed matter.
    - `dismissed` (已排除): the investigator found it is not, with the reason."""

    candidate = "candidate"
    confirmed = "confirmed"
    dismissed = "dismissed"


@dataclass(frozen=True)
class FilingGrading:
    """Acceptance at the level the matter requires (分级受理): township and county matters at county
    level, larger ones at municipal or higher. Configurable (settings)."""

    floor: str = "county"  # no filing is accepted below this level
    large_amount_yuan: int = 50_000_000  # a matter involving this much is a large one
    large_matter_level: str = "municipal"  # where a large matter is accepted


def acceptance_level(*, official_level: str, reach: str, amount_yuan: int, grading: FilingGrading) -> str:
    """The lowest org level that may accept, assess and review a filing: the floor, raised to the
    level of the official's organization, to the widest level the matter reaches, and to the large
    matters' level when the amount involved reaches the threshold."""
    levels = [grading.floor, official_level, reach]
    if amount_yuan >= grading.large_amount_yuan:
        levels.append(grading.large_matter_level)
    return max(levels, key=ORG_LEVELS.index)


def filing_refusal(*, officer: str, at_level: bool, level: str, filed_by: str, reviewing: bool = False,
                   handled_by: frozenset[str] = frozenset()) -> Refusal | None:
    """Why this officer may not take a step on a filing (accept, assess, `reviewing` review, give
    feedback, record the outcome), or None when they may.

    Nobody decides on a filing they filed; the review is by an officer other than everyone who
    accepted or assessed it (`handled_by`, four eyes); each step is taken at the level the matter
    requires (`at_level`)."""
    if officer == filed_by:
        return Refusal("separation_of_duties", Message("risk_filing.not_by_filer"))
    if reviewing and officer in handled_by:
        return Refusal("separation_of_duties", Message("risk_filing.review_by_another"))
    if not at_level:
        return Refusal("acceptance_level", Message("risk_filing.level", level=Term("org_level", level)))
    return None


def official_key(name: str, organization: str, region_code: str) -> str:
    """Who an official is when a report is matched to filings: the name and organization with
    width and spacing normalized (NFKC, no whitespace) in the region, hashed to a fixed length.
    A differently worded organization is another organization: the investigator can still search
    the filings by name."""

    def plain(text: str) -> str:
        return "".join(unicodedata.normalize("NFKC", text).split())

    return hashlib.sha256(f"{region_code}\x1f{plain(name)}\x1f{plain(organization)}".encode()).hexdigest()


def overlapping_allegations(*, starts_on: date, ends_on: date, allegations: Mapping[str, date | None],
                            received_on: date) -> tuple[str, ...]:
    """The allegations a filed matter's period may cover: a dated one whose date lies in the period,
    an undated one when the period began by the day the report was received (it happened some time
    before). A filing is a candidate for the case when any allegation is covered."""
    return tuple(a for a, day in allegations.items()
                 if (starts_on <= day <= ends_on if day is not None else starts_on <= received_on))
