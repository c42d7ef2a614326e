"""The meeting deadline's own day (issue #24): a meeting on the deadline day is allowed, in China time,
from its first working hour to its last; only a meeting starting after that day is refused."""

from datetime import UTC, date, datetime, time, timedelta

from services.clarification.domain import (
    Method,
    WorkingHours,
    basis,
    free_slots,
    implausible_day,
    overlaps,
    required_methods,
    schedule_conflicts,
    statement,
)
from shared.calendar import CHINA_TZ, WorkingCalendar

CAL = WorkingCalendar()
NOW = datetime(2026, 11, 1, tzinfo=UTC)
DEADLINE = date(2026, 11, 23)  # a Monday, a working day


def kinds(start: datetime, minutes: int = 60) -> list[str]:
    return [c.kind for c in schedule_conflicts(
        starts_at=start, ends_at=start + timedelta(minutes=minutes), venue_id="hall-1", official_key="wang",
        bookings=(), is_working_day=CAL.is_working_day, hours=WorkingHours(), buffer=timedelta(minutes=30),
        deadline=DEADLINE, now=NOW)]


def test_a_meeting_on_the_deadline_day_itself_is_not_refused():
    assert kinds(datetime.combine(DEADLINE, time(9), CHINA_TZ)) == []
    assert kinds(datetime.combine(DEADLINE, time(16), CHINA_TZ)) == []  # the day's last hour


def test_a_meeting_the_day_after_the_deadline_is_refused_as_after_deadline():
    assert kinds(datetime.combine(DEADLINE + timedelta(days=1), time(9), CHINA_TZ)) == ["after_deadline"]


def test_the_deadline_day_is_counted_in_china_time_not_utc():
    # 23:30 UTC on the deadline day is 07:30 the next morning in Beijing: after the deadline (and early).
    start = datetime.combine(DEADLINE, time(23, 30), UTC)
    assert "after_deadline" in kinds(start)
    # 09:00 in Beijing on the deadline day, given in UTC: allowed.
    assert kinds(datetime.combine(DEADLINE, time(9), CHINA_TZ).astimezone(UTC)) == []


# --- what the harness (tools/mutate.py) found unheld in the rest of the module --------------------------

HOURS = WorkingHours()
HALF_HOUR = timedelta(minutes=30)


def test_the_basis_and_the_statement_name_each_allegation_with_its_own_ground():
    assert basis(refuted=True, exempted=True) == ["refuted", "fault_tolerance_exemption"]
    assert basis(refuted=False, exempted=True) == ["fault_tolerance_exemption"] and basis(refuted=False,
                                                                                          exempted=False) == []
    said = statement([{"summary": "收受礼金"}], [{"summary": "违规决策"}])
    assert "收受礼金" in said[0] and "失实" in said[0] and "违规决策" in said[1] and "容错免责" in said[1]


def test_only_in_person_a_meeting_or_a_bulletin_bring_a_written_clarification_along():
    assert required_methods(set()) == set() and required_methods({Method.written}) == {Method.written}
    assert required_methods({Method.bulletin}) == {Method.bulletin, Method.written}


def test_a_day_before_the_event_names_the_event():
    wrong = implausible_day("held_on", date(2026, 11, 1), follows=date(2026, 11, 2), event="the meeting",
                            today=date(2026, 11, 30))
    assert str(wrong.message) == "2026-11-01 is before the meeting on 2026-11-02" and wrong.type == "before_event"


def test_meetings_a_buffer_apart_do_not_clash():
    nine = datetime(2026, 11, 23, 9, tzinfo=CHINA_TZ)
    assert not overlaps(nine, nine + timedelta(hours=1), nine + timedelta(hours=1, minutes=30),
                        nine + timedelta(hours=2), HALF_HOUR)
    assert not overlaps(nine + timedelta(hours=1, minutes=30), nine + timedelta(hours=2), nine,
                        nine + timedelta(hours=1), HALF_HOUR)
    assert overlaps(nine, nine + timedelta(hours=1), nine + timedelta(hours=1, minutes=29),
                    nine + timedelta(hours=2), HALF_HOUR)


def test_a_meeting_starting_right_now_is_not_in_the_past_and_refusals_say_why():
    start = datetime.combine(DEADLINE, time(9), CHINA_TZ)
    assert schedule_conflicts(starts_at=start, ends_at=start + timedelta(hours=1), venue_id="hall-1",
                              official_key=None, bookings=(), is_working_day=CAL.is_working_day, hours=HOURS,
                              buffer=HALF_HOUR, deadline=None, now=start) == []
    saturday = datetime(2026, 11, 21, 9, tzinfo=CHINA_TZ)
    found = schedule_conflicts(starts_at=saturday, ends_at=saturday + timedelta(hours=1), venue_id="hall-1",
                               official_key=None, bookings=(), is_working_day=CAL.is_working_day, hours=HOURS,
                               buffer=HALF_HOUR, deadline=None, now=saturday + timedelta(minutes=1))
    assert [(c.kind, str(c.detail)) for c in found] == [
        ("past", "the meeting would start in the past"),
        ("non_working_day", "2026-11-21 is not a working day in China")]


def slots(start_from, *, working=lambda d: d.weekday() < 5, count=1, duration=timedelta(hours=1), **kw):
    return free_slots(venue_id="hall-1", start_from=start_from, duration=duration, count=count, bookings=[],
                      is_working_day=working, hours=HOURS, buffer=HALF_HOUR, **kw)


def test_free_slots_start_on_the_half_hour_grid_and_may_end_as_the_day_closes():
    monday = datetime(2026, 11, 23, 9, 10, tzinfo=CHINA_TZ)
    assert slots(monday)[0][0] == datetime(2026, 11, 23, 9, 30, tzinfo=CHINA_TZ)
    late = slots(datetime(2026, 11, 23, 16, 30, tzinfo=CHINA_TZ))
    assert late == [(datetime(2026, 11, 23, 16, 30, tzinfo=CHINA_TZ), datetime(2026, 11, 23, 17, 30, tzinfo=CHINA_TZ))]


def test_free_slots_move_to_the_next_working_day_not_past_it():
    too_late = slots(datetime(2026, 11, 23, 17, 0, tzinfo=CHINA_TZ))  # Monday evening: Tuesday morning
    assert too_late[0][0] == datetime(2026, 11, 24, 8, 30, tzinfo=CHINA_TZ)
    after_sunday = slots(datetime(2026, 11, 22, 10, tzinfo=CHINA_TZ))  # a Sunday: Monday
    assert after_sunday[0][0] == datetime(2026, 11, 23, 8, 30, tzinfo=CHINA_TZ)


def test_free_slots_look_ninety_china_days_ahead_and_no_further():
    # 20:00 UTC on the 23rd is 04:00 on the 24th in Beijing: the horizon counts from the 24th.
    start = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)
    first = date(2026, 11, 24)
    assert slots(start, working=lambda d: d == first + timedelta(days=90))[0][0].date() == first + timedelta(days=90)
    assert slots(start, working=lambda d: d == first + timedelta(days=91)) == []


def test_each_conflict_says_what_clashes():
    from services.clarification.domain import Booking

    evening = datetime.combine(DEADLINE + timedelta(days=1), time(17), CHINA_TZ)
    booked = Booking("m-1", evening - timedelta(minutes=30), evening + timedelta(minutes=30), "hall-1", "wang")
    found = schedule_conflicts(starts_at=evening, ends_at=evening + timedelta(hours=1), venue_id="hall-1",
                               official_key="wang", bookings=[booked], is_working_day=CAL.is_working_day,
                               hours=HOURS, buffer=HALF_HOUR, deadline=DEADLINE, now=NOW)
    assert [(c.kind, str(c.detail)) for c in found] == [
        ("outside_working_hours", "meetings at venue hall-1 run within 08:30-17:30 Asia/Shanghai on one working day"),
        ("after_deadline", "the clarification deadline is 2026-11-23"),
        ("venue_booked", "venue hall-1 is booked"),
        ("official_booked", "the official has another meeting then")]
    assert {(c.meeting_id, c.starts_at, c.ends_at) for c in found[2:]} == {("m-1", booked.starts_at, booked.ends_at)}
