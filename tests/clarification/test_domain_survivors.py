"""The meeting deadline's own day (issue #24): a meeting on the deadline day is allowed, in China time,
from its first working hour to its last; only a meeting starting after that day is refused."""

from datetime import UTC, date, datetime, time, timedelta

from services.clarification.domain import WorkingHours, schedule_conflicts
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
