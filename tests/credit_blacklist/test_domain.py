"""The blacklist's pure rules with plain values: periods, standing by date, objection, repair,
revocation, who may decide them, masking."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.credit_blacklist.domain import (
    DEFAULT_PERIODS,
    LIVE,
    TERMINAL,
    TRANSITIONS,
    EntryFacts,
    EntryStatus,
    PeriodRange,
    Publication,
    RemovalKind,
    Severity,
    after_rejection,
    can_move,
    decision_refusal,
    due_transitions,
    is_listed,
    last_listed_day,
    listing_for,
    mask_id_number,
    objection_deadline,
    objection_refusal,
    repair_possible_from,
    repair_refusal,
    revocation_refusal,
    standing,
)
from shared.calendar import WorkingCalendar

N, A, R, V, E, P = (EntryStatus.notified, EntryStatus.active, EntryStatus.under_review, EntryStatus.revoked,
                    EntryStatus.expired, EntryStatus.repaired)
NOTICE = EntryFacts(N, objection_deadline=date(2026, 12, 7), months=6)


def every_day(_: date) -> bool:
    return True


# --- periods -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("severity", "repeat", "months", "minimum", "publication"), [
    (Severity.minor, False, 2, 1, Publication.internal),
    (Severity.minor, True, 3, 1, Publication.internal),  # minor: internal only, up to 3 months
    (Severity.ordinary, False, 6, 3, Publication.public),
    (Severity.ordinary, True, 12, 3, Publication.public),
    (Severity.serious, False, 24, 12, Publication.public),
    (Severity.serious, True, 36, 12, Publication.public),  # repeat offender: top of the range
])
def test_period_by_severity_and_repeat(severity, repeat, months, minimum, publication):
    listing = listing_for(severity, repeat_offender=repeat)
    assert (listing.months, listing.minimum_months, listing.publication) == (months, minimum, publication)
    assert listing.basis.startswith("P-REPEAT" if repeat else "P-STANDARD")


def test_periods_are_configurable_and_refuse_nonsense():
    custom = {**DEFAULT_PERIODS, Severity.ordinary: PeriodRange(4, 5, 9, Publication.public)}
    assert listing_for(Severity.ordinary, repeat_offender=True, periods=custom).months == 9
    with pytest.raises(ValueError, match="minimum <= standard"):
        PeriodRange(6, 3, 12, Publication.public)


@pytest.mark.parametrize(("start", "months", "last"), [
    (date(2026, 1, 1), 3, date(2026, 3, 31)),
    (date(2026, 1, 31), 1, date(2026, 2, 27)),  # to the day before the same day a month on (Feb has 28)
    (date(2027, 12, 8), 12, date(2028, 12, 7)),
    (date(2028, 2, 29), 12, date(2029, 2, 27)),
])
def test_last_listed_day(start, months, last):
    assert last_listed_day(start, months) == last


@given(st.dates(min_value=date(2020, 1, 1), max_value=date(2040, 1, 1)), st.integers(1, 120))
def test_a_listing_lasts_between_28_and_31_days_a_month(start, months):
    days = (last_listed_day(start, months) - start).days + 1
    assert 28 * months <= days <= 31 * months


def test_objection_deadline_moves_off_days_off_to_the_next_working_day():
    calendar = WorkingCalendar()
    # Notice on 2026-09-16: fifteen days later is 2026-10-01, National Day; the holiday runs to 10-08.
    deadline = objection_deadline(date(2026, 9, 16), 15, calendar.is_working_day)
    assert deadline > date(2026, 10, 1) and calendar.is_working_day(deadline)
    assert all(not calendar.is_working_day(date(2026, 10, 1) + timedelta(d))
               for d in range((deadline - date(2026, 10, 1)).days))
    assert objection_deadline(date(2026, 11, 16), 15, every_day) == date(2026, 12, 1)


# --- standing by date ------------------------------------------------------------------------------


def test_a_notice_becomes_active_the_day_after_its_window_and_expires_after_its_period():
    assert standing(NOTICE, date(2026, 12, 7)).status == N
    on = standing(NOTICE, date(2026, 12, 8))
    assert (on.status, on.listed_from, on.listed_until) == (A, date(2026, 12, 8), date(2027, 6, 7))
    assert standing(NOTICE, date(2027, 6, 7)).status == A
    assert standing(NOTICE, date(2027, 6, 8)).status == E


def test_due_transitions_are_what_the_sweep_writes():
    assert due_transitions(NOTICE, date(2026, 12, 7)) == []
    assert due_transitions(NOTICE, date(2026, 12, 8)) == [(N, A)]
    assert due_transitions(NOTICE, date(2027, 7, 1)) == [(N, A), (A, E)]
    active = EntryFacts(A, date(2026, 12, 7), 6, date(2026, 12, 8), date(2027, 6, 7))
    assert due_transitions(active, date(2027, 6, 8)) == [(A, E)]


facts_strategy = st.builds(
    EntryFacts,
    status=st.sampled_from(list(EntryStatus)),
    objection_deadline=st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 1, 1)),
    months=st.integers(1, 36),
    listed_from=st.none(),
    listed_until=st.none(),
).map(lambda f: f if f.status != A else EntryFacts(
    A, f.objection_deadline, f.months, f.objection_deadline + timedelta(1),
    last_listed_day(f.objection_deadline + timedelta(1), f.months)))
ORDER = {N: 0, A: 1, E: 2}


@given(facts_strategy, st.dates(min_value=date(2024, 1, 1), max_value=date(2035, 1, 1)), st.integers(0, 2000))
def test_standing_never_moves_backwards_in_time(facts, day, later):
    first, second = standing(facts, day), standing(facts, day + timedelta(later))
    if first.status in ORDER:
        assert ORDER[second.status] >= ORDER[first.status]
    else:  # under review and the terminal states are not moved by dates
        assert first.status == second.status == facts.status


@given(facts_strategy, st.dates(min_value=date(2024, 1, 1), max_value=date(2035, 1, 1)))
def test_every_date_driven_step_is_an_allowed_transition_and_lands_on_the_standing(facts, day):
    steps = due_transitions(facts, day)
    status = facts.status
    for source, target in steps:
        assert source == status and can_move(source, target)
        status = target
    assert status == standing(facts, day).status


def test_terminal_states_go_nowhere_except_a_superseded_verdict_revoking_them():
    for (source, target), whys in TRANSITIONS.items():
        if source in TERMINAL:
            assert target == V and whys == {"verdict_superseded"}
    assert not can_move(V, A) and not can_move(E, A) and not can_move(N, E)
    assert LIVE | TERMINAL == set(EntryStatus)


def test_a_superseded_verdict_revokes_from_anywhere_and_each_move_is_allowed_only_for_its_reasons():
    assert all(can_move(s, V, "verdict_superseded") for s in EntryStatus if s != V)
    assert can_move(R, V, "objection_upheld") and can_move(A, V, "revocation_granted")
    assert can_move(N, V, "revocation_granted") and not can_move(R, V, "revocation_granted")
    assert not can_move(E, V, "revocation_granted") and not can_move(A, P, "revocation_granted")
    assert can_move(A, P, "credit_repaired") and not can_move(N, P, "credit_repaired")


@pytest.mark.parametrize(("status", "notified_counts", "listed"), [
    (A, False, True), (N, False, False), (N, True, True), (R, True, False), (E, True, False), (V, True, False),
    (P, True, False),
])
def test_only_active_entries_are_listed_and_notified_ones_when_configured(status, notified_counts, listed):
    assert is_listed(status, notified_counts=notified_counts) is listed


# --- objection ---------------------------------------------------------------------------------------


def test_objection_is_heard_once_while_notified_or_active():
    assert objection_refusal(standing(NOTICE, date(2026, 12, 1)), objections_so_far=0) is None
    assert objection_refusal(standing(NOTICE, date(2027, 1, 1)), objections_so_far=0) is None  # active
    assert "already" in objection_refusal(standing(NOTICE, date(2026, 12, 1)), objections_so_far=1)
    assert "expired" in objection_refusal(standing(NOTICE, date(2028, 1, 1)), objections_so_far=0)


def test_a_rejected_objection_returns_the_entry_where_it_was():
    assert after_rejection(N, NOTICE, date(2026, 12, 1)) == (N, None, None)
    # The window closed during the review: listed from the decision day, never backdated.
    assert after_rejection(N, NOTICE, date(2026, 12, 20)) == (A, date(2026, 12, 20), date(2027, 6, 19))
    active = EntryFacts(R, NOTICE.objection_deadline, 6, date(2026, 12, 8), date(2027, 6, 7))
    assert after_rejection(A, active, date(2027, 1, 5)) == (A, date(2026, 12, 8), date(2027, 6, 7))


# --- repair ------------------------------------------------------------------------------------------


def test_repair_only_after_the_minimum_period_saying_when():
    minimum = 3
    early = repair_refusal(standing(NOTICE, date(2027, 1, 10)), minimum, date(2027, 1, 10))
    assert early == ("credit repair is possible after the minimum period of 3 month(s), from 2027-03-08",
                     date(2027, 3, 8))
    assert repair_refusal(standing(NOTICE, date(2027, 3, 8)), minimum, date(2027, 3, 8)) is None
    assert repair_refusal(standing(NOTICE, date(2027, 7, 1)), minimum, date(2027, 7, 1))[0].startswith(
        "the entry is expired")
    review = standing(EntryFacts(R, NOTICE.objection_deadline, 6), date(2027, 1, 1))
    assert "under review" in repair_refusal(review, minimum, date(2027, 5, 1))[0]
    assert repair_possible_from(standing(NOTICE, date(2026, 12, 1)), minimum) == date(2027, 3, 8)


# --- revocation and separation of duties ------------------------------------------------------------


def test_revocation_while_notified_or_active_and_never_over_a_pending_objection():
    assert revocation_refusal(standing(NOTICE, date(2026, 12, 1))) is None
    assert revocation_refusal(standing(NOTICE, date(2027, 1, 1))) is None  # active
    assert "decide the objection first" in revocation_refusal(standing(EntryFacts(R, date(2026, 12, 7), 6),
                                                                       date(2026, 12, 1)))
    assert revocation_refusal(standing(NOTICE, date(2028, 1, 1))).startswith("the entry is expired")
    for status in (V, P):
        assert revocation_refusal(standing(EntryFacts(status, date(2026, 12, 7), 6), date(2027, 1, 1)))


@pytest.mark.parametrize(("what", "asked"), [
    ("objection", "recorded it"), (RemovalKind.repair, "requested it"), (RemovalKind.revocation, "requested it"),
])
def test_whoever_asked_never_decides(what, asked):
    refusal = decision_refusal(what, asked_by="officer-2", decider="officer-2")
    assert refusal.rule == "separation_of_duties" and refusal.detail.endswith(f"the one who {asked}")
    assert decision_refusal(what, asked_by="officer-2", decider="officer-3") is None


@given(st.text(min_size=1, max_size=20), st.text(min_size=1, max_size=20))
def test_a_decision_is_refused_exactly_when_the_decider_asked(asker, decider):
    refused = decision_refusal(RemovalKind.repair, asked_by=asker, decider=decider) is not None
    assert refused is (asker == decider)


# --- masking -----------------------------------------------------------------------------------------


def test_masking_keeps_the_region_prefix_and_the_last_two_characters():
    assert mask_id_number("11010519491231002x") == "110105**********2X"
    assert mask_id_number("1234") == "****"


@given(st.text(alphabet="0123456789X", min_size=9, max_size=18))
def test_a_mask_never_shows_more_than_eight_characters(value):
    masked = mask_id_number(value)
    assert len(masked) == len(value) and len(masked.replace("*", "")) <= 8
    assert masked[6:-2] == "*" * (len(value) - 8)
