"""The risk-filing rules (风险报备) with plain values: the chain's moves, the level that accepts, four
eyes, who an official is, and which allegations a filed matter's period covers."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.verification.risk_filing_domain import (
    FILED,
    FILING_MOVES,
    LINKABLE,
    MAX_MATTER_YEARS,
    FilingEvent,
    FilingGrading,
    FilingStatus,
    acceptance_level,
    filing_after,
    filing_refusal,
    latest_end,
    official_key,
    overlapping_allegations,
)
from shared.vocabulary import ORG_LEVELS, at_least

GRADING = FilingGrading()  # county floor; 50 million yuan and more at municipal level


# --- the chain: each move on its own, over every status, so one wrong move shows --------------------------


def moves(event):
    return {status: filing_after(status, event) for status in FilingStatus}


def only(sources, target):
    return {status: (target if target is not None else status) if status in sources else None
            for status in FilingStatus}


def test_only_a_submitted_filing_is_accepted_or_returned():
    assert moves(FilingEvent.accepted) == only({FilingStatus.submitted}, FilingStatus.accepted)
    assert moves(FilingEvent.returned) == only({FilingStatus.submitted}, FilingStatus.returned)


def test_an_accepted_filing_is_assessed_and_may_be_assessed_again_until_its_review():
    assert moves(FilingEvent.assessed) == only({FilingStatus.accepted, FilingStatus.assessed}, FilingStatus.assessed)


def test_only_an_assessed_filing_is_reviewed_and_only_once():
    assert moves(FilingEvent.filed) == only({FilingStatus.assessed}, FilingStatus.filed)
    assert moves(FilingEvent.not_filed) == only({FilingStatus.assessed}, FilingStatus.not_filed)


def test_feedback_follows_either_decision_and_moves_nothing():
    assert moves(FilingEvent.fed_back) == only({FilingStatus.filed, FilingStatus.not_filed}, None)


def test_only_a_filed_matter_is_closed_with_its_outcome_and_a_closed_or_returned_one_never_moves_again():
    assert moves(FilingEvent.outcome_recorded) == only({FilingStatus.filed}, FilingStatus.closed)
    for ended in (FilingStatus.closed, FilingStatus.returned):
        assert all(filing_after(ended, event) is None for event in FilingEvent)


def test_what_weighs_in_a_verdict_was_filed_by_review_and_what_a_case_links_was_at_least_submitted():
    reached_by_filing = {target for (_, event), target in FILING_MOVES.items() if event == FilingEvent.filed}
    assert FILED == reached_by_filing | {filing_after(FilingStatus.filed, FilingEvent.outcome_recorded)}
    assert LINKABLE == set(FilingStatus) - {FilingStatus.returned}


# --- graded acceptance (分级受理) --------------------------------------------------------------------------


@pytest.mark.parametrize(("official", "reach", "amount", "level"), [
    ("township", "township", 12_000_000, "county"),  # a township's matter is accepted by the county
    ("county", "township", 0, "county"),
    ("township", "county", 49_999_999, "county"),
    ("township", "township", 50_000_000, "municipal"),  # a large one at municipal level
    ("township", "municipal", 0, "municipal"),  # it reaches beyond the county
    ("municipal", "township", 0, "municipal"),  # a municipal official's
    ("provincial", "county", 80_000_000, "provincial"),
])
def test_township_and_county_matters_are_accepted_at_county_larger_ones_higher(official, reach, amount, level):
    assert acceptance_level(official_level=official, reach=reach, amount_yuan=amount, grading=GRADING) == level


gradings = st.builds(FilingGrading, floor=st.sampled_from(ORG_LEVELS),
                     large_amount_yuan=st.integers(1, 10**9), large_matter_level=st.sampled_from(ORG_LEVELS))


@given(st.sampled_from(ORG_LEVELS), st.sampled_from(ORG_LEVELS), st.integers(0, 10**10), gradings)
def test_the_accepting_level_is_the_lowest_that_covers_the_official_the_reach_and_the_scale(
        official, reach, amount, grading):
    level = acceptance_level(official_level=official, reach=reach, amount_yuan=amount, grading=grading)
    large = amount >= grading.large_amount_yuan
    assert all(at_least(level, needed) for needed in (grading.floor, official, reach))
    if large:
        assert at_least(level, grading.large_matter_level)
    assert level in (grading.floor, official, reach, *((grading.large_matter_level,) if large else ()))


# --- four eyes -----------------------------------------------------------------------------------------------

officers = st.sampled_from(["zhou", "qian", "sun", "li", "wu"])


@given(officers, st.booleans(), officers, st.booleans(), st.frozensets(officers))
def test_nobody_decides_on_their_own_filing_and_the_reviewer_is_none_who_accepted_or_assessed(
        officer, at_level, filed_by, reviewing, handled_by):
    refusal = filing_refusal(officer=officer, at_level=at_level, level="county", filed_by=filed_by,
                             reviewing=reviewing, handled_by=handled_by)
    independent = officer != filed_by and not (reviewing and officer in handled_by)
    assert (refusal is None) == (independent and at_level)
    if not independent:
        assert refusal is not None and refusal.rule == "separation_of_duties" and refusal.detail
    elif refusal is not None:
        assert refusal.rule == "acceptance_level" and "county" in refusal.detail


def test_the_accepting_officer_may_assess_but_not_review():
    kwargs = {"officer": "qian", "at_level": True, "level": "county", "filed_by": "zhou",
              "handled_by": frozenset({"qian"})}
    assert filing_refusal(**kwargs) is None
    refusal = filing_refusal(**kwargs, reviewing=True)
    assert refusal is not None and refusal.rule == "separation_of_duties"


# --- who the official is, and what the matter's period covers ------------------------------------------------


def test_an_official_is_the_same_however_the_name_and_organization_are_spaced_or_widened():
    key = official_key("李明", "八里店镇党委", "330502")
    assert official_key(" 李 明 ", "八里店镇\u3000党委", "330502") == key  # an ideographic space
    assert official_key("李明", "ＡＢ镇党委", "330502") == official_key("李明", "AB镇党委", "330502")  # full width
    assert len({key, official_key("李明", "八里店镇党委", "330503"), official_key("李敏", "八里店镇党委", "330502"),
                official_key("李明", "织里镇党委", "330502")}) == 4


days = st.dates(min_value=date(2020, 1, 1), max_value=date(2035, 12, 31))


@given(days, st.integers(0, 400), st.dictionaries(st.text(min_size=1, max_size=3), st.none() | days, max_size=6),
       days)
def test_a_filing_covers_the_allegations_dated_in_its_period_and_undated_ones_when_it_began_before_the_report(
        starts_on, length, allegations, received_on):
    ends_on = starts_on + timedelta(days=length)
    covered = overlapping_allegations(starts_on=starts_on, ends_on=ends_on, allegations=allegations,
                                      received_on=received_on)
    assert list(covered) == [a for a in allegations if a in covered]  # in the report's order
    for allegation, day in allegations.items():
        within = starts_on <= day <= ends_on if day is not None else starts_on <= received_on
        assert (allegation in covered) == within


def test_a_matter_period_ends_on_its_fifth_anniversary_at_the_latest():
    assert latest_end(date(2027, 3, 1)) == date(2027 + MAX_MATTER_YEARS, 3, 1)
    assert latest_end(date(2028, 2, 29)) == date(2033, 2, 28)
