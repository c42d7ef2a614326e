"""Clarification rules with plain values, including property-based scheduling and date invariants."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.clarification.domain import (
    Booking,
    Method,
    WorkingHours,
    closing_blockers,
    free_slots,
    implausible_day,
    mandatory,
    opening_by_hand_refused,
    overlaps,
    qualifies,
    required_methods,
    schedule_conflicts,
)
from shared.calendar import CHINA_TZ, WorkingCalendar

CAL = WorkingCalendar()
HOURS = WorkingHours()
BUFFER = timedelta(minutes=30)
NOW = datetime(2025, 12, 1, tzinfo=UTC)


def at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), CHINA_TZ)


def conflicts(start, minutes=60, venue="hall-1", official="wang", bookings=(), deadline=None):
    return schedule_conflicts(starts_at=start, ends_at=start + timedelta(minutes=minutes), venue_id=venue,
                              official_key=official, bookings=bookings, is_working_day=CAL.is_working_day,
                              hours=HOURS, buffer=BUFFER, deadline=deadline, now=NOW)


def test_who_qualifies():
    assert qualifies("untrue", False) and qualifies("malicious", False) and qualifies("true", True)
    assert not qualifies("true", False) and not qualifies("inconclusive", False)


def test_mandatory_when_any_ground_is_known():
    assert mandatory(["repeated_after_conclusion"]) and not mandatory([])


def test_public_methods_bring_a_written_clarification():
    assert required_methods({Method.meeting}) == {Method.meeting, Method.written}
    assert required_methods({Method.bulletin, Method.in_person}) == {Method.bulletin, Method.in_person, Method.written}
    assert required_methods({Method.written}) == {Method.written}


def test_closing_needs_consent_the_written_one_a_held_meeting_and_the_bulletin():
    def blockers(methods, *, consented=True, written=True, held=0, bulletin=False):
        return closing_blockers(consented=consented, methods=methods, written_issued=written, meetings_held=held,
                                bulletin_recorded=bulletin)

    assert blockers({Method.meeting}, written=False, held=1) == ["the written clarification is not issued"]
    assert blockers({Method.meeting}) == ["no clarification meeting has been held"]
    assert blockers(set(), consented=None, written=False)[:2] == [
        "the official's consent is not recorded", "no clarification method chosen"]
    assert blockers({Method.written}) == []
    assert blockers({Method.bulletin, Method.written}) == ["the bulletin is not recorded"]
    assert blockers({Method.bulletin, Method.written}, bulletin=True) == []


def test_a_good_slot_has_no_conflicts():
    assert conflicts(at(date(2026, 11, 23), 9)) == []  # a Monday morning


def test_non_working_days_and_hours():
    kinds = [c.kind for c in conflicts(at(date(2026, 11, 21), 9))]  # Saturday
    assert kinds == ["non_working_day"]
    assert [c.kind for c in conflicts(at(date(2026, 10, 1), 9))] == ["non_working_day"]  # National Day
    assert conflicts(at(date(2026, 1, 4), 9)) == []  # a Sunday worked in exchange (调休)
    assert [c.kind for c in conflicts(at(date(2026, 11, 23), 17), minutes=60)] == ["outside_working_hours"]
    assert [c.kind for c in conflicts(at(date(2026, 11, 23), 7))] == ["outside_working_hours"]


def test_deadline_and_past():
    assert [c.kind for c in conflicts(at(date(2026, 11, 24), 9), deadline=date(2026, 11, 23))] == ["after_deadline"]
    assert [c.kind for c in conflicts(at(date(2025, 11, 28), 9))] == ["past"]


def test_venue_and_official_clashes_respect_the_buffer():
    day = date(2026, 11, 23)
    booked = Booking("m-1", at(day, 9), at(day, 10), "hall-1", "wang")
    assert [(c.kind, c.meeting_id) for c in conflicts(at(day, 10, 15), bookings=[booked])] == [
        ("venue_booked", "m-1"), ("official_booked", "m-1")]  # 15 min after: inside the 30 min buffer
    assert conflicts(at(day, 10, 30), bookings=[booked]) == []
    other_venue = conflicts(at(day, 9, 30), venue="hall-2", bookings=[booked])
    assert [c.kind for c in other_venue] == ["official_booked"]
    other_official = conflicts(at(day, 9, 30), official="li", bookings=[booked])
    assert [c.kind for c in other_official] == ["venue_booked"]


def test_free_slots_skip_bookings_weekends_and_evenings():
    friday = date(2026, 11, 20)
    bookings = [Booking("m-1", at(friday, 15), at(friday, 16, 30), "hall-1", "x")]
    slots = free_slots(venue_id="hall-1", start_from=at(friday, 14, 10), duration=timedelta(hours=1), count=3,
                       bookings=bookings, is_working_day=CAL.is_working_day, hours=HOURS, buffer=BUFFER)
    assert [s for s, _ in slots] == [at(date(2026, 11, 23), 8, 30), at(date(2026, 11, 23), 9),
                                     at(date(2026, 11, 23), 9, 30)]


requests = st.lists(st.tuples(
    st.dates(min_value=date(2026, 11, 2), max_value=date(2027, 2, 28)),
    st.integers(6, 20), st.sampled_from([0, 15, 30, 45]), st.sampled_from([30, 60, 90, 120]),
    st.sampled_from(["hall-1", "hall-2"]), st.sampled_from(["wang", "li", "zhao"]),
), max_size=40)


@settings(max_examples=200, deadline=None)
@given(requests)
def test_accepted_schedules_never_clash_and_fall_on_working_days_in_hours(attempts):
    accepted: list[Booking] = []
    for i, (day, hh, mm, minutes, venue, official) in enumerate(attempts):
        start = at(day, hh, mm)
        if not conflicts(start, minutes, venue, official, accepted):
            accepted.append(Booking(f"m-{i}", start, start + timedelta(minutes=minutes), venue, official))
    for b in accepted:
        local = b.starts_at.astimezone(CHINA_TZ)
        assert CAL.is_working_day(local.date())
        assert time(8, 30) <= local.time() and b.ends_at.astimezone(CHINA_TZ).time() <= time(17, 30)
    for i, a in enumerate(accepted):
        for b in accepted[i + 1:]:
            if a.venue_id == b.venue_id or a.official_key == b.official_key:
                assert not overlaps(a.starts_at, a.ends_at, b.starts_at, b.ends_at, BUFFER)


@settings(max_examples=100, deadline=None)
@given(st.dates(min_value=date(2026, 11, 2), max_value=date(2027, 12, 31)), st.integers(0, 23),
       st.sampled_from([30, 60, 120]))
def test_every_proposed_slot_can_be_booked(day, hh, minutes):
    slots = free_slots(venue_id="hall-1", start_from=at(day, hh), duration=timedelta(minutes=minutes), count=3,
                       bookings=[], is_working_day=CAL.is_working_day, hours=HOURS, buffer=BUFFER)
    assert len(slots) == 3
    for start, _end in slots:
        assert conflicts(start, minutes) == []
        assert start >= at(day, hh)


def test_a_slot_longer_than_a_working_day_is_never_proposed():
    assert free_slots(venue_id="v", start_from=NOW, duration=timedelta(hours=10), count=1, bookings=[],
                      is_working_day=CAL.is_working_day, hours=HOURS, buffer=BUFFER) == []


# --- plausible dates -----------------------------------------------------------------------------------

OPENED, TODAY = date(2026, 11, 20), date(2026, 11, 30)


@pytest.mark.parametrize(("day", "kind"), [
    (date(1, 1, 1), "before_event"), (date(2026, 11, 19), "before_event"),
    (date(2026, 12, 1), "future_date"), (date(9999, 12, 31), "future_date"),
])
def test_a_day_before_what_it_follows_or_after_today_is_refused_naming_the_field(day, kind):
    problem = implausible_day("issued_on", day, follows=OPENED, event="the clarification was opened", today=TODAY)
    assert (problem.field, problem.type) == ("issued_on", kind)
    assert day.isoformat() in problem.message
    assert ("2026-11-20" in problem.message) if kind == "before_event" else ("2026-11-30" in problem.message)


def test_the_day_of_the_event_and_today_itself_are_plausible():
    for day in (OPENED, TODAY, date(2026, 11, 25)):
        assert implausible_day("visited_on", day, follows=OPENED, event="the close", today=TODAY) is None


@given(st.dates(), st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)), st.integers(0, 4000))
def test_a_day_is_refused_exactly_when_it_lies_outside_the_event_and_today(day, follows, days_since):
    today = follows + timedelta(days=days_since)
    problem = implausible_day("given_at", day, follows=follows, event="the opening", today=today)
    assert (problem is None) is (follows <= day <= today)


def test_only_an_inconclusive_verdict_refuses_a_clarification_opened_by_hand():
    assert "inconclusive" in opening_by_hand_refused("inconclusive")
    for verdict in ("true", "untrue", "malicious"):
        assert opening_by_hand_refused(verdict) is None
