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
    true = "true"
    untrue = "untrue"
    malicious = "malicious"
    inconclusive = "inconclusive"  # 无法查实: nothing confirmed or ruled out


class Severity(StrEnum):
    """How grave a malicious accusation was; it sets the blacklist period."""

    minor = "minor"
    ordinary = "ordinary"
    serious = "serious"


class MaliceKind(StrEnum):
    false_accusation = "false_accusation"  # 诬告陷害
    malicious_slander = "malicious_slander"  # 恶意中伤
    rumor_mongering = "rumor_mongering"  # 散布谣言


@dataclass(frozen=True)
class Refusal:
    """Why an officer (or a caller) may not do something: a stable rule id, which the problem body
    names as `rule`, and the sentence that explains it."""

    rule: str
    detail: str
