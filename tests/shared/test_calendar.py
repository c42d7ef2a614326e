import json
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.calendar import CalendarOverrides, WorkingCalendar, china_date

cal = WorkingCalendar()


def test_statutory_holidays_and_adjusted_working_weekends():
    assert not cal.is_working_day(date(2026, 10, 1))  # National Day
    assert not cal.is_working_day(date(2026, 1, 1))  # New Year's Day
    assert cal.is_working_day(date(2026, 1, 4))  # a Sunday worked in exchange (调休)
    assert not cal.is_working_day(date(2026, 11, 21))  # an ordinary Saturday
    assert cal.is_working_day(date(2026, 11, 23))  # an ordinary Monday


def test_fifteen_working_days_skip_the_national_day_week():
    # Received on Wednesday 30 September 2026: the Golden Week does not count.
    due = cal.add_working_days(date(2026, 9, 30), 15)
    plain_weekdays = sum(1 for i in range(1, (due - date(2026, 9, 30)).days + 1)
                         if (date(2026, 9, 30) + timedelta(days=i)).weekday() < 5)
    assert due > date(2026, 9, 30) + timedelta(days=21)  # more than three plain weeks
    assert plain_weekdays > 15
    assert cal.working_days_between(date(2026, 9, 30), due) == 15


def test_operator_overrides_win_over_the_library(tmp_path):
    path = tmp_path / "2027.json"
    path.write_text(json.dumps({"holidays": ["2027-03-03"], "working_days": ["2027-03-06"]}))
    custom = WorkingCalendar(CalendarOverrides.from_file(path))
    assert cal.is_working_day(date(2027, 3, 3)) and not custom.is_working_day(date(2027, 3, 3))
    assert not cal.is_working_day(date(2027, 3, 6)) and custom.is_working_day(date(2027, 3, 6))


def test_override_file_with_a_contradiction_is_refused(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"holidays": ["2027-03-03"], "working_days": ["2027-03-03"]}))
    with pytest.raises(ValueError, match="both"):
        CalendarOverrides.from_file(path)


def test_deadlines_count_in_china_local_days():
    # 23:30 UTC on Sunday 22 Nov 2026 is already Monday 23 Nov in Beijing.
    assert china_date(datetime(2026, 11, 22, 23, 30, tzinfo=UTC)) == date(2026, 11, 23)


@given(st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31)), st.integers(1, 40))
def test_add_working_days_lands_on_a_working_day_n_working_days_later(start, n):
    due = cal.add_working_days(start, n)
    assert cal.is_working_day(due)
    assert cal.working_days_between(start, due) == n
    assert cal.working_days_between(start, due - timedelta(days=1)) == n - 1


def test_extreme_period_bounds_are_clamped_not_overflowed():
    from shared.calendar import local_day_bounds

    start, end = local_day_bounds(date(1, 1, 1), date(9999, 12, 31))
    assert start is not None and end is not None
    assert start.astimezone(UTC).year == 1899 and end.astimezone(UTC).year == 9998
