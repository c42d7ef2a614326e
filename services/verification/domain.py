"""Pure verification rules: the classifier, fault tolerance (with the prior risk filings it weighs),
the case state machine, separation of duties, triage. The risk-filing chain's own rules are in
risk_filing_domain.py.

No I/O imports. Every rule that decides a verdict has a stable id, returned in the rationale
so that an officer, the subject and a reviewer can see why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from shared.messages import Message, Term
from shared.vocabulary import ORG_LEVELS, MaliceKind, Refusal, Severity, Verdict


class CaseStatus(StrEnum):
    """Where a case stands; CASE_MOVES says how it moves. A non-malicious conclusion is final in the
    same transaction, so no separate "concluded" state is ever observable.

    - `open` (待核查): opened for a submitted report; nothing recorded yet.
    - `investigating` (核查中): findings or assessments are being recorded.
    - `awaiting_approval` (待审批): concluded malicious; a second officer (municipal or higher) decides.
    - `final` (已终结): the verdict is final and published.
    - `superseded` (已被更正取代): an approved correction replaced the case with its successor."""

    open = "open"
    investigating = "investigating"
    awaiting_approval = "awaiting_approval"
    final = "final"
    superseded = "superseded"


class CaseEvent(StrEnum):
    """What happens to a case that may move it."""

    recorded = "recorded"  # findings, a malice or a fault-tolerance assessment
    concluded = "concluded"  # a verdict that is final at once
    concluded_malicious = "concluded_malicious"  # a malicious verdict, which a second officer decides
    approved = "approved"  # the malicious verdict is approved
    rejected = "rejected"  # the malicious verdict is rejected, with the reason
    corrected = "corrected"  # a correction of the final verdict is approved (a request alone moves nothing)


class Finding(StrEnum):
    """The finding on one allegation:

    - `substantiated` (属实): the allegation is true.
    - `partially_substantiated` (部分属实): part of it is true.
    - `unsubstantiated` (失实): it is false (refuted).
    - `unverifiable` (无法查实): it can be neither confirmed nor ruled out."""

    substantiated = "substantiated"
    partially_substantiated = "partially_substantiated"
    unsubstantiated = "unsubstantiated"
    unverifiable = "unverifiable"


class Aggravating(StrEnum):
    """Circumstances that make a malicious report graver:

    - `repeated_after_conclusion` (经明确结论后仍重复举报): the accusation was repeated after a clear conclusion.
    - `coercing_or_inciting_others` (胁迫、煽动他人举报): others were coerced or incited to accuse.
    - `disrupting_election_or_selection` (干扰选举或选拔任用): it disrupted an election or a selection.
    - `serious_consequences` (造成严重后果): it had serious consequences."""

    repeated_after_conclusion = "repeated_after_conclusion"
    coercing_or_inciting_others = "coercing_or_inciting_others"
    disrupting_election_or_selection = "disrupting_election_or_selection"
    serious_consequences = "serious_consequences"


@dataclass(frozen=True)
class MaliceAssessment:
    """Evidence about the reporter's conduct, recorded by an officer."""

    facts_invented: bool = False
    material_forged: bool = False
    knew_false: bool = False
    meant_punishment: bool = False
    aggravating: frozenset[Aggravating] = frozenset()
    kind: MaliceKind | None = None
    severity: Severity | None = None

    @property
    def fabrication(self) -> bool:
        return self.facts_invented or self.material_forged

    @property
    def intent(self) -> bool:
        return self.knew_false or self.meant_punishment


# The three distinctions (三个区分开来): each is True when the conduct falls on the side that is excused.
DISTINCTIONS: dict[str, str] = {
    "inexperience_not_knowing_violation":
        "a mistake from inexperience in reform exploration, not knowingly breaking rules",
    "no_explicit_prohibition": "trial and error where nothing was explicitly prohibited, not defying explicit bans",
    "for_development_not_personal_gain":
        "an unintended error made to advance development, not conduct for personal gain",
}
# The local "five checks" (五看): each must hold.
FIVE_CHECKS: dict[str, str] = {
    "policy_direction": "consistent with the direction of policy and law",
    "collective_decision": "decided by collective procedure",
    "no_major_adverse_result": "no major adverse result",
    "no_benefit_transfer": "no transfer of benefits",
    "diligent_loss_prevention": "diligent effort to avoid losses",
}


# Findings that hold an allegation true, in whole or in part.
HELD_FINDINGS = (Finding.substantiated, Finding.partially_substantiated)


def exempted_allegations(findings: Mapping[str, str], *, exempted: bool) -> list[str]:
    """The allegations a fault-tolerance exemption covers: those found true in whole or in part (the
    refuted ones are cleared as untrue instead); none when the verdict is not exempted."""
    return [a for a, f in findings.items() if exempted and f in HELD_FINDINGS]


@dataclass(frozen=True)
class FaultToleranceAssessment:
    distinctions: Mapping[str, bool]
    checks: Mapping[str, bool]

    def holding(self) -> list[tuple[str, str]]:
        """The conditions that hold, each (id, sentence), distinctions first, in their fixed order."""
        return [(k, text) for k, text in DISTINCTIONS.items() if self.distinctions.get(k, False)] + [
            (k, text) for k, text in FIVE_CHECKS.items() if self.checks.get(k, False)
        ]

    def failing(self) -> list[str]:
        """Items that do not hold, distinctions first, in their fixed order."""
        return [k for k in DISTINCTIONS if not self.distinctions.get(k, False)] + [
            k for k in FIVE_CHECKS if not self.checks.get(k, False)
        ]

    @property
    def holds(self) -> bool:
        return not self.failing()


@dataclass(frozen=True)
class RuleHit:
    rule: str
    reason: str


@dataclass(frozen=True)
class Classification:
    verdict: Verdict
    fault_tolerance_exempted: bool
    rationale: tuple[RuleHit, ...]
    refuted_allegation_ids: tuple[str, ...]
    malice_kind: MaliceKind | None = None
    severity: Severity | None = None

    @property
    def rule_ids(self) -> list[str]:
        return [hit.rule for hit in self.rationale]


@dataclass(frozen=True)
class PriorFiling:
    """A risk filing (风险报备) the investigator confirmed the report is about, reviewed and `filed`
    before the act: evidence for the three distinctions (the act was meant for the public good and
    stayed within policy). It never exempts by itself; the five checks still decide."""

    filing_id: str
    matter: str
    deviation: str | None = None  # how the matter departed from the filed plan, when its outcome says so


# Every rule id the classifier can return, with what it means: the rationale names these, and
# nothing else (a test holds classify to it).
RULES: dict[str, str] = {
    "V-TRUE": "at least one allegation substantiated in whole or in part: the report is true",
    "FT-PRIOR-FILING": "the matter was filed as a risk (风险报备) and filed by review before the act: a factor for "
                       "the three distinctions, never an exemption by itself",
    "FT-FILING-DEVIATED": "the matter's outcome departed from the filed plan: the filing covers the plan, not the "
                          "departure",
    "FT-EXEMPT": "the three distinctions and the five checks all hold: fault-tolerance exemption",
    "FT-NOT-MET": "a distinction or a check does not hold: no exemption",
    "V-NOTHING-SUBSTANTIATED": "no allegation substantiated",
    "M-FABRICATION": "facts invented or material forged",
    "M-INTENT": "the reporter knew it was false or meant the subject to be punished",
    **{f"M-AGGRAVATING-{factor.value.upper()}": f"aggravating: {factor.value}" for factor in Aggravating},
    "V-MALICIOUS": "fabrication and intent with nothing substantiated: a malicious report",
    "M-NOT-MET": "fabrication or intent missing: a mistaken report (错告), not a malicious one",
    "V-INCONCLUSIVE": "nothing substantiated, something unverifiable",
    "V-UNTRUE": "every allegation refuted",
}


def filing_hits(prior_filings: Sequence[PriorFiling]) -> list[RuleHit]:
    """What the rationale of a true verdict says of the confirmed prior filings: each one named
    (FT-PRIOR-FILING), and each departure from a filed plan shown as such (FT-FILING-DEVIATED)."""
    hits: list[RuleHit] = []
    for filing in prior_filings:
        hits.append(RuleHit("FT-PRIOR-FILING", f"risk filing {filing.filing_id} ({filing.matter}) was filed before "
                                               "acting: evidence the act was for the public good and within policy; "
                                               "the five checks still decide"))
        if filing.deviation is not None:
            hits.append(RuleHit("FT-FILING-DEVIATED", f"the matter departed from the plan filed in {filing.filing_id}: "
                                                      f"{filing.deviation}"))
    return hits


class IncompleteAssessment(ValueError):
    """A malicious verdict needs the kind and severity of malice recorded."""


def classify(
    findings: Mapping[str, Finding],
    malice: MaliceAssessment | None = None,
    fault_tolerance: FaultToleranceAssessment | None = None,
    prior_filings: Sequence[PriorFiling] = (),
) -> Classification:
    """The verdict for a report from its findings (allegation id -> finding) and assessments.

    `prior_filings` are the confirmed, filed risk filings the report is about: a true verdict's
    rationale names each (and any departure from its plan) before the exemption rule, which they
    never decide; other verdicts need no fault tolerance and do not mention them.

    Raises ValueError when there are no findings, and IncompleteAssessment when the evidence
    makes the report malicious but the kind or severity of malice was not recorded.
    """
    if not findings:
        raise ValueError("a verdict needs at least one finding")
    refuted = tuple(a for a, f in findings.items() if f == Finding.unsubstantiated)
    held = [a for a, f in findings.items() if f in HELD_FINDINGS]
    unverifiable = [a for a, f in findings.items() if f == Finding.unverifiable]
    hits: list[RuleHit] = []

    if held:
        hits.append(RuleHit("V-TRUE", f"{len(held)} of {len(findings)} allegation(s) substantiated in whole or part"))
        exempted = False
        hits += filing_hits(prior_filings)
        if fault_tolerance is not None:
            failing = fault_tolerance.failing()
            if not failing:
                exempted = True
                hits.append(RuleHit("FT-EXEMPT", "the three distinctions and the five checks all hold: "
                                                 "the conduct is excused and the official is protected"))
            else:
                hits.append(RuleHit("FT-NOT-MET", "fault tolerance does not apply: " + ", ".join(failing)))
        return Classification(Verdict.true, exempted, tuple(hits), refuted)

    if malice is not None and malice.fabrication and malice.intent:
        if malice.kind is None or malice.severity is None:
            raise IncompleteAssessment(Message("verification.malice_incomplete"))
        hits.append(RuleHit("V-NOTHING-SUBSTANTIATED", "no allegation was substantiated"))
        hits.append(RuleHit("M-FABRICATION", "facts were invented" if malice.facts_invented else "material was forged"))
        hits.append(RuleHit("M-INTENT", "the reporter knew it was false" if malice.knew_false
                            else "the reporter meant the subject to be punished"))
        for factor in sorted(malice.aggravating):
            hits.append(RuleHit(f"M-AGGRAVATING-{factor.value.upper()}", f"aggravating: {factor.value}"))
        hits.append(RuleHit("V-MALICIOUS", f"{malice.kind.value}, {malice.severity.value}"))
        return Classification(Verdict.malicious, False, tuple(hits), refuted, malice.kind, malice.severity)

    if malice is not None and (malice.fabrication or malice.intent):
        missing = "intent" if malice.fabrication else "fabrication"
        hits.append(RuleHit("M-NOT-MET", f"no evidence of {missing}: a mistaken report (错告) is not a malicious one"))
    if unverifiable:
        hits.append(RuleHit("V-INCONCLUSIVE", f"nothing substantiated; {len(unverifiable)} allegation(s) can be "
                                              "neither confirmed nor ruled out"))
        return Classification(Verdict.inconclusive, False, tuple(hits), refuted)
    hits.append(RuleHit("V-UNTRUE", f"all {len(findings)} allegation(s) refuted"))
    return Classification(Verdict.untrue, False, tuple(hits), refuted)


# --- case state machine -----------------------------------------------------------------------------

# Every move a case may make: (status, event) -> the status after. Anything else is refused. A
# corrected case stays as it was, superseded; its successor opens as a new case, investigating.
CASE_MOVES: Mapping[tuple[CaseStatus, CaseEvent], CaseStatus] = {
    (CaseStatus.open, CaseEvent.recorded): CaseStatus.investigating,
    (CaseStatus.investigating, CaseEvent.recorded): CaseStatus.investigating,
    (CaseStatus.open, CaseEvent.concluded): CaseStatus.final,
    (CaseStatus.investigating, CaseEvent.concluded): CaseStatus.final,
    (CaseStatus.open, CaseEvent.concluded_malicious): CaseStatus.awaiting_approval,
    (CaseStatus.investigating, CaseEvent.concluded_malicious): CaseStatus.awaiting_approval,
    (CaseStatus.awaiting_approval, CaseEvent.approved): CaseStatus.final,
    (CaseStatus.awaiting_approval, CaseEvent.rejected): CaseStatus.investigating,
    (CaseStatus.final, CaseEvent.corrected): CaseStatus.superseded,
}
SUCCESSOR_STATUS = CaseStatus.investigating  # a successor starts from the findings of the case it corrects
# Cases still waiting for their verdict: the ones a verification due date can pass for.
AWAITING_VERDICT = frozenset({CaseStatus.open, CaseStatus.investigating, CaseStatus.awaiting_approval})


def after(status: str, event: CaseEvent) -> CaseStatus | None:
    """The status a case in `status` moves to when `event` happens to it, or None when it may not."""
    return CASE_MOVES.get((CaseStatus(status), event))


def conclusion(verdict: Verdict) -> CaseEvent:
    """Malicious verdicts wait for a second officer; every other verdict is final at once."""
    return CaseEvent.concluded_malicious if verdict == Verdict.malicious else CaseEvent.concluded


APPROVER_MIN_LEVEL = "municipal"


# --- separation of duties --------------------------------------------------------------------------
# A malicious verdict's approver recorded nothing on the case nor on any case it corrects; a correction
# of a final verdict is requested by one officer and approved by another, at or above the level of
# whoever decided the verdict, who took no part in it.


def approval_refusal(*, approver: str, approver_at_least_municipal: bool, recorded_by: frozenset[str]
                     ) -> Refusal | None:
    """Why this principal may not approve a malicious verdict, or None when they may.

    `recorded_by` is everyone who recorded findings, an assessment or a conclusion on the case or on
    any case it corrects, including what was later replaced."""
    if approver in recorded_by:
        return Refusal("approver_recorded_on_case", Message("verification.approver_recorded_on_case"))
    if not approver_at_least_municipal:
        return Refusal("approver_level", Message("verification.approver_level",
                                                 level=Term("org_level", APPROVER_MIN_LEVEL)))
    return None


def correction_approver_level(*, verdict: Verdict, fault_tolerance_exempted: bool, approver_level: str | None,
                              concluder_level: str | None) -> str:
    """The lowest org level that may approve correcting a final verdict: the highest of its approver's
    and its concluding officer's levels, and never below municipal for a malicious or exempted verdict.
    When neither level is on record (a verdict from before levels were kept), municipal."""
    known = [level for level in (approver_level, concluder_level) if level in ORG_LEVELS]
    floor = [APPROVER_MIN_LEVEL] if verdict == Verdict.malicious or fault_tolerance_exempted or not known else []
    return max(known + floor, key=ORG_LEVELS.index)


def correction_refusal(*, approver: str, approver_at_least_min_level: bool, requested_by: str,
                       took_part: frozenset[str], min_level: str) -> Refusal | None:
    """Why this principal may not approve a correction, or None when they may.

    `took_part` is everyone who recorded anything on the case or a case it corrects, or decided
    (approved or rejected) a verdict there: a correction is reviewed by someone with no stake in it."""
    if approver == requested_by:
        return Refusal("separation_of_duties", Message("verification.correction_by_another"))
    if approver in took_part:
        return Refusal("separation_of_duties", Message("verification.correction_no_part"))
    if not approver_at_least_min_level:
        return Refusal("approver_level", Message("verification.correction_level", level=Term("org_level", min_level)))
    return None


# --- triage signals ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReporterHistory:
    """What this service already knows about the same reporter (by blind index)."""

    earlier_cases: int = 0
    earlier_untrue: int = 0
    earlier_malicious: int = 0
    distinct_subjects: int = 0  # including this report's subject


@dataclass(frozen=True)
class TriageSignals:
    repeat_reporter: bool = False
    earlier_untrue_verdicts: int = 0
    earlier_malicious_verdicts: int = 0
    targets_many_subjects: bool = False
    duplicate_of_concluded: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)


def triage(history: ReporterHistory | None, *, duplicate_of_concluded: bool, many_subjects_threshold: int = 3
           ) -> TriageSignals:
    """Signals shown on a new case. Never a verdict by themselves."""
    notes: list[str] = []
    if history is None:  # anonymous: nothing to match
        return TriageSignals(duplicate_of_concluded=duplicate_of_concluded,
                             notes=("duplicate of a concluded report",) if duplicate_of_concluded else ())
    repeat = history.earlier_cases > 0
    many = history.distinct_subjects >= many_subjects_threshold
    if repeat:
        notes.append(f"the reporter has {history.earlier_cases} earlier report(s)")
    if history.earlier_untrue or history.earlier_malicious:
        notes.append(f"earlier verdicts: {history.earlier_untrue} untrue, {history.earlier_malicious} malicious")
    if many:
        notes.append(f"the reporter has reported {history.distinct_subjects} different officials")
    if duplicate_of_concluded:
        notes.append("duplicate of a concluded report")
    return TriageSignals(repeat, history.earlier_untrue, history.earlier_malicious, many, duplicate_of_concluded,
                         tuple(notes))

