"""Pure blacklist rules: the entry state machine, periods, objection, repair and revocation, who may
decide them, masking. No I/O.

An entry's stored status is what was last written; its *standing* on a given day is derived
from the stored facts and the date, so a reader never sees a stale `notified` after the
objection window closed, or a stale `active` after the period ended. The sweep writes those
date-driven transitions down and publishes them; both use `standing` and so agree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

from dateutil.relativedelta import relativedelta

from shared.identity import normalize_id_number
from shared.messages import Message, Term
from shared.vocabulary import Refusal, Severity


class EntryStatus(StrEnum):
    """notified -> active -> expired | repaired; notified/active -> under_review on objection,
    which ends revoked (upheld) or back where it was (rejected; a notice whose window closed during
    the review comes back active); notified/active -> revoked when an officer's revocation request
    is granted. A superseding verdict revokes the entry from any other state, except a listing the
    person already served (expired or repaired) when the new verdict is malicious too.

    - `notified` (告知): the person is told the reason, the basis and their right to object; the objection
      window runs.
    - `active` (公示): listed: the window ended with no objection, or the objection was rejected.
    - `under_review` (异议复核): an objection is being decided; not listed meanwhile.
    - `revoked` (撤销): taken off: an objection upheld, a revocation granted, or the verdict superseded.
    - `expired` (期满): the publication period ended.
    - `repaired` (信用修复): credit repair granted after the minimum period."""

    notified = "notified"
    active = "active"
    under_review = "under_review"
    revoked = "revoked"
    expired = "expired"
    repaired = "repaired"


class RemovalKind(StrEnum):
    """What an officer may ask for to take an entry off the list before its period ends:

    - `repair` (信用修复): the person has made amends; only after the minimum period.
    - `revocation` (撤销): the listing should not stand."""

    repair = "repair"
    revocation = "revocation"


class Publication(StrEnum):
    internal = "internal"  # known to discipline-inspection systems only; never exported
    public = "public"


# Until an operator names the local regulation that authorizes listing, entries say so; production
# refuses to start with it (settings.py).
LEGAL_BASIS_UNSET = "未配置：授权列入失信黑名单的地方性法规及条款 (legal basis not configured)"

TERMINAL = frozenset({EntryStatus.revoked, EntryStatus.expired, EntryStatus.repaired})
LIVE = frozenset({EntryStatus.notified, EntryStatus.active, EntryStatus.under_review})
OBJECTABLE = frozenset({EntryStatus.notified, EntryStatus.active})

# Every transition the service may write, and the reasons it may be written for. Anything else is a bug.
_SUPERSEDED = "verdict_superseded"  # from anywhere: the verdict that listed the person no longer stands
TRANSITIONS: dict[tuple[EntryStatus, EntryStatus], frozenset[str]] = {
    (EntryStatus.notified, EntryStatus.active): frozenset({"objection_window_closed"}),
    (EntryStatus.notified, EntryStatus.under_review): frozenset({"objection_filed"}),
    (EntryStatus.active, EntryStatus.under_review): frozenset({"objection_filed"}),
    (EntryStatus.under_review, EntryStatus.revoked): frozenset({"objection_upheld", _SUPERSEDED}),
    (EntryStatus.under_review, EntryStatus.notified): frozenset({"objection_rejected"}),
    (EntryStatus.under_review, EntryStatus.active): frozenset({"objection_rejected"}),
    (EntryStatus.active, EntryStatus.expired): frozenset({"period_ended"}),
    (EntryStatus.active, EntryStatus.repaired): frozenset({"credit_repaired"}),
    (EntryStatus.notified, EntryStatus.revoked): frozenset({"revocation_granted", _SUPERSEDED}),
    (EntryStatus.active, EntryStatus.revoked): frozenset({"revocation_granted", _SUPERSEDED}),
    (EntryStatus.expired, EntryStatus.revoked): frozenset({_SUPERSEDED}),
    (EntryStatus.repaired, EntryStatus.revoked): frozenset({_SUPERSEDED}),
}


def can_move(source: EntryStatus, target: EntryStatus, why: str | None = None) -> bool:
    """True when the table allows `source -> target` (for the reason `why`, when given)."""
    reasons = TRANSITIONS.get((source, target))
    return reasons is not None and (why is None or why in reasons)


# --- periods -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PeriodRange:
    """Months an entry of one severity stays listed: at least `minimum` before repair, `standard`
    for a first listing, `maximum` for a repeat offender."""

    minimum: int
    standard: int
    maximum: int
    publication: Publication

    def __post_init__(self) -> None:
        if not 1 <= self.minimum <= self.standard <= self.maximum:
            raise ValueError("a period range needs 1 <= minimum <= standard <= maximum")


DEFAULT_PERIODS: Mapping[Severity, PeriodRange] = {
    Severity.minor: PeriodRange(1, 2, 3, Publication.internal),
    Severity.ordinary: PeriodRange(3, 6, 12, Publication.public),
    Severity.serious: PeriodRange(12, 24, 36, Publication.public),
}


@dataclass(frozen=True)
class Listing:
    """How long and how widely one entry is listed, and the rule that decided it."""

    months: int
    minimum_months: int
    publication: Publication
    basis: str


def listing_for(severity: Severity, *, repeat_offender: bool,
                periods: Mapping[Severity, PeriodRange] = DEFAULT_PERIODS) -> Listing:
    """The period of a new entry: the standard months of its severity, the maximum for a repeat offender."""
    rng = periods[severity]
    if repeat_offender:
        return Listing(rng.maximum, rng.minimum, rng.publication,
                       f"P-REPEAT: repeat offender, top of the {severity.value} range ({rng.maximum} months)")
    return Listing(rng.standard, rng.minimum, rng.publication,
                   f"P-STANDARD: first listing, {severity.value} ({rng.standard} months)")


def last_listed_day(listed_from: date, months: int) -> date:
    """The last day (inclusive) of a listing of `months` months starting on `listed_from`."""
    return listed_from + relativedelta(months=months) - timedelta(days=1)


def objection_deadline(notified_on: date, window_days: int, is_working_day: Callable[[date], bool]) -> date:
    """Last day to object: `window_days` after notice; a deadline on a day off moves to the next
    working day (期间届满的最后一日是法定休假日的，以休假日后的第一日为期间届满的日期)."""
    deadline = notified_on + timedelta(days=window_days)
    while not is_working_day(deadline):
        deadline += timedelta(days=1)
    return deadline


# --- standing: the entry as of a day -----------------------------------------------------------------


@dataclass(frozen=True)
class EntryFacts:
    """What is stored about an entry that the date-driven rules need."""

    status: EntryStatus
    objection_deadline: date
    months: int
    listed_from: date | None = None
    listed_until: date | None = None


@dataclass(frozen=True)
class Standing:
    """An entry's status on a day, with its listing dates (prospective while still notified)."""

    status: EntryStatus
    listed_from: date | None
    listed_until: date | None


def standing(facts: EntryFacts, today: date) -> Standing:
    """The entry's status on `today`, applying the window's close and the period's end."""
    status, start, until = facts.status, facts.listed_from, facts.listed_until
    if status == EntryStatus.notified:
        start = facts.objection_deadline + timedelta(days=1)
        until = last_listed_day(start, facts.months)
        if today > facts.objection_deadline:
            status = EntryStatus.active
    if status == EntryStatus.active and until is not None and today > until:
        status = EntryStatus.expired
    return Standing(status, start, until)


def due_transitions(facts: EntryFacts, today: date) -> list[tuple[EntryStatus, EntryStatus]]:
    """The stored transitions the date has made due, in order (what the sweep writes down)."""
    now = standing(facts, today)
    steps: list[tuple[EntryStatus, EntryStatus]] = []
    if facts.status == EntryStatus.notified and now.status != EntryStatus.notified:
        steps.append((EntryStatus.notified, EntryStatus.active))
    if now.status == EntryStatus.expired and facts.status != EntryStatus.expired:
        steps.append((EntryStatus.active, EntryStatus.expired))
    return steps


def is_listed(status: EntryStatus, *, notified_counts: bool) -> bool:
    """What the check API answers for an entry standing in `status`."""
    return status == EntryStatus.active or (notified_counts and status == EntryStatus.notified)


# --- objection ------------------------------------------------------------------------------------------


def objection_refusal(now: Standing, *, objections_so_far: int) -> str | None:
    """Why an objection cannot be filed against an entry standing as `now`, or None when it can."""
    if objections_so_far > 0:
        return Message("blacklist.objection_already_filed")
    if now.status not in OBJECTABLE:
        return Message("blacklist.objection_not_now", status=Term("entry_status", now.status.value))
    return None


def after_rejection(
    previous: EntryStatus, facts: EntryFacts, today: date
) -> tuple[EntryStatus, date | None, date | None]:
    """Status and listing dates once an objection is rejected: back where the entry was. A notice
    whose window closed during the review lists from the day of the decision, never earlier."""
    if previous == EntryStatus.active:
        return EntryStatus.active, facts.listed_from, facts.listed_until
    if today > facts.objection_deadline:
        return EntryStatus.active, today, last_listed_day(today, facts.months)
    return EntryStatus.notified, None, None


# --- repair ----------------------------------------------------------------------------------------------


def repair_possible_from(now: Standing, minimum_months: int) -> date | None:
    """The first day credit repair may be granted (after the minimum period), if it ever may."""
    if now.status not in (EntryStatus.notified, EntryStatus.active) or now.listed_from is None:
        return None
    return now.listed_from + relativedelta(months=minimum_months)


def repair_refusal(now: Standing, minimum_months: int, today: date) -> tuple[str, date | None] | None:
    """Why repair cannot be granted today, with the day it becomes possible; None when it can."""
    if now.status == EntryStatus.under_review:
        return Message("blacklist.decide_objection_first"), None
    possible = repair_possible_from(now, minimum_months)
    if possible is None:
        return Message("blacklist.repair_not_listed", status=Term("entry_status", now.status.value)), None
    if today < possible:
        return Message("blacklist.repair_after_minimum", months=minimum_months,
                       possible_from=possible.isoformat()), possible
    return None


def revocation_refusal(now: Standing) -> str | None:
    """Why an officer's revocation cannot be granted for an entry standing as `now`, or None when it can."""
    if now.status == EntryStatus.under_review:
        return Message("blacklist.revoke_after_objection")
    if now.status not in (EntryStatus.notified, EntryStatus.active):
        return Message("blacklist.revoke_not_listed", status=Term("entry_status", now.status.value))
    return None


# --- separation of duties -------------------------------------------------------------------------------


SEPARATION = {
    "objection": Message("blacklist.objection_by_another"),
    RemovalKind.repair: Message("blacklist.repair_by_another"),
    RemovalKind.revocation: Message("blacklist.revocation_by_another"),
}


def decision_refusal(what: str, *, asked_by: str, decider: str) -> Refusal | None:
    """Why `decider` may not decide the objection, repair or revocation (`what`) that `asked_by` put
    forward, or None: each is decided by someone other than who asked (DESIGN 5)."""
    if decider == asked_by:
        return Refusal("separation_of_duties", SEPARATION[what])
    return None


# --- identity -------------------------------------------------------------------------------------------


def mask_id_number(id_number: str) -> str:
    """Officers see the region prefix and the last two characters: `110105**********2X`."""
    value = normalize_id_number(id_number)
    if len(value) <= 8:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 8) + value[-2:]
