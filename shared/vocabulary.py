"""The words every service uses for the same thing, declared once (DESIGN.md §2).

Services and the event catalog import these; a service adds only what is its own (a verification
finding, a blacklist publication)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, get_args

# The levels of discipline-inspection organs, lowest first: comparisons use this order.
OrgLevel = Literal["township", "county", "municipal", "provincial", "central"]
ORG_LEVELS: tuple[str, ...] = get_args(OrgLevel)


def at_least(level: str, minimum: str) -> bool:
    """Whether `level` is a known level no lower than `minimum`."""
    return level in ORG_LEVELS and ORG_LEVELS.index(level) >= ORG_LEVELS.index(minimum)


class Verdict(StrEnum):
    """The verdict on a report, from its findings by explainable rules (DESIGN.md §4.2):

    - `true` (属实): at least one allegation substantiated or partially substantiated; with
      `fault_tolerance_exempted` the conduct is excused (容错免责) and the official is clarified.
    - `untrue` (失实): every allegation refuted, with no malice (错告, an honest mistake).
    - `malicious` (诬告陷害): nothing substantiated, the report fabricated and meant to harm the subject;
      final only once a second officer approves it, and the reporter may be blacklisted.
    - `inconclusive` (无法查实): nothing substantiated, something unverifiable: neither confirmed nor
      ruled out, so no clarification and no blacklist."""

    true = "true"
    untrue = "untrue"
    malicious = "malicious"
    inconclusive = "inconclusive"


class Severity(StrEnum):
    """How grave a malicious accusation was, from its nature, circumstances and consequences; it sets
    the blacklist period (defaults, configurable):

    - `minor` (情节较轻): internal only, up to 3 months.
    - `ordinary` (一般): public, 3 to 12 months.
    - `serious` (情节严重): public, 1 to 3 years."""

    minor = "minor"
    ordinary = "ordinary"
    serious = "serious"


class MaliceKind(StrEnum):
    """What a malicious report did:

    - `false_accusation` (诬告陷害): made up facts or forged material so the subject would be punished.
    - `malicious_slander` (恶意中伤): deliberately false claims to damage the subject's reputation.
    - `rumor_mongering` (散布谣言): spread claims known to be baseless about the subject."""

    false_accusation = "false_accusation"
    malicious_slander = "malicious_slander"
    rumor_mongering = "rumor_mongering"


@dataclass(frozen=True)
class Refusal:
    """Why an officer (or a caller) may not do something: a stable rule id, which the problem body
    names as `rule`, and the sentence that explains it."""

    rule: str
    detail: str
