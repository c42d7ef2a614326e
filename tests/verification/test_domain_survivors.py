"""Fault tolerance with an unrecorded condition (issue #24): a distinction or a check that was never
recorded does not hold -- the classifier itself says so, whatever the request schema lets through."""

import pytest

from services.verification.domain import DISTINCTIONS, FIVE_CHECKS, FaultToleranceAssessment, Finding, classify
from shared.vocabulary import Verdict

ALL_DISTINCTIONS = {k: True for k in DISTINCTIONS}
ALL_CHECKS = {k: True for k in FIVE_CHECKS}


@pytest.mark.parametrize("missing", list(DISTINCTIONS))
def test_an_unrecorded_distinction_never_counts_as_holding(missing):
    ft = FaultToleranceAssessment({k: v for k, v in ALL_DISTINCTIONS.items() if k != missing}, ALL_CHECKS)
    assert not ft.holds and ft.failing() == [missing]
    assert missing not in [k for k, _ in ft.holding()]
    verdict = classify({"a1": Finding.substantiated}, fault_tolerance=ft)
    assert verdict.verdict == Verdict.true and verdict.fault_tolerance_exempted is False
    assert verdict.rule_ids == ["V-TRUE", "FT-NOT-MET"] and missing in verdict.rationale[-1].reason


@pytest.mark.parametrize("missing", list(FIVE_CHECKS))
def test_an_unrecorded_check_never_counts_as_holding(missing):
    ft = FaultToleranceAssessment(ALL_DISTINCTIONS, {k: v for k, v in ALL_CHECKS.items() if k != missing})
    assert not ft.holds and ft.failing() == [missing]
    assert missing not in [k for k, _ in ft.holding()]
    verdict = classify({"a1": Finding.partially_substantiated}, fault_tolerance=ft)
    assert verdict.fault_tolerance_exempted is False and verdict.rule_ids == ["V-TRUE", "FT-NOT-MET"]


def test_an_empty_assessment_fails_every_condition_in_their_fixed_order():
    ft = FaultToleranceAssessment({}, {})
    assert ft.failing() == [*DISTINCTIONS, *FIVE_CHECKS] and ft.holding() == [] and not ft.holds


def test_holding_names_each_condition_that_holds_with_its_sentence_distinctions_first():
    ft = FaultToleranceAssessment(ALL_DISTINCTIONS, ALL_CHECKS)
    assert ft.holding() == [*DISTINCTIONS.items(), *FIVE_CHECKS.items()] and ft.failing() == [] and ft.holds


# --- what the harness (tools/mutate.py) found unheld in the rest of the module --------------------------


def test_a_prior_filing_is_named_in_the_rationale_as_evidence_that_never_decides():
    from services.verification.domain import PriorFiling, filing_hits

    [named, departed] = filing_hits([PriorFiling("F-1", "村集体经济改革", deviation="规模扩大一倍")])
    assert (named.rule, named.reason) == (
        "FT-PRIOR-FILING", "risk filing F-1 (村集体经济改革) was filed before acting: evidence the act was for the "
                           "public good and within policy; the five checks still decide")
    assert (departed.rule, departed.reason) == ("FT-FILING-DEVIATED",
                                                "the matter departed from the plan filed in F-1: 规模扩大一倍")


def test_approval_refusals_say_why_in_both_languages_naming_the_level():
    from services.verification.domain import approval_refusal, correction_refusal
    from shared.messages import CHINESE, localized

    low = approval_refusal(approver="dir-1", approver_at_least_municipal=False, recorded_by=frozenset())
    assert low.rule == "approver_level"
    assert str(low.detail) == "a malicious verdict needs an approver at municipal level or higher"
    assert "市级" in localized(low.detail, CHINESE)
    refusals = {
        "by_requester": correction_refusal(approver="a", approver_at_least_min_level=True, requested_by="a",
                                           took_part=frozenset(), min_level="municipal"),
        "took_part": correction_refusal(approver="a", approver_at_least_min_level=True, requested_by="b",
                                        took_part=frozenset({"a"}), min_level="municipal"),
        "level": correction_refusal(approver="a", approver_at_least_min_level=False, requested_by="b",
                                    took_part=frozenset(), min_level="provincial"),
    }
    assert {k: r.rule for k, r in refusals.items()} == {
        "by_requester": "separation_of_duties", "took_part": "separation_of_duties", "level": "approver_level"}
    assert str(refusals["by_requester"].detail).startswith("a correction is approved by an officer other than")
    assert str(refusals["took_part"].detail).startswith("an officer who recorded on this case")
    assert str(refusals["level"].detail) == "correcting this verdict needs an approver at provincial level or higher"
    assert "省级" in localized(refusals["level"].detail, CHINESE)


def test_a_reporter_of_three_different_officials_is_signalled_by_default():
    from services.verification.domain import ReporterHistory, triage

    assert triage(ReporterHistory(earlier_cases=2, distinct_subjects=3), duplicate_of_concluded=False
                  ).targets_many_subjects
    assert not triage(ReporterHistory(earlier_cases=1, distinct_subjects=2), duplicate_of_concluded=False
                      ).targets_many_subjects


def test_an_anonymous_reports_only_signal_is_being_a_duplicate_of_a_concluded_one():
    from services.verification.domain import TriageSignals, triage

    assert triage(None, duplicate_of_concluded=True) == TriageSignals(
        duplicate_of_concluded=True, notes=("duplicate of a concluded report",))
    assert triage(None, duplicate_of_concluded=False) == TriageSignals()


def test_a_known_reporters_signals_each_come_with_a_note_an_officer_can_read():
    from services.verification.domain import ReporterHistory, TriageSignals, triage

    once = triage(ReporterHistory(earlier_cases=1, earlier_untrue=1, distinct_subjects=3), duplicate_of_concluded=True)
    assert once == TriageSignals(True, 1, 0, True, True, (
        "the reporter has 1 earlier report(s)", "earlier verdicts: 1 untrue, 0 malicious",
        "the reporter has reported 3 different officials", "duplicate of a concluded report"))
    only_malicious = triage(ReporterHistory(earlier_cases=2, earlier_malicious=2, distinct_subjects=1),
                            duplicate_of_concluded=False)
    assert only_malicious.notes == ("the reporter has 2 earlier report(s)", "earlier verdicts: 0 untrue, 2 malicious")
    assert triage(ReporterHistory(), duplicate_of_concluded=False) == TriageSignals()


def test_a_verdict_without_findings_is_refused_saying_so():
    with pytest.raises(ValueError, match=r"^a verdict needs at least one finding$"):
        classify({})


def test_the_rationale_says_in_words_why_each_rule_applied():
    from services.verification.domain import Aggravating, IncompleteAssessment, MaliceAssessment
    from shared.vocabulary import MaliceKind, Severity

    def said(verdict):
        return [(hit.rule, hit.reason) for hit in verdict.rationale]

    invented = MaliceAssessment(facts_invented=True, knew_false=True, kind=MaliceKind.false_accusation,
                                severity=Severity.serious, aggravating=frozenset({Aggravating.serious_consequences}))
    assert said(classify({"a1": Finding.unsubstantiated}, malice=invented)) == [
        ("V-NOTHING-SUBSTANTIATED", "no allegation was substantiated"),
        ("M-FABRICATION", "facts were invented"),
        ("M-INTENT", "the reporter knew it was false"),
        ("M-AGGRAVATING-SERIOUS_CONSEQUENCES", "aggravating: serious_consequences"),
        ("V-MALICIOUS", "false_accusation, serious")]
    forged = MaliceAssessment(material_forged=True, meant_punishment=True, kind=MaliceKind.rumor_mongering,
                              severity=Severity.minor)
    assert said(classify({"a1": Finding.unsubstantiated}, malice=forged))[1:3] == [
        ("M-FABRICATION", "material was forged"), ("M-INTENT", "the reporter meant the subject to be punished")]
    ft = FaultToleranceAssessment({}, {k: True for k in FIVE_CHECKS})
    assert said(classify({"a1": Finding.substantiated}, fault_tolerance=ft))[-1] == (
        "FT-NOT-MET", "fault tolerance does not apply: " + ", ".join(DISTINCTIONS))
    for half in (MaliceAssessment(facts_invented=True, knew_false=True, kind=MaliceKind.false_accusation),
                 MaliceAssessment(facts_invented=True, knew_false=True, severity=Severity.minor)):
        with pytest.raises(IncompleteAssessment, match=r"^record the kind and severity of malice before concluding$"):
            classify({"a1": Finding.unsubstantiated}, malice=half)


def test_the_rationale_of_an_exemption_a_mistaken_report_and_an_inconclusive_one_in_words():
    from services.verification.domain import MaliceAssessment

    def said(verdict):
        return [(hit.rule, hit.reason) for hit in verdict.rationale]

    exempt = FaultToleranceAssessment(ALL_DISTINCTIONS, ALL_CHECKS)
    assert said(classify({"a1": Finding.substantiated}, fault_tolerance=exempt))[-1] == (
        "FT-EXEMPT", "the three distinctions and the five checks all hold: the conduct is excused and the "
                     "official is protected")
    for malice, missing in ((MaliceAssessment(facts_invented=True), "intent"),
                            (MaliceAssessment(knew_false=True), "fabrication")):
        assert said(classify({"a1": Finding.unverifiable}, malice=malice)) == [
            ("M-NOT-MET", f"no evidence of {missing}: a mistaken report (错告) is not a malicious one"),
            ("V-INCONCLUSIVE", "nothing substantiated; 1 allegation(s) can be neither confirmed nor ruled out")]
