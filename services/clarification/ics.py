"""iCalendar export of a clarification meeting (RFC 5545, written with the icalendar library)."""

from __future__ import annotations

from datetime import datetime

from icalendar import Calendar, Event

from shared.calendar import CHINA_TZ

PRODID = "-//Zhengming//Clarification meetings//ZH"
SCOPE_NAMES = {"village_community": "村(社区)", "unit": "单位", "township": "乡镇", "county": "县(区)",
               "municipal": "市"}


def meeting_calendar(
    *,
    meeting_id: str,
    status: str,
    starts_at: datetime,
    ends_at: datetime,
    venue_id: str,
    venue_name: str | None,
    venue_address: str | None,
    host_organization: str,
    scope: str,
    subject_name: str,
    subject_organization: str,
    sequence: int,
    updated_at: datetime,
) -> bytes:
    """One VEVENT in Asia/Shanghai local time with its VTIMEZONE; cancelled meetings say so. The
    location is the venue's name and address as booked (its id for meetings booked before the
    register); the description repeats the time in China time with its offset."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("method", "PUBLISH")
    event = Event()
    event.add("uid", f"{meeting_id}@zhengming")
    event.add("dtstamp", updated_at)
    start, end = starts_at.astimezone(CHINA_TZ), ends_at.astimezone(CHINA_TZ)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", f"澄清正名通报会：{subject_name}（{subject_organization}）")
    event.add("location", f"{venue_name}，{venue_address}" if venue_name and venue_address else venue_id)
    event.add("description", f"时间：{start.isoformat()} 至 {end.isoformat()}（北京时间）；主办单位："
                             f"{host_organization}；通报范围：{SCOPE_NAMES.get(scope, scope)}")
    event.add("sequence", sequence)
    event.add("status", "CANCELLED" if status == "cancelled" else "CONFIRMED")
    cal.add_component(event)
    cal.add_missing_timezones()
    return bytes(cal.to_ical())
