"""Meetings and scheduling: booking a clarification meeting without clashes (venue, official, working
hours, deadline), moving and cancelling it with its history, and proposing free slots. A held
meeting's record is in records.py. Services write what they changed (store.save); the edge commits."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime, timedelta

from sqlalchemy import select

from services.clarification import domain, store, venues
from services.clarification.domain import ClarificationStatus, Method
from services.clarification.models import Clarification, Meeting, Venue
from services.clarification.schemas import MeetingIn, RescheduleIn
from services.clarification.service import (
    ClarificationRules,
    announce,
    meeting_not_now,
    note_change,
    require,
    require_scheduled,
)
from shared.auth import Principal
from shared.calendar import china_time
from shared.db import utcnow
from shared.errors import Conflict
from shared.messages import Message
from shared.uow import UnitOfWork

LIVE = ("scheduled", "held")  # the meetings that occupy their venue and official


class SchedulingConflict(Conflict):
    code = "scheduling_conflict"


def _booking(meeting: Meeting) -> domain.Booking:
    return domain.Booking(meeting.id, meeting.starts_at, meeting.ends_at, meeting.venue_id, meeting.official_key)


def _listed(conflict: domain.Conflict) -> dict[str, object]:
    """A conflict as the 409 lists it: its fields, times in ISO 8601 China time."""
    return {name: china_time(value) if isinstance(value, datetime) else value
            for name, value in asdict(conflict).items()}


async def _bookings(uow: UnitOfWork, *, venue_id: str, official: str | None, around_start: datetime,
                    around_end: datetime, exclude: str | None = None) -> list[domain.Booking]:
    """Live meetings at the venue or of the official near the given interval (buffer and longest meeting)."""
    window = timedelta(hours=10)
    return [domain.Booking(*row) for row in await store.bookings(
        uow, venue_id=venue_id, official=official, since=around_start - window, until=around_end + window,
        statuses=LIVE, exclude=exclude)]


async def _check_slot(uow: UnitOfWork, clarification: Clarification, *, starts_at: datetime, minutes: int,
                      venue: Venue, rules: ClarificationRules, exclude: str | None = None) -> datetime:
    """The meeting's end, or 409 listing every conflict of the slot (the venue's hours apply)."""
    ends_at = starts_at + timedelta(minutes=minutes)
    # Hold the venue and the official until commit, so a concurrent booking sees this one or waits.
    await store.lock_names(uow, f"venue:{venue.id}", f"official:{clarification.official_key}")
    bookings = await _bookings(uow, venue_id=venue.id, official=clarification.official_key, around_start=starts_at,
                               around_end=ends_at, exclude=exclude)
    conflicts = domain.schedule_conflicts(
        starts_at=starts_at, ends_at=ends_at, venue_id=venue.id, official_key=clarification.official_key,
        bookings=bookings, is_working_day=rules.calendar.is_working_day, hours=venues.hours(venue),
        buffer=rules.buffer, deadline=clarification.deadline, now=utcnow())
    if conflicts:
        raise SchedulingConflict(Message("clarification.conflicts", count=len(conflicts),
                                         conflicts=[c.detail for c in conflicts]),
                                 conflicts=[_listed(c) for c in conflicts])
    return ends_at


async def schedule(*, uow: UnitOfWork, clarification: Clarification, principal: Principal, body: MeetingIn,
                   rules: ClarificationRules) -> Meeting:
    require(clarification, ClarificationStatus.in_progress, doing=Message("doing.schedule_meeting"))
    venue = await venues.bookable(uow=uow, principal=principal, venue_id=body.venue_id)
    ends_at = await _check_slot(uow, clarification, starts_at=body.starts_at, minutes=body.duration_minutes,
                                venue=venue, rules=rules)
    now = utcnow()
    meeting = Meeting(
        id=str(uuid.uuid4()), clarification_id=clarification.id, status="scheduled", starts_at=body.starts_at,
        ends_at=ends_at, venue_id=venue.id, venue_name=venue.name, venue_address=venue.address,
        official_key=clarification.official_key,
        host_organization=body.host_organization, scope=body.scope.value, invitees=body.invitees, history=[],
        sequence=0, created_by=principal.subject, created_at=now, updated_at=now)
    clarification.meetings.append(meeting)
    clarification.methods = sorted(m.value for m in domain.required_methods(
        {Method(m) for m in clarification.methods} | {Method.meeting}))
    clarification.scope = clarification.scope or body.scope.value
    clarification.updated_at = now
    announce(uow, clarification, meeting, "scheduled")
    uow.record_audit(actor=principal.subject, action="meeting.scheduled", object_type="meeting",
                     object_id=meeting.id, details={"starts_at": china_time(meeting.starts_at),
                                                    "venue_id": meeting.venue_id})
    await store.save(uow, meeting, clarification)
    return meeting


async def reschedule(*, uow: UnitOfWork, clarification: Clarification, meeting: Meeting, principal: Principal,
                     body: RescheduleIn, rules: ClarificationRules) -> Meeting:
    if meeting.status != "scheduled" or clarification.status != ClarificationStatus.in_progress:
        raise meeting_not_now(meeting, Message("doing.reschedule"))
    venue = await venues.bookable(uow=uow, principal=principal, venue_id=body.venue_id or meeting.venue_id)
    ends_at = await _check_slot(uow, clarification, starts_at=body.starts_at, minutes=body.duration_minutes,
                                venue=venue, rules=rules, exclude=meeting.id)
    note_change(meeting, "rescheduled", principal.subject, body.reason)
    meeting.starts_at, meeting.ends_at = body.starts_at, ends_at
    meeting.venue_id, meeting.venue_name, meeting.venue_address = venue.id, venue.name, venue.address
    announce(uow, clarification, meeting, "rescheduled")
    uow.record_audit(actor=principal.subject, action="meeting.rescheduled", object_type="meeting",
                     object_id=meeting.id, reason=body.reason, details={"starts_at": china_time(meeting.starts_at)})
    await store.save(uow, meeting)
    return meeting


async def cancel_meeting(*, uow: UnitOfWork, clarification: Clarification, meeting: Meeting, principal: Principal,
                         reason: str) -> Meeting:
    require_scheduled(meeting, doing=Message("doing.cancel"))
    note_change(meeting, "cancelled", principal.subject, reason)
    meeting.status = "cancelled"
    announce(uow, clarification, meeting, "cancelled")
    uow.record_audit(actor=principal.subject, action="meeting.cancelled", object_type="meeting",
                     object_id=meeting.id, reason=reason)
    await store.save(uow, meeting)
    return meeting


async def proposals(*, uow: UnitOfWork, venue: Venue, start_from: datetime, duration: timedelta, count: int,
                    rules: ClarificationRules) -> list[tuple[datetime, datetime]]:
    """The earliest free slots within the venue's hours (official-independent: who meets is not known
    yet). A retired venue has none."""
    if not venue.active:
        return []
    start = max(start_from, utcnow())
    horizon = timedelta(days=90)
    bookings = [_booking(m) for m in await uow.session.scalars(select(Meeting).where(
        Meeting.venue_id == venue.id, Meeting.status.in_(LIVE),
        Meeting.ends_at > start - rules.buffer, Meeting.starts_at < start + horizon))]
    return domain.free_slots(venue_id=venue.id, start_from=start, duration=duration, count=count,
                             bookings=bookings, is_working_day=rules.calendar.is_working_day, hours=venues.hours(venue),
                             buffer=rules.buffer, step=rules.slot_step, horizon_days=horizon.days)
