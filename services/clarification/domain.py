"""Pure clarification rules: who qualifies, methods, plausible dates, and meeting scheduling. No I/O imports."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from shared.calendar import CHINA_TZ
from shared.messages import Message


class ClarificationStatus(StrEnum):
    """Where a clarification stands:

    - `pending_consent` (待征求本人意见): opened; the official's consent is recorded first.
    - `in_progress` (办理中): the official consented; the chosen methods are being carried out.
    - `closed` (已办结): finished; its `outcome` says how (completed, declined by the official, or cancelled
      because its verdict was superseded)."""

    pending_consent = "pending_consent"
    in_progress = "in_progress"
    closed = "closed"


class Method(StrEnum):
    """How the official is cleared; in person, a meeting and a bulletin each add a written clarification:

    - `written` (书面澄清): a written clarification, issued as a document.
    - `in_person` (当面澄清): told in person, by the organization that verified the report.
    - `meeting` (澄清通报会): a clarification meeting, with a scope matching where the accusation spread.
    - `bulletin` (通报): a public bulletin clearing the official."""

    written = "written"
    in_person = "in_person"
    meeting = "meeting"
    bulletin = "bulletin"


class Scope(StrEnum):
    """How far a clarification reaches, matching where the accusation spread:

    - `village_community` (村、社区): the village or residential community.
    - `unit` (单位): the official's work unit.
    - `township` (乡镇、街道): the township or subdistrict.
    - `county` (县、区): the county or district.
    - `municipal` (市): the city."""

    village_community = "village_community"
    unit = "unit"
    township = "township"
    county = "county"
    municipal = "municipal"


class Ground(StrEnum):
    """Why a clarification is mandatory rather than offered:

    - `affected_selection_election_transfer_awards` (影响选拔任用、选举、调动或评先评优): the report
      affected, or may affect, the official's selection, election, transfer or awards.
    - `harmed_rights_work_life` (损害本人权益或影响工作生活): the report harmed the official's rights,
      work or life.
    - `repeated_after_conclusion` (已有结论仍被反复举报): the accusation kept being repeated after it was
      concluded."""

    affected_selection_election_transfer_awards = "affected_selection_election_transfer_awards"
    harmed_rights_work_life = "harmed_rights_work_life"
    repeated_after_conclusion = "repeated_after_conclusion"


def qualifies(verdict: str, fault_tolerance_exempted: bool) -> bool:
    """A final verdict that opens a clarification: untrue, malicious, or true with exemption."""
    return verdict in ("untrue", "malicious") or (verdict == "true" and fault_tolerance_exempted)


def opening_by_hand_refused(verdict: str) -> str | None:
    """Why an officer may not open a clarification for a report with this final verdict, or None.
    Unverifiable is not untrue: a report found inconclusive (无法查实) was neither confirmed nor
    refuted, so there is nothing to clear the official of."""
    if verdict == "inconclusive":
        return Message("clarification.inconclusive")
    return None


def basis(*, refuted: bool, exempted: bool) -> list[str]:
    """The basis of a clarification: `refuted` (the report was untrue) and/or
    `fault_tolerance_exemption` (the conduct was found but is excused: 容错免责, then 澄清正名)."""
    return [name for name, holds in (("refuted", refuted), ("fault_tolerance_exemption", exempted)) if holds]


def statement(refuted: Iterable[Mapping[str, object]], exempted: Iterable[Mapping[str, object]]) -> list[str]:
    """One sentence per allegation, each with its own basis: a refuted allegation was untrue; an
    exempted one was not untrue, and its conduct is excused under fault tolerance."""
    return [*(f"关于“{a['summary']}”的反映，经核查失实，予以澄清（refuted: the report was untrue）。" for a in refuted),
            *(f"关于“{a['summary']}”的问题，依规予以容错免责，不追究责任（exempted under fault tolerance）。"
              for a in exempted)]


def mandatory(grounds: Iterable[str]) -> bool:
    """Mandatory when any ground is known; otherwise the clarification is offered."""
    return any(True for _ in grounds)


def required_methods(chosen: Iterable[Method]) -> set[Method]:
    """In person, a meeting or a bulletin always comes with a written clarification as well."""
    chosen = set(chosen)
    return chosen | {Method.written} if chosen & {Method.in_person, Method.meeting, Method.bulletin} else chosen


def closing_blockers(*, consented: bool | None, methods: set[Method], written_issued: bool,
                     meetings_held: int, bulletin_recorded: bool) -> list[str]:
    """What still stands between a clarification and its completion (empty when it can close)."""
    blockers: list[str] = []
    if consented is not True:
        blockers.append(Message("blocker.consent"))
    if not methods:
        blockers.append(Message("blocker.no_method"))
    if Method.written in required_methods(methods) and not written_issued:
        blockers.append(Message("blocker.written"))
    if Method.meeting in methods and meetings_held == 0:
        blockers.append(Message("blocker.meeting"))
    if Method.bulletin in methods and not bulletin_recorded:
        blockers.append(Message("blocker.bulletin"))
    return blockers


# --- plausible dates -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImplausibleDate:
    """Why a day an officer records cannot be right: the field, a sentence, and a stable type."""

    field: str
    message: str
    type: str  # before_event | future_date


def implausible_day(field: str, day: date, *, follows: date, event: str, today: date) -> ImplausibleDate | None:
    """Why `day` (a China-time calendar day recorded in `field`) cannot be right, or None: an act is
    recorded on or after the day of the `event` it follows (`follows`), and never after `today`."""
    if day > today:
        return ImplausibleDate(field, Message("clarification.future_date", day=day.isoformat(),
                                              today=today.isoformat()), "future_date")
    if day < follows:
        return ImplausibleDate(field, Message("clarification.before_event", day=day.isoformat(), event=event,
                                              event_day=follows.isoformat()), "before_event")
    return None


# --- scheduling -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkingHours:
    start: time = time(8, 30)
    end: time = time(17, 30)


@dataclass(frozen=True)
class Booking:
    meeting_id: str
    starts_at: datetime
    ends_at: datetime
    venue_id: str
    official_key: str


@dataclass(frozen=True)
class Conflict:
    kind: str  # venue_booked | official_booked | non_working_day | outside_working_hours | after_deadline | past
    detail: str
    meeting_id: str | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None


def overlaps(a_start: datetime, a_end: datetime, b_start: datetime, b_end: datetime, buffer: timedelta) -> bool:
    """Two meetings clash when they are closer than `buffer` (half-open intervals)."""
    return a_start < b_end + buffer and b_start < a_end + buffer


def schedule_conflicts(
    *,
    starts_at: datetime,
    ends_at: datetime,
    venue_id: str,
    official_key: str | None,
    bookings: Iterable[Booking],
    is_working_day: Callable[[date], bool],
    hours: WorkingHours,
    buffer: timedelta,
    deadline: date | None,
    now: datetime,
) -> list[Conflict]:
    """Everything that forbids a meeting at [starts_at, ends_at). Times are compared in China time."""
    conflicts: list[Conflict] = []
    local_start, local_end = starts_at.astimezone(CHINA_TZ), ends_at.astimezone(CHINA_TZ)
    if starts_at < now:
        conflicts.append(Conflict("past", Message("conflict.past")))
    if not is_working_day(local_start.date()):
        conflicts.append(Conflict("non_working_day", Message("conflict.non_working_day", day=local_start.date())))
    day_start = datetime.combine(local_start.date(), hours.start, CHINA_TZ)
    day_end = datetime.combine(local_start.date(), hours.end, CHINA_TZ)
    if local_start < day_start or local_end > day_end:
        conflicts.append(Conflict("outside_working_hours", Message(
            "conflict.outside_working_hours", venue_id=venue_id, opens=hours.start, closes=hours.end)))
    if deadline is not None and local_start.date() > deadline:
        conflicts.append(Conflict("after_deadline", Message("conflict.after_deadline", deadline=deadline)))
    for b in sorted(bookings, key=lambda b: b.starts_at):
        if not overlaps(starts_at, ends_at, b.starts_at, b.ends_at, buffer):
            continue
        if b.venue_id == venue_id:
            conflicts.append(Conflict("venue_booked", Message("conflict.venue_booked", venue_id=venue_id),
                                      b.meeting_id, b.starts_at, b.ends_at))
        if official_key is not None and b.official_key == official_key:
            conflicts.append(Conflict("official_booked", Message("conflict.official_booked"), b.meeting_id,
                                      b.starts_at, b.ends_at))
    return conflicts


def free_slots(
    *,
    venue_id: str,
    start_from: datetime,
    duration: timedelta,
    count: int,
    bookings: list[Booking],
    is_working_day: Callable[[date], bool],
    hours: WorkingHours,
    buffer: timedelta,
    step: timedelta = timedelta(minutes=30),
    horizon_days: int = 90,
) -> list[tuple[datetime, datetime]]:
    """The earliest `count` slots of `duration` at the venue from `start_from`, on a `step` grid."""
    found: list[tuple[datetime, datetime]] = []
    local = start_from.astimezone(CHINA_TZ)
    # Start on the grid (e.g. :00 and :30) at or after the requested time.
    step_s = int(step.total_seconds())
    midnight = datetime.combine(local.date(), time(), CHINA_TZ)
    offset = (local - midnight).total_seconds()
    cursor = midnight + timedelta(seconds=-(-offset // step_s) * step_s)
    last_day = local.date() + timedelta(days=horizon_days)
    while len(found) < count and cursor.date() <= last_day:
        if not is_working_day(cursor.date()):
            cursor = datetime.combine(cursor.date() + timedelta(days=1), hours.start, CHINA_TZ)
            continue
        day_start = datetime.combine(cursor.date(), hours.start, CHINA_TZ)
        day_end = datetime.combine(cursor.date(), hours.end, CHINA_TZ)
        if cursor < day_start:
            cursor = day_start
            continue
        if cursor + duration > day_end:
            cursor = datetime.combine(cursor.date() + timedelta(days=1), hours.start, CHINA_TZ)
            continue
        end = cursor + duration
        if not any(b.venue_id == venue_id and overlaps(cursor, end, b.starts_at, b.ends_at, buffer) for b in bookings):
            found.append((cursor, end))
        cursor += step
    return found
