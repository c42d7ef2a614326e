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
