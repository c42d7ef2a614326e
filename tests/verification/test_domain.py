"""The classifier and the other pure rules, with plain values: a table of cases and invariants."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.verification.domain import (
    DISTINCTIONS,
    FIVE_CHECKS,
    Aggravating,
    CaseStatus,
    FaultToleranceAssessment,
    Finding,
    IncompleteAssessment,
    MaliceAssessment,
    MaliceKind,
    ReporterHistory,
    Severity,
    Verdict,
    approval_refusal,
    classify,
    status_after_conclusion,
    triage,
)

S, P, U, X = Finding.substantiated, Finding.partially_substantiated, Finding.unsubstantiated, Finding.unverifiable
MALICE = MaliceAssessment(facts_invented=True, knew_false=True, kind=MaliceKind.false_accusation,
                          severity=Severity.ordinary)
ALL_HOLD = FaultToleranceAssessment({k: True for k in DISTINCTIONS}, {k: True for k in FIVE_CHECKS})


def f(*values):
    return {f"a{i}": v for i, v in enumerate(values)}


@pytest.mark.parametrize(("findings", "malice", "ft", "verdict", "exempted", "rules"), [
    (f(S), None, None, Verdict.true, False, ["V-TRUE"]),
    (f(P, U), None, None, Verdict.true, False, ["V-TRUE"]),
    (f(S, X), MALICE, None, Verdict.true, False, ["V-TRUE"]),  # malice never outweighs a true allegation
    (f(S), None, ALL_HOLD, Verdict.true, True, ["V-TRUE", "FT-EXEMPT"]),
    (f(S), None, FaultToleranceAssessment({k: True for k in DISTINCTIONS},
                                          {**{k: True for k in FIVE_CHECKS}, "no_benefit_transfer": False}),
     Verdict.true, False, ["V-TRUE", "FT-NOT-MET"]),
    (f(U, U), None, None, Verdict.untrue, False, ["V-UNTRUE"]),
    (f(U, X), None, None, Verdict.inconclusive, False, ["V-INCONCLUSIVE"]),
    (f(X), None, None, Verdict.inconclusive, False, ["V-INCONCLUSIVE"]),
    (f(U), MALICE, None, Verdict.malicious, False,
     ["V-NOTHING-SUBSTANTIATED", "M-FABRICATION", "M-INTENT", "V-MALICIOUS"]),
    (f(U, X), MALICE, None, Verdict.malicious, False,
     ["V-NOTHING-SUBSTANTIATED", "M-FABRICATION", "M-INTENT", "V-MALICIOUS"]),
    (f(U), MaliceAssessment(facts_invented=True, kind=MaliceKind.rumor_mongering, severity=Severity.minor),
     None, Verdict.untrue, False, ["M-NOT-MET", "V-UNTRUE"]),  # 错告 is not 诬告
    (f(U), MaliceAssessment(meant_punishment=True), None, Verdict.untrue, False, ["M-NOT-MET", "V-UNTRUE"]),
    (f(U), MaliceAssessment(material_forged=True, meant_punishment=True, kind=MaliceKind.malicious_slander,
                            severity=Severity.serious,
                            aggravating=frozenset({Aggravating.repeated_after_conclusion})), None,
     Verdict.malicious, False, ["V-NOTHING-SUBSTANTIATED", "M-FABRICATION", "M-INTENT",
                                "M-AGGRAVATING-REPEATED_AFTER_CONCLUSION", "V-MALICIOUS"]),
    (f(U), None, ALL_HOLD, Verdict.untrue, False, ["V-UNTRUE"]),  # exemption is for true verdicts only
])
def test_verdict_table(findings, malice, ft, verdict, exempted, rules):
    result = classify(findings, malice, ft)
    assert result.verdict == verdict
    assert result.fault_tolerance_exempted == exempted
    assert result.rule_ids == rules
    assert all(hit.reason for hit in result.rationale)


def test_refuted_allegations_are_the_unsubstantiated_ones():
    assert classify(f(S, U, X, U)).refuted_allegation_ids == ("a1", "a3")


def test_malicious_needs_kind_and_severity():
    with pytest.raises(IncompleteAssessment):
        classify(f(U), MaliceAssessment(facts_invented=True, knew_false=True))


def test_no_findings_no_verdict():
    with pytest.raises(ValueError):
        classify({})


findings_st = st.dictionaries(st.text(min_size=1, max_size=4), st.sampled_from(list(Finding)), min_size=1,
                              max_size=8)
malice_st = st.one_of(st.none(), st.builds(
    MaliceAssessment, facts_invented=st.booleans(), material_forged=st.booleans(), knew_false=st.booleans(),
    meant_punishment=st.booleans(), aggravating=st.frozensets(st.sampled_from(list(Aggravating))),
    kind=st.sampled_from(list(MaliceKind)), severity=st.sampled_from(list(Severity))))
ft_st = st.one_of(st.none(), st.builds(
    FaultToleranceAssessment, distinctions=st.fixed_dictionaries({k: st.booleans() for k in DISTINCTIONS}),
    checks=st.fixed_dictionaries({k: st.booleans() for k in FIVE_CHECKS})))


@given(findings_st, malice_st, ft_st)
def test_invariants(findings, malice, ft):
    result = classify(findings, malice, ft)
    values = set(findings.values())
    if values & {S, P}:
        assert result.verdict == Verdict.true  # anything substantiated makes the report true
    if malice is None or not malice.fabrication or not malice.intent:
        assert result.verdict != Verdict.malicious  # no fabrication or no intent: never malicious
    if not values & {S, P} and X in values and result.verdict != Verdict.malicious:
        assert result.verdict == Verdict.inconclusive
    if values == {U} and (malice is None or not (malice.fabrication and malice.intent)):
        assert result.verdict == Verdict.untrue
    if result.fault_tolerance_exempted:
        assert result.verdict == Verdict.true and ft is not None and ft.holds
    assert set(result.refuted_allegation_ids) == {a for a, v in findings.items() if v == U}
    assert result.rationale and result == classify(findings, malice, ft)  # explained and deterministic


def test_only_malicious_verdicts_wait_for_approval():
    assert status_after_conclusion(Verdict.malicious) == CaseStatus.awaiting_approval
    for v in (Verdict.true, Verdict.untrue, Verdict.inconclusive):
        assert status_after_conclusion(v) == CaseStatus.final


@pytest.mark.parametrize(("approver", "level", "refused"), [
    ("bob", "municipal", False), ("bob", "central", False), ("bob", "county", True), ("alice", "provincial", True),
])
def test_four_eyes(approver, level, refused):
    assert (approval_refusal(approver=approver, approver_level=level, concluded_by="alice") is not None) == refused


def test_triage_signals_are_notes_not_verdicts():
    signals = triage(ReporterHistory(earlier_cases=4, earlier_untrue=2, earlier_malicious=1, distinct_subjects=5),
                     duplicate_of_concluded=True)
    assert signals.repeat_reporter and signals.targets_many_subjects and signals.duplicate_of_concluded
    assert signals.earlier_untrue_verdicts == 2 and signals.earlier_malicious_verdicts == 1
    assert len(signals.notes) == 4
    first_time = triage(ReporterHistory(distinct_subjects=1), duplicate_of_concluded=False)
    assert not first_time.repeat_reporter and not first_time.targets_many_subjects and first_time.notes == ()
    assert not triage(None, duplicate_of_concluded=False).repeat_reporter
