"""The classifier and the other pure rules, with plain values: a table of cases and invariants."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.verification.domain import (
    APPROVER_MIN_LEVEL,
    AWAITING_VERDICT,
    CASE_MOVES,
    DISTINCTIONS,
    FIVE_CHECKS,
    RULES,
    SUCCESSOR_STATUS,
    Aggravating,
    CaseEvent,
    CaseStatus,
    FaultToleranceAssessment,
    Finding,
    IncompleteAssessment,
    MaliceAssessment,
    PriorFiling,
    ReporterHistory,
    after,
    approval_refusal,
    classify,
    conclusion,
    correction_approver_level,
    correction_refusal,
    exempted_allegations,
    triage,
)
from shared.auth import Principal
from shared.vocabulary import ORG_LEVELS, MaliceKind, Severity, Verdict

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
    assert set(result.rule_ids) <= set(RULES)  # every rule it names is in the rule table


# --- prior risk filings (风险报备): named in a true verdict's rationale, never deciding it ---------------

FILING = PriorFiling("f-1", "村级集体经济股份合作制改革")
DEVIATED = PriorFiling("f-2", "农旅项目合作经营", deviation="未经第三方复核即调整折股比例")
ONE_CHECK_FAILS = FaultToleranceAssessment({k: True for k in DISTINCTIONS},
                                           {**{k: True for k in FIVE_CHECKS}, "no_benefit_transfer": False})


@pytest.mark.parametrize(("findings", "ft", "filings", "exempted", "rules"), [
    (f(S), ALL_HOLD, [FILING], True, ["V-TRUE", "FT-PRIOR-FILING", "FT-EXEMPT"]),
    (f(S), ALL_HOLD, [DEVIATED], True, ["V-TRUE", "FT-PRIOR-FILING", "FT-FILING-DEVIATED", "FT-EXEMPT"]),
    (f(S), ONE_CHECK_FAILS, [FILING], False, ["V-TRUE", "FT-PRIOR-FILING", "FT-NOT-MET"]),  # never exempts alone
    (f(P), ONE_CHECK_FAILS, [DEVIATED], False, ["V-TRUE", "FT-PRIOR-FILING", "FT-FILING-DEVIATED", "FT-NOT-MET"]),
    (f(S), None, [FILING, DEVIATED], False,
     ["V-TRUE", "FT-PRIOR-FILING", "FT-PRIOR-FILING", "FT-FILING-DEVIATED"]),
    (f(U), ALL_HOLD, [FILING], False, ["V-UNTRUE"]),  # an untrue report needs no fault tolerance
    (f(U, X), None, [FILING], False, ["V-INCONCLUSIVE"]),
])
def test_a_prior_filing_is_named_but_the_five_checks_decide(findings, ft, filings, exempted, rules):
    result = classify(findings, None, ft, filings)
    assert result.fault_tolerance_exempted is exempted
    assert result.rule_ids == rules


def test_the_rationale_names_the_filing_and_shows_the_departure_from_its_plan():
    hits = classify(f(S), None, ALL_HOLD, [DEVIATED]).rationale
    prior, departed = hits[1], hits[2]
    assert "f-2" in prior.reason and "农旅项目合作经营" in prior.reason
    assert "f-2" in departed.reason and "未经第三方复核即调整折股比例" in departed.reason


filings_st = st.lists(st.builds(PriorFiling, filing_id=st.uuids().map(str), matter=st.text(min_size=1, max_size=8),
                                deviation=st.none() | st.text(min_size=1, max_size=8)), max_size=3)


@given(findings_st, malice_st, ft_st, filings_st)
def test_prior_filings_never_change_a_verdict_only_explain_a_true_one(findings, malice, ft, filings):
    result, without = classify(findings, malice, ft, filings), classify(findings, malice, ft)
    assert (result.verdict, result.fault_tolerance_exempted, result.refuted_allegation_ids) == (
        without.verdict, without.fault_tolerance_exempted, without.refuted_allegation_ids)
    added = [hit for hit in result.rationale if hit.rule.startswith("FT-") and hit.rule not in without.rule_ids]
    if result.verdict != Verdict.true:
        assert result.rule_ids == without.rule_ids
        return
    # Each filing named once, in order, each departure right after its filing; the rest as without them.
    expected = [(rule, filing.filing_id) for filing in filings
                for rule in ("FT-PRIOR-FILING", *(("FT-FILING-DEVIATED",) if filing.deviation is not None else ()))]
    assert [(hit.rule, next(p.filing_id for p in filings if p.filing_id in hit.reason)) for hit in added] == expected
    assert [r for r in result.rule_ids if r not in ("FT-PRIOR-FILING", "FT-FILING-DEVIATED")] == without.rule_ids
    assert result.rule_ids[0] == "V-TRUE" and set(result.rule_ids) <= set(RULES)


# --- the case state machine: each rule on its own, over every status, so one wrong move shows -----

BEFORE_CONCLUSION = {CaseStatus.open, CaseStatus.investigating}


def moves(event):
    """Where a case in each status goes when `event` happens (None: it may not happen)."""
    return {status: after(status, event) for status in CaseStatus}


def only(sources, target):
    return {status: target if status in sources else None for status in CaseStatus}


def test_findings_and_assessments_are_recorded_only_before_a_conclusion_and_start_the_investigation():
    assert moves(CaseEvent.recorded) == only(BEFORE_CONCLUSION, CaseStatus.investigating)


def test_a_conclusion_is_drawn_only_before_one_and_only_a_malicious_verdict_waits_for_approval():
    for verdict in Verdict:
        waits = verdict == Verdict.malicious
        assert moves(conclusion(verdict)) == only(
            BEFORE_CONCLUSION, CaseStatus.awaiting_approval if waits else CaseStatus.final)


def test_only_a_verdict_awaiting_approval_is_approved_to_final_or_rejected_back_to_investigating():
    assert moves(CaseEvent.approved) == only({CaseStatus.awaiting_approval}, CaseStatus.final)
    assert moves(CaseEvent.rejected) == only({CaseStatus.awaiting_approval}, CaseStatus.investigating)


def test_only_a_final_case_is_corrected_and_a_superseded_one_never_moves_again():
    assert moves(CaseEvent.corrected) == only({CaseStatus.final}, CaseStatus.superseded)
    assert all(after(CaseStatus.superseded, event) is None for event in CaseEvent)
    assert after(SUCCESSOR_STATUS, CaseEvent.recorded) is not None  # the successor is verified again


def test_a_case_awaits_its_verdict_while_a_final_one_can_still_come_without_a_correction():
    def reaches_final(status, seen=frozenset()):
        nexts = {target for (source, event), target in CASE_MOVES.items()
                 if source == status and event != CaseEvent.corrected}
        return CaseStatus.final in nexts or any(reaches_final(n, seen | {status}) for n in nexts - seen - {status})

    assert AWAITING_VERDICT == {s for s in CaseStatus if s != CaseStatus.final and reaches_final(s)}


@pytest.mark.parametrize(("approver", "level", "rule"), [
    ("bob", "municipal", None), ("bob", "central", None), ("bob", "county", "approver_level"),
    ("alice", "provincial", "approver_recorded_on_case"),  # she concluded
    ("carol", "municipal", "approver_recorded_on_case"),  # she recorded the findings a colleague concluded on
])
def test_four_eyes(approver, level, rule):
    refusal = approval_refusal(approver=approver, approver_at_least_municipal=at_least(level, APPROVER_MIN_LEVEL),
                               recorded_by=frozenset({"alice", "carol"}))
    assert (refusal.rule if refusal else None) == rule


officers = st.sampled_from(["alice", "bob", "carol", "dave", "erin"])
levels = st.sampled_from(ORG_LEVELS)


def at_least(level, minimum):
    """An officer's standing as the service reads it from the token: Principal.at_least."""
    return Principal(subject="x", scopes=frozenset(), region="", org_level=level).at_least(minimum)


@given(officers, levels, st.frozensets(officers))
def test_no_one_who_recorded_on_the_case_approves_its_malicious_verdict(approver, level, recorded_by):
    refusal = approval_refusal(approver=approver, approver_at_least_municipal=at_least(level, APPROVER_MIN_LEVEL),
                               recorded_by=recorded_by)
    assert (refusal is None) == (approver not in recorded_by and at_least(level, APPROVER_MIN_LEVEL))
    if approver in recorded_by:
        assert refusal is not None and refusal.rule == "approver_recorded_on_case" and refusal.detail


@given(officers, levels, officers, st.frozensets(officers), levels)
def test_a_correction_is_approved_only_by_someone_else_with_no_part_in_the_case_at_the_level(
        approver, level, requested_by, took_part, min_level):
    refusal = correction_refusal(approver=approver, approver_at_least_min_level=at_least(level, min_level),
                                 requested_by=requested_by, took_part=took_part, min_level=min_level)
    independent = approver != requested_by and approver not in took_part
    assert (refusal is None) == (independent and at_least(level, min_level))
    if not independent:
        assert refusal is not None and refusal.rule == "separation_of_duties"
    elif refusal is not None:
        assert refusal.rule == "approver_level" and min_level in refusal.detail


@given(st.sampled_from(list(Verdict)), st.booleans(), st.none() | levels, st.none() | levels)
def test_correcting_a_verdict_needs_at_least_the_level_that_decided_it(verdict, exempted, approver, concluder):
    needed = correction_approver_level(verdict=verdict, fault_tolerance_exempted=exempted, approver_level=approver,
                                       concluder_level=concluder)
    for level in (approver, concluder):
        if level is not None:
            assert at_least(needed, level)
    if verdict == Verdict.malicious or exempted or (approver is None and concluder is None):
        assert at_least(needed, APPROVER_MIN_LEVEL)
    else:
        assert needed == max((x for x in (approver, concluder) if x), key=ORG_LEVELS.index)


def test_a_county_verdict_is_corrected_at_county_level_a_malicious_one_at_municipal_at_least():
    assert correction_approver_level(verdict=Verdict.untrue, fault_tolerance_exempted=False, approver_level=None,
                                     concluder_level="county") == "county"
    assert correction_approver_level(verdict=Verdict.malicious, fault_tolerance_exempted=False,
                                     approver_level="municipal", concluder_level="county") == "municipal"
    assert correction_approver_level(verdict=Verdict.malicious, fault_tolerance_exempted=False,
                                     approver_level="provincial", concluder_level="county") == "provincial"
    assert correction_approver_level(verdict=Verdict.true, fault_tolerance_exempted=True, approver_level=None,
                                     concluder_level="township") == "municipal"


def test_triage_signals_are_notes_not_verdicts():
    signals = triage(ReporterHistory(earlier_cases=4, earlier_untrue=2, earlier_malicious=1, distinct_subjects=5),
                     duplicate_of_concluded=True)
    assert signals.repeat_reporter and signals.targets_many_subjects and signals.duplicate_of_concluded
    assert signals.earlier_untrue_verdicts == 2 and signals.earlier_malicious_verdicts == 1
    assert len(signals.notes) == 4
    first_time = triage(ReporterHistory(distinct_subjects=1), duplicate_of_concluded=False)
    assert not first_time.repeat_reporter and not first_time.targets_many_subjects and first_time.notes == ()
    assert not triage(None, duplicate_of_concluded=False).repeat_reporter


def test_an_exemption_covers_the_allegations_found_true_and_names_the_conditions_that_held():
    findings = {"a1": "partially_substantiated", "a2": "unsubstantiated", "a3": "substantiated", "a4": "unverifiable"}
    assert exempted_allegations(findings, exempted=True) == ["a1", "a3"]
    assert exempted_allegations(findings, exempted=False) == []
    everything = FaultToleranceAssessment({k: True for k in DISTINCTIONS}, {k: True for k in FIVE_CHECKS})
    assert [k for k, _ in everything.holding()] == [*DISTINCTIONS, *FIVE_CHECKS]
    assert all(text for _, text in everything.holding())
    partial = FaultToleranceAssessment({**{k: True for k in DISTINCTIONS}, "no_explicit_prohibition": False},
                                       {k: True for k in FIVE_CHECKS})
    assert "no_explicit_prohibition" not in [k for k, _ in partial.holding()]
