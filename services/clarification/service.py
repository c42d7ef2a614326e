"""Clarification use cases. Services flush; the edge (request or consumed event) commits."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from services.clarification import domain
from services.clarification.domain import ClarificationStatus, Method
from services.clarification.models import Clarification, Meeting, VerdictSeen
from services.clarification.schemas import (
    ConsentIn,
    FollowUpIn,
    MeetingIn,
    OpenIn,
    PlanIn,
    RecordIn,
    RescheduleIn,
    WrittenIn,
)
from shared.auth import Principal
from shared.calendar import WorkingCalendar, china_date, local_day_bounds
from shared.db import in_region, lock_names, utcnow
from shared.errors import Conflict, InvalidRequest, NotFound
from shared.events import (
    ClarificationClosedV1,
    ClarificationMeetingHeldV1,
    ClarificationMeetingScheduledV1,
    ClarificationOpenedV1,
    ReportVerifiedV1,
)
from shared.pagination import cursor_filter, page_after
from shared.uow import UnitOfWork

SYSTEM = "system:report.verified"


class ClarificationNotFound(NotFound):
    code = "clarification_not_found"
    title = "Clarification not found"


class MeetingNotFound(NotFound):
    code = "meeting_not_found"
    title = "Meeting not found"


class NotAllowedNow(Conflict):
    code = "not_allowed_in_this_state"
    title = "Not possible in the current state"


class SchedulingConflict(Conflict):
    code = "scheduling_conflict"
    title = "The meeting cannot be held then"



@dataclass(frozen=True)
class ClarificationRules:
    calendar: WorkingCalendar
    deadline_days: int = 30
    follow_up_days: int = 90
    buffer: timedelta = timedelta(minutes=30)
    hours: domain.WorkingHours = field(default_factory=domain.WorkingHours)
    slot_step: timedelta = timedelta(minutes=30)


def official_key(name: str, region_code: str) -> str:
    """Who the official is, for booking clashes: the same name in the same county-level region."""
    return hashlib.sha256(f"{name.strip()}|{region_code}".encode()).hexdigest()


# --- opening and cancelling on verdicts ----------------------------------------------------------------


async def on_verdict(*, uow: UnitOfWork, verdict: ReportVerifiedV1, rules: ClarificationRules) -> None:
    """Keep clarifications in step with the newest final verdict of each report."""
    seen = await uow.session.get(VerdictSeen, verdict.report_id, with_for_update=True)
    if seen is not None and verdict.version <= seen.version:
        return  # an older or repeated verdict: the newer one already decided
    subject = verdict.subject.model_dump(mode="json") if verdict.subject else {
        "name": "", "position": "", "organization": "", "region_code": verdict.region_code}
    refuted = [a.model_dump(mode="json") for a in verdict.refuted_allegations] or [
        {"allegation_id": a, "summary": ""} for a in verdict.refuted_allegation_ids]
    values = dict(verdict_id=verdict.verdict_id, case_id=verdict.case_id, version=verdict.version,
                  verdict=verdict.verdict, fault_tolerance_exempted=verdict.fault_tolerance_exempted,
                  region_code=verdict.region_code, subject=subject, refuted_allegations=refuted,
                  grounds=list(verdict.clarification_grounds), concluded_at=verdict.concluded_at)
    if seen is None:
        seen = VerdictSeen(report_id=verdict.report_id, **values)
        uow.session.add(seen)
    else:
        for name, value in values.items():
            setattr(seen, name, value)
    live = await _live_for_report(uow, verdict.report_id)
    if domain.qualifies(verdict.verdict, verdict.fault_tolerance_exempted):
        if live is None:
            await _open(uow, seen, refuted, opened_by=SYSTEM, extra_grounds=[], rules=rules)
        elif live.status != ClarificationStatus.closed:
            live.verdict_id, live.case_id, live.verdict = verdict.verdict_id, verdict.case_id, verdict.verdict
            live.refuted_allegations = refuted
            live.grounds = sorted(set(live.grounds) | set(verdict.clarification_grounds))
            live.mandatory = domain.mandatory(live.grounds)
            live.updated_at = utcnow()
    elif live is not None and live.status != ClarificationStatus.closed:
        await _cancel(uow, live, reason=f"superseded by a {verdict.verdict} verdict")
    await uow.session.flush()


async def _live_for_report(uow: UnitOfWork, report_id: str) -> Clarification | None:
    return await uow.session.scalar(
        select(Clarification).where(Clarification.report_id == report_id,
                                    Clarification.outcome.is_distinct_from("cancelled"))
        .options(selectinload(Clarification.meetings)).with_for_update(of=Clarification))


async def _open(uow: UnitOfWork, seen: VerdictSeen, refuted: list[dict[str, object]], *, opened_by: str,
                extra_grounds: list[str], rules: ClarificationRules) -> Clarification:
    grounds = sorted(set(seen.grounds) | set(extra_grounds))
    subject = seen.subject
    now = utcnow()
    clarification = Clarification(
        id=str(uuid.uuid4()), report_id=seen.report_id, case_id=seen.case_id, verdict_id=seen.verdict_id,
        verdict=seen.verdict, region_code=seen.region_code, subject_name=subject["name"],
        subject_position=subject["position"], subject_organization=subject["organization"],
        official_key=official_key(subject["name"], seen.region_code), refuted_allegations=refuted,
        grounds=grounds, mandatory=domain.mandatory(grounds), status=ClarificationStatus.pending_consent.value,
        opened_by=opened_by, opened_at=now,
        deadline=china_date(seen.concluded_at) + timedelta(days=rules.deadline_days),
        methods=[], updated_at=now,
    )
    clarification.meetings = []
    uow.session.add(clarification)
    uow.raise_event(ClarificationOpenedV1(
        clarification_id=clarification.id, report_id=clarification.report_id, case_id=clarification.case_id,
        verdict_id=clarification.verdict_id, region_code=clarification.region_code,
        mandatory=clarification.mandatory,
        refuted_allegation_ids=[str(a["allegation_id"]) for a in refuted], deadline=clarification.deadline,
        opened_at=now), key=clarification.report_id)
    return clarification


async def _cancel(uow: UnitOfWork, clarification: Clarification, *, reason: str) -> None:
    now = utcnow()
    for meeting in clarification.meetings:
        if meeting.status == "scheduled":
            _change(meeting, "cancelled", SYSTEM, reason)
            meeting.status = "cancelled"
            _announce(uow, clarification, meeting, "cancelled")
    _close(uow, clarification, "cancelled", now)


def _close(uow: UnitOfWork, clarification: Clarification, outcome: str, now: datetime) -> None:
    clarification.status = ClarificationStatus.closed.value
    clarification.outcome = outcome
    clarification.closed_at = now
    clarification.updated_at = now
    held = sum(1 for m in clarification.meetings if m.status == "held")
    uow.raise_event(ClarificationClosedV1(
        clarification_id=clarification.id, report_id=clarification.report_id, outcome=outcome,  # type: ignore[arg-type]
        methods=clarification.methods, written_issued_on=clarification.written_issued_on, meetings_held=held,
        follow_up_due=clarification.follow_up_due, closed_at=now), key=clarification.report_id)


async def open_by_officer(*, uow: UnitOfWork, principal: Principal, body: OpenIn, rules: ClarificationRules
                          ) -> Clarification:
    """Open a clarification for refuted allegations of a report whose verdict did not open one."""
    seen = await uow.session.get(VerdictSeen, body.report_id, with_for_update=True)
    if seen is None or not principal.serves(seen.region_code):
        raise ClarificationNotFound(f"no final verdict for report {body.report_id} in your jurisdiction")
    if await _live_for_report(uow, body.report_id) is not None:
        raise NotAllowedNow("this report already has a clarification")
    refuted = {str(a["allegation_id"]): a for a in seen.refuted_allegations}
    unknown = [i for i in body.allegation_ids if i not in refuted]
    if unknown:
        raise InvalidRequest("only refuted allegations can be clarified", errors=[
            {"field": f"allegation_ids[{body.allegation_ids.index(i)}]", "message": "not a refuted allegation",
             "type": "not_refuted"} for i in unknown])
    clarification = await _open(uow, seen, [refuted[i] for i in body.allegation_ids], opened_by=principal.subject,
                                extra_grounds=[g.value for g in body.grounds], rules=rules)
    uow.record_audit(actor=principal.subject, action="clarification.opened", object_type="clarification",
                     object_id=clarification.id, details={"report_id": body.report_id,
                                                          "allegation_ids": body.allegation_ids})
    await uow.session.flush()
    return clarification


# --- reading -------------------------------------------------------------------------------------------


async def get(*, uow: UnitOfWork, clarification_id: str, principal: Principal, for_update: bool = False
              ) -> Clarification:
    stmt = select(Clarification).where(Clarification.id == clarification_id).options(
        selectinload(Clarification.meetings))
    if for_update:
        stmt = stmt.with_for_update(of=Clarification)
    clarification = await uow.session.scalar(stmt)
    if clarification is None or not principal.serves(clarification.region_code):
        raise ClarificationNotFound(f"no clarification {clarification_id} in your jurisdiction")
    return clarification


async def get_meeting(*, uow: UnitOfWork, meeting_id: str, principal: Principal, for_update: bool = False
                      ) -> tuple[Clarification, Meeting]:
    meeting = await uow.session.scalar(select(Meeting).where(Meeting.id == meeting_id))
    if meeting is None:
        raise MeetingNotFound(f"no meeting {meeting_id} in your jurisdiction")
    try:
        clarification = await get(uow=uow, clarification_id=meeting.clarification_id, principal=principal,
                                  for_update=for_update)
    except ClarificationNotFound as exc:
        raise MeetingNotFound(f"no meeting {meeting_id} in your jurisdiction") from exc
    return clarification, next(m for m in clarification.meetings if m.id == meeting_id)


async def list_clarifications(
    *, uow: UnitOfWork, principal: Principal, report_id: str | None, status: str | None, follow_up_overdue: bool,
    region: str | None, cursor: str | None, limit: int,
) -> tuple[list[Clarification], str | None]:
    effective = principal.narrow(region)
    if effective is None:
        return [], None
    stmt = (select(Clarification).where(in_region(Clarification.region_code, effective))
            .options(selectinload(Clarification.meetings))
            .order_by(Clarification.opened_at, Clarification.id).limit(limit + 1))
    if report_id is not None:
        stmt = stmt.where(Clarification.report_id == report_id)
    if status is not None:
        stmt = stmt.where(Clarification.status == status)
    if follow_up_overdue:
        stmt = stmt.where(Clarification.follow_up_due <= china_date(utcnow()),
                          Clarification.follow_up_done_on.is_(None))
    after = cursor_filter(Clarification.opened_at, Clarification.id, cursor)
    if after is not None:
        stmt = stmt.where(after)
    rows = list((await uow.session.scalars(stmt)).all())
    return page_after(rows, limit, at="opened_at", ident="id")


# --- consent, plan, written --------------------------------------------------------------------------


def _plausible(field: str, day: date, *, follows: datetime, event: str) -> None:
    """422 naming `field` when `day` lies before the day of the `event` it follows or after today (China time)."""
    problem = domain.implausible_day(field, day, follows=china_date(follows), event=event,
                                     today=china_date(utcnow()))
    if problem is not None:
        raise InvalidRequest(f"{problem.field}: {problem.message}", errors=[
            {"field": problem.field, "message": problem.message, "type": problem.type}])


def _require(clarification: Clarification, *statuses: ClarificationStatus, doing: str) -> None:
    if clarification.status not in statuses:
        raise NotAllowedNow(f"cannot {doing}: the clarification is {clarification.status}"
                            + (f" ({clarification.outcome})" if clarification.outcome else ""),
                            clarification_status=clarification.status)


async def record_consent(*, uow: UnitOfWork, clarification: Clarification, principal: Principal,
                         body: ConsentIn) -> Clarification:
    _require(clarification, ClarificationStatus.pending_consent, doing="record consent")
    now = utcnow()
    if body.given_at is not None:
        _plausible("given_at", china_date(body.given_at), follows=clarification.opened_at,
                   event="the clarification was opened")
    clarification.consent = body.consent
    clarification.consent_recorded_by = principal.subject
    clarification.consent_given_at = body.given_at or now
    clarification.updated_at = now
    uow.record_audit(actor=principal.subject, action="consent.recorded", object_type="clarification",
                     object_id=clarification.id, reason=body.notes or None, details={"consent": body.consent})
    if body.consent:
        clarification.status = ClarificationStatus.in_progress.value
    else:
        _close(uow, clarification, "declined", now)
    await uow.session.flush()
    return clarification


async def set_plan(*, uow: UnitOfWork, clarification: Clarification, principal: Principal, body: PlanIn
                   ) -> Clarification:
    _require(clarification, ClarificationStatus.pending_consent, ClarificationStatus.in_progress,
             doing="change the methods")
    methods = domain.required_methods(body.methods)
    clarification.methods = sorted(m.value for m in methods)
    if body.scope is not None:
        clarification.scope = body.scope.value
    if body.grounds is not None:
        clarification.grounds = sorted(set(clarification.grounds) | {g.value for g in body.grounds})
        clarification.mandatory = domain.mandatory(clarification.grounds)
    clarification.updated_at = utcnow()
    uow.record_audit(actor=principal.subject, action="plan.recorded", object_type="clarification",
                     object_id=clarification.id, details=body.model_dump(mode="json"))
    await uow.session.flush()
    return clarification


async def issue_written(*, uow: UnitOfWork, clarification: Clarification, principal: Principal, body: WrittenIn
                        ) -> Clarification:
    _require(clarification, ClarificationStatus.in_progress, doing="issue the written clarification")
    _plausible("issued_on", body.issued_on, follows=clarification.opened_at, event="the clarification was opened")
    clarification.written_issued_on = body.issued_on
    clarification.written_reference = body.reference
    if Method.written.value not in clarification.methods:
        clarification.methods = sorted({*clarification.methods, Method.written.value})
    clarification.updated_at = utcnow()
    uow.record_audit(actor=principal.subject, action="written.issued", object_type="clarification",
                     object_id=clarification.id, details=body.model_dump(mode="json"))
    await uow.session.flush()
    return clarification


async def close(*, uow: UnitOfWork, clarification: Clarification, principal: Principal, rules: ClarificationRules
                ) -> Clarification:
    """Complete the clarification: its record goes to the official's integrity file, a follow-up falls due."""
    _require(clarification, ClarificationStatus.in_progress, doing="close")
    blockers = domain.closing_blockers(
        consented=clarification.consent, methods={Method(m) for m in clarification.methods},
        written_issued=clarification.written_issued_on is not None,
        meetings_held=sum(1 for m in clarification.meetings if m.status == "held"))
    if blockers:
        raise NotAllowedNow("the clarification cannot close yet: " + "; ".join(blockers), blockers=blockers)
    now = utcnow()
    clarification.follow_up_due = china_date(now) + timedelta(days=rules.follow_up_days)
    _close(uow, clarification, "completed", now)
    uow.record_audit(actor=principal.subject, action="clarification.closed", object_type="clarification",
                     object_id=clarification.id, details={"follow_up_due": str(clarification.follow_up_due)})
    await uow.session.flush()
    return clarification


async def record_follow_up(*, uow: UnitOfWork, clarification: Clarification, principal: Principal,
                           body: FollowUpIn) -> Clarification:
    if clarification.outcome != "completed" or clarification.closed_at is None:
        raise NotAllowedNow("a follow-up visit comes after a completed clarification")
    _plausible("visited_on", body.visited_on, follows=clarification.closed_at, event="the clarification was closed")
    clarification.follow_up_done_on = body.visited_on
    clarification.follow_up_notes = body.notes
    clarification.follow_up_by = principal.subject
    clarification.updated_at = utcnow()
    uow.record_audit(actor=principal.subject, action="follow_up.recorded", object_type="clarification",
                     object_id=clarification.id, details={"visited_on": str(body.visited_on)})
    await uow.session.flush()
    return clarification


# --- meetings --------------------------------------------------------------------------------------------


async def _bookings(uow: UnitOfWork, *, venue_id: str, official: str | None, around_start: datetime,
                    around_end: datetime, exclude: str | None = None) -> list[domain.Booking]:
    """Live meetings at the venue or of the official near the given interval (buffer and longest meeting)."""
    window = timedelta(hours=10)
    who = [Meeting.venue_id == venue_id] + ([Meeting.official_key == official] if official else [])
    stmt = select(Meeting).where(
        or_(*who), Meeting.status.in_(("scheduled", "held")),
        Meeting.starts_at < around_end + window, Meeting.ends_at > around_start - window)
    if exclude is not None:
        stmt = stmt.where(Meeting.id != exclude)
    return [domain.Booking(m.id, m.starts_at, m.ends_at, m.venue_id, m.official_key)
            for m in await uow.session.scalars(stmt)]


async def _check_slot(uow: UnitOfWork, clarification: Clarification, *, starts_at: datetime, minutes: int,
                      venue_id: str, rules: ClarificationRules, exclude: str | None = None) -> datetime:
    ends_at = starts_at + timedelta(minutes=minutes)
    # Hold the venue and the official until commit, so a concurrent booking sees this one or waits.
    await lock_names(uow.session, f"venue:{venue_id}", f"official:{clarification.official_key}")
    bookings = await _bookings(uow, venue_id=venue_id, official=clarification.official_key, around_start=starts_at,
                               around_end=ends_at, exclude=exclude)
    conflicts = domain.schedule_conflicts(
        starts_at=starts_at, ends_at=ends_at, venue_id=venue_id, official_key=clarification.official_key,
        bookings=bookings, is_working_day=rules.calendar.is_working_day, hours=rules.hours, buffer=rules.buffer,
        deadline=clarification.deadline, now=utcnow())
    if conflicts:
        raise SchedulingConflict(
            f"{len(conflicts)} conflict(s): " + "; ".join(c.detail for c in conflicts),
            conflicts=[{"kind": c.kind, "detail": c.detail, "meeting_id": c.meeting_id,
                        "starts_at": c.starts_at.isoformat() if c.starts_at else None,
                        "ends_at": c.ends_at.isoformat() if c.ends_at else None} for c in conflicts])
    return ends_at


def _change(meeting: Meeting, change: str, who: str, reason: str | None) -> None:
    meeting.history = [*meeting.history, {
        "change": change, "starts_at": meeting.starts_at.isoformat(), "ends_at": meeting.ends_at.isoformat(),
        "venue_id": meeting.venue_id, "by": who, "reason": reason, "at": utcnow().isoformat()}]
    meeting.sequence += 1
    meeting.updated_at = utcnow()


def _announce(uow: UnitOfWork, clarification: Clarification, meeting: Meeting, change: str) -> None:
    uow.raise_event(ClarificationMeetingScheduledV1(
        clarification_id=clarification.id, report_id=clarification.report_id, meeting_id=meeting.id,
        change=change, starts_at=meeting.starts_at, ends_at=meeting.ends_at,  # type: ignore[arg-type]
        venue_id=meeting.venue_id, host_organization=meeting.host_organization, scope=meeting.scope),
        key=clarification.report_id)


async def schedule(*, uow: UnitOfWork, clarification: Clarification, principal: Principal, body: MeetingIn,
                   rules: ClarificationRules) -> Meeting:
    _require(clarification, ClarificationStatus.in_progress, doing="schedule a meeting (consent comes first)")
    ends_at = await _check_slot(uow, clarification, starts_at=body.starts_at, minutes=body.duration_minutes,
                                venue_id=body.venue_id, rules=rules)
    now = utcnow()
    meeting = Meeting(
        id=str(uuid.uuid4()), clarification_id=clarification.id, status="scheduled", starts_at=body.starts_at,
        ends_at=ends_at, venue_id=body.venue_id, official_key=clarification.official_key,
        host_organization=body.host_organization, scope=body.scope.value, invitees=body.invitees, history=[],
        sequence=0, created_by=principal.subject, created_at=now, updated_at=now)
    uow.session.add(meeting)
    clarification.meetings.append(meeting)
    clarification.methods = sorted(m.value for m in domain.required_methods(
        {Method(m) for m in clarification.methods} | {Method.meeting}))
    clarification.scope = clarification.scope or body.scope.value
    clarification.updated_at = now
    _announce(uow, clarification, meeting, "scheduled")
    uow.record_audit(actor=principal.subject, action="meeting.scheduled", object_type="meeting",
                     object_id=meeting.id, details={"starts_at": meeting.starts_at.isoformat(),
                                                    "venue_id": meeting.venue_id})
    await uow.session.flush()
    return meeting


async def reschedule(*, uow: UnitOfWork, clarification: Clarification, meeting: Meeting, principal: Principal,
                     body: RescheduleIn, rules: ClarificationRules) -> Meeting:
    if meeting.status != "scheduled" or clarification.status != ClarificationStatus.in_progress:
        raise NotAllowedNow(f"a {meeting.status} meeting cannot be rescheduled")
    venue_id = body.venue_id or meeting.venue_id
    ends_at = await _check_slot(uow, clarification, starts_at=body.starts_at, minutes=body.duration_minutes,
                                venue_id=venue_id, rules=rules, exclude=meeting.id)
    _change(meeting, "rescheduled", principal.subject, body.reason)
    meeting.starts_at, meeting.ends_at, meeting.venue_id = body.starts_at, ends_at, venue_id
    _announce(uow, clarification, meeting, "rescheduled")
    uow.record_audit(actor=principal.subject, action="meeting.rescheduled", object_type="meeting",
                     object_id=meeting.id, reason=body.reason, details={"starts_at": meeting.starts_at.isoformat()})
    await uow.session.flush()
    return meeting


async def cancel_meeting(*, uow: UnitOfWork, clarification: Clarification, meeting: Meeting, principal: Principal,
                         reason: str) -> Meeting:
    if meeting.status != "scheduled":
        raise NotAllowedNow(f"a {meeting.status} meeting cannot be cancelled")
    _change(meeting, "cancelled", principal.subject, reason)
    meeting.status = "cancelled"
    _announce(uow, clarification, meeting, "cancelled")
    uow.record_audit(actor=principal.subject, action="meeting.cancelled", object_type="meeting",
                     object_id=meeting.id, reason=reason)
    await uow.session.flush()
    return meeting


async def record_meeting(*, uow: UnitOfWork, clarification: Clarification, meeting: Meeting, principal: Principal,
                         body: RecordIn) -> Meeting:
    if meeting.status != "scheduled":
        raise NotAllowedNow(f"a {meeting.status} meeting cannot be recorded as held")
    now = utcnow()
    if now < meeting.starts_at:
        raise NotAllowedNow(f"the meeting starts at {meeting.starts_at.isoformat()}; record it after it was held")
    meeting.status = "held"
    meeting.attendance, meeting.minutes_summary = body.attendance, body.minutes_summary
    meeting.bulletin_issued = body.bulletin_issued
    meeting.held_recorded_by, meeting.held_recorded_at = principal.subject, now
    meeting.updated_at = now
    if body.bulletin_issued and Method.bulletin.value not in clarification.methods:
        clarification.methods = sorted({*clarification.methods, Method.bulletin.value, Method.written.value})
    uow.raise_event(ClarificationMeetingHeldV1(
        clarification_id=clarification.id, report_id=clarification.report_id, meeting_id=meeting.id,
        held_at=meeting.starts_at, attendance=body.attendance, bulletin_issued=body.bulletin_issued,
        scope=meeting.scope, venue_id=meeting.venue_id), key=clarification.report_id)
    uow.record_audit(actor=principal.subject, action="meeting.held", object_type="meeting", object_id=meeting.id,
                     details={"attendance": body.attendance, "bulletin_issued": body.bulletin_issued})
    await uow.session.flush()
    return meeting


async def proposals(*, uow: UnitOfWork, venue_id: str, start_from: datetime, duration: timedelta, count: int,
                    rules: ClarificationRules) -> list[tuple[datetime, datetime]]:
    """The earliest free slots at a venue (official-independent: who meets is not known yet)."""
    start = max(start_from, utcnow())
    horizon = timedelta(days=90)
    bookings = [domain.Booking(m.id, m.starts_at, m.ends_at, m.venue_id, m.official_key)
                for m in await uow.session.scalars(select(Meeting).where(
                    Meeting.venue_id == venue_id, Meeting.status.in_(("scheduled", "held")),
                    Meeting.ends_at > start - rules.buffer, Meeting.starts_at < start + horizon))]
    return domain.free_slots(venue_id=venue_id, start_from=start, duration=duration, count=count,
                             bookings=bookings, is_working_day=rules.calendar.is_working_day, hours=rules.hours,
                             buffer=rules.buffer, step=rules.slot_step, horizon_days=horizon.days)


# --- statistics --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Stats:
    region: str
    opened: int
    mandatory: int
    consented: int
    declined: int
    completed: int
    cancelled: int
    meetings_held: int
    bulletins_issued: int
    follow_ups_done: int


async def stats(*, uow: UnitOfWork, principal: Principal, region: str | None, opened_from: date | None,
                opened_to: date | None) -> Stats:
    effective = principal.within(region)
    conditions = [in_region(Clarification.region_code, effective)]
    start, end = local_day_bounds(opened_from, opened_to)
    if start is not None:
        conditions.append(Clarification.opened_at >= start)
    if end is not None:
        conditions.append(Clarification.opened_at < end)

    def count_if(condition: Any) -> Any:
        return func.coalesce(func.sum(sql_case((condition, 1), else_=0)), 0)

    row = (await uow.session.execute(select(
        func.count(), count_if(Clarification.mandatory.is_(True)), count_if(Clarification.consent.is_(True)),
        count_if(Clarification.outcome == "declined"), count_if(Clarification.outcome == "completed"),
        count_if(Clarification.outcome == "cancelled"), count_if(Clarification.follow_up_done_on.is_not(None)),
    ).where(*conditions))).one()
    held, bulletins = (await uow.session.execute(
        select(func.count(), count_if(Meeting.bulletin_issued.is_(True)))
        .join(Clarification, Clarification.id == Meeting.clarification_id)
        .where(*conditions, Meeting.status == "held"))).one()
    return Stats(effective, int(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5]),
                 int(held), int(bulletins), int(row[6]))
