"""Chinese working days: statutory holidays and adjusted working weekends (调休).

The `holidays` package knows the announced schedules and estimates years not yet announced; an
operator can load the State Council's announced schedule for such a year as an override file:

    {"holidays": ["2027-02-08", ...], "working_days": ["2027-02-14", ...]}

Days listed there win over the library.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays

CHINA_TZ = ZoneInfo("Asia/Shanghai")


def china_time(moment: datetime) -> str:
    """`moment` as every answer writes it: ISO 8601 in China time, with its +08:00 offset."""
    return moment.astimezone(CHINA_TZ).isoformat()


def china_date(moment: datetime) -> date:
    """The calendar date in China at `moment` (deadlines count in local days, not UTC days)."""
    return moment.astimezone(CHINA_TZ).date()


# Dates outside these bounds cannot be turned into instants in every time zone; as period bounds
# they mean "from the beginning" and "until the end", so they are clamped, not refused.
EARLIEST_DAY, LATEST_DAY = date(1900, 1, 1), date(9998, 12, 30)


def local_day_bounds(first: date | None, last: date | None) -> tuple[datetime | None, datetime | None]:
    """Inclusive China-local dates as a half-open UTC-comparable interval [start, end)."""
    first = None if first is None else max(first, EARLIEST_DAY)
    last = None if last is None else min(last, LATEST_DAY)
    start = datetime.combine(first, time(), CHINA_TZ) if first else None
    end = datetime.combine(last + timedelta(days=1), time(), CHINA_TZ) if last else None
    return start, end


@dataclass(frozen=True)
class CalendarOverrides:
    holidays: frozenset[date] = field(default_factory=frozenset)
    working_days: frozenset[date] = field(default_factory=frozenset)

    @classmethod
    def from_file(cls, path: Path) -> CalendarOverrides:
        doc = json.loads(path.read_text())
        unknown = set(doc) - {"holidays", "working_days"}
        if unknown:
            raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
        days_off = frozenset(date.fromisoformat(d) for d in doc.get("holidays", []))
        days_on = frozenset(date.fromisoformat(d) for d in doc.get("working_days", []))
        if days_off & days_on:
            raise ValueError(f"{path}: days listed both as holiday and working day: {sorted(days_off & days_on)}")
        return cls(days_off, days_on)


class WorkingCalendar:
    """Answers whether a date is a working day in mainland China and counts working days."""

    def __init__(self, overrides: CalendarOverrides | None = None) -> None:
        self._overrides = overrides or CalendarOverrides()
        self._china = _china_holidays()  # expands to the years asked about
        # Deadlines are asked for the same few days over and over (every report received today):
        # the answers never change, so they are kept (cleared when it grows past a few years' worth).
        self._added: dict[tuple[date, int], date] = {}

    @classmethod
    def from_settings(cls, overrides_file: Path | None) -> WorkingCalendar:
        return cls(CalendarOverrides.from_file(overrides_file) if overrides_file else None)

    def is_working_day(self, day: date) -> bool:
        if day in self._overrides.working_days:
            return True
        if day in self._overrides.holidays:
            return False
        return bool(self._china.is_working_day(day))

    def add_working_days(self, start: date, n: int) -> date:
        """The n-th working day after `start` (start itself not counted); n >= 1."""
        if n < 1:
            raise ValueError("n must be at least 1")
        known = self._added.get((start, n))
        if known is not None:
            return known
        day, counted = start, 0
        while counted < n:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        if len(self._added) >= 4096:
            self._added.clear()
        self._added[(start, n)] = day
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (0 when end <= start)."""
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count


def _china_holidays() -> holidays.HolidayBase:
    """`holidays.China()`, without the package's other countries: `holidays.China` imports the
    `holidays.countries` package, which imports every country's module (about 280 modules, 8 MB
    resident in each process) to use one. Only China's module is loaded here, under its own name, so
    a later import of the whole package reuses it; a package laid out otherwise is used the usual way."""
    name = "holidays.countries.china"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(holidays.__file__).parent / "countries" / "china.py")
        if spec is None or spec.loader is None or not Path(spec.origin or "").is_file():
            return holidays.China()
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception:
            del sys.modules[name]
            return holidays.China()
    china: holidays.HolidayBase = sys.modules[name].China()
    return china
