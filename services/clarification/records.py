"""What officers record as a clarification is carried out, and its close: the written clarification
issued, a meeting held, the completion (the record for the official's integrity file) and the
follow-up visit. Services write what they changed (store.save); the edge commits."""

from __future__ import annotations

from datetime import timedelta

from services.clarification import domain, store
from services.clarification.domain import ClarificationStatus, Method
from services.clarification.models import Clarification, Meeting
from services.clarification.schemas import BulletinIn, FollowUpIn, RecordIn, WrittenIn
from services.clarification.service import (
    ClarificationRules,
    NotAllowedNow,
    close_as,
    plausible,
    require,
    require_scheduled,
)
from shared.auth import Principal
from shared.calendar import china_date, china_time
from shared.db import utcnow
from shared.events import ClarificationMeetingHeldV1
from shared.messages import Message
from shared.uow import UnitOfWork


async def issue_written(*, uow: UnitOfWork, clarification: Clarification, principal: Principal, body: WrittenIn
                        ) -> Clarification:
    """Record the written clarification as issued (it joins the methods if it was not chosen)."""
    require(clarification, ClarificationStatus.in_progress, doing=Message("doing.issue_written"))
    now = utcnow()
    plausible("issued_on", body.issued_on, follows=clarification.opened_at,
              event=Message("event.clarification_opened"), now=now)
    clarification.written_issued_on = body.issued_on
    clarification.written_reference = body.reference
    if Method.written.value not in clarification.methods:
        clarification.methods = sorted({*clarification.methods, Method.written.value})
    clarification.updated_at = now
    uow.record_audit(actor=principal.subject, action="written.issued", object_type="clarification",
                     object_id=clarification.id, details=body.model_dump(mode="json"))
    await store.save(uow, clarification)
    return clarification


async def record_bulletin(*, uow: UnitOfWork, clarification: Clarification, principal: Principal, body: BulletinIn
                          ) -> Clarification:
    """Record the bulletin (通报) a bulletin clarification was published by: once, after consent."""
    require(clarification, ClarificationStatus.in_progress, doing=Message("doing.record_bulletin"))
    if Method.bulletin.value not in clarification.methods:
        raise NotAllowedNow(Message("clarification.no_bulletin_planned"))
    if clarification.bulletin_issued_on is not None:
        raise NotAllowedNow(Message("clarification.bulletin_recorded", issued_on=clarification.bulletin_issued_on))
    now = utcnow()
    plausible("issued_on", body.issued_on, follows=clarification.consent_given_at or clarification.opened_at,
              event=Message("event.official_consented"), now=now)
    clarification.bulletin_issued_on = body.issued_on
    clarification.bulletin = {**body.model_dump(mode="json"), "recorded_by": principal.subject,
                              "recorded_at": china_time(now)}
    clarification.updated_at = now
    uow.record_audit(actor=principal.subject, action="bulletin.recorded", object_type="clarification",
                     object_id=clarification.id, details=body.model_dump(mode="json"))
    await store.save(uow, clarification)
    return clarification


async def record_meeting(*, uow: UnitOfWork, clarification: Clarification, meeting: Meeting, principal: Principal,
                         body: RecordIn) -> Meeting:
    """Record a scheduled meeting as held, once it has started, and publish it."""
    require_scheduled(meeting, doing=Message("doing.record_held"))
    now = utcnow()
    if now < meeting.starts_at:
        raise NotAllowedNow(Message("clarification.meeting_not_held_yet", starts_at=china_time(meeting.starts_at)))
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
    await store.save(uow, meeting, clarification)
    return meeting


async def close(*, uow: UnitOfWork, clarification: Clarification, principal: Principal, rules: ClarificationRules
                ) -> Clarification:
    """Complete the clarification: its record goes to the official's integrity file, a follow-up falls due."""
    require(clarification, ClarificationStatus.in_progress, doing=Message("doing.close"))
    blockers = domain.closing_blockers(
        consented=clarification.consent, methods={Method(m) for m in clarification.methods},
        written_issued=clarification.written_issued_on is not None,
        meetings_held=sum(1 for m in clarification.meetings if m.status == "held"),
        bulletin_recorded=clarification.bulletin_issued_on is not None)
    if blockers:
        raise NotAllowedNow(Message("clarification.cannot_close", blockers=blockers), blockers=blockers)
    now = utcnow()
    clarification.follow_up_due = china_date(now) + timedelta(days=rules.follow_up_days)
    close_as(uow, clarification, "completed", now)
    uow.record_audit(actor=principal.subject, action="clarification.closed", object_type="clarification",
                     object_id=clarification.id, details={"follow_up_due": str(clarification.follow_up_due)})
    await store.save(uow, clarification)
    return clarification


async def record_follow_up(*, uow: UnitOfWork, clarification: Clarification, principal: Principal,
                           body: FollowUpIn) -> Clarification:
    """Record the follow-up visit after a completed clarification."""
    if clarification.outcome != "completed" or clarification.closed_at is None:
        raise NotAllowedNow(Message("clarification.follow_up_after_completion"))
    now = utcnow()
    plausible("visited_on", body.visited_on, follows=clarification.closed_at,
              event=Message("event.clarification_closed"), now=now)
    clarification.follow_up_done_on = body.visited_on
    clarification.follow_up_notes = body.notes
    clarification.follow_up_by = principal.subject
    clarification.updated_at = now
    uow.record_audit(actor=principal.subject, action="follow_up.recorded", object_type="clarification",
                     object_id=clarification.id, details={"visited_on": str(body.visited_on)})
    await store.save(uow, clarification)
    return clarification
