"""Clarification use cases: opening on verdicts (or for an officer), reading, and the steps the
other use cases share -- guards, plausible dates, closing, a meeting's history and its event.
Consent and methods are in consent.py, scheduling in meetings.py, what officers record as the
clarification is carried out (and its close) in records.py, the figures in stats.py.
Services flush; the edge (request or consumed event) commits."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from services.clarification import domain, store
from services.clarification.domain import ClarificationStatus
from services.clarification.models import Clarification, Meeting, VerdictSeen
from services.clarification.schemas import OpenIn
from shared.auth import Principal
from shared.calendar import WorkingCalendar, china_date, china_time
from shared.db import in_region, utcnow
from shared.errors import Conflict, InvalidRequest, NotFound
from shared.events import (
    ClarificationClosedV1,
    ClarificationMeetingScheduledV1,
    ClarificationOpenedV1,
    ReportVerifiedV1,
)
from shared.messages import Message, Term
from shared.queries import keyset_page
from shared.uow import UnitOfWork

SYSTEM = "system:report.verified"


class ClarificationNotFound(NotFound):
    code = "clarification_not_found"


class MeetingNotFound(NotFound):
    code = "meeting_not_found"


class NothingToClarify(Conflict):
    code = "nothing_to_clarify"


class NotAllowedNow(Conflict):
    code = "not_allowed_in_this_state"


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
    exempted = [a.model_dump(mode="json") for a in verdict.exempted_allegations]
    values = dict(verdict_id=verdict.verdict_id, case_id=verdict.case_id, version=verdict.version,
                  verdict=verdict.verdict, fault_tolerance_exempted=verdict.fault_tolerance_exempted,
                  region_code=verdict.region_code, subject=subject, refuted_allegations=refuted,
                  exempted_allegations=exempted,
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
            await _open(uow, seen, refuted, opened_by=SYSTEM, extra_grounds=[], rules=rules, exempted=exempted)
        elif live.status != ClarificationStatus.closed:
            live.verdict_id, live.case_id, live.verdict = verdict.verdict_id, verdict.case_id, verdict.verdict
            live.refuted_allegations, live.exempted_allegations = refuted, exempted
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
                extra_grounds: list[str], rules: ClarificationRules,
                exempted: list[dict[str, object]] | None = None) -> Clarification:
    """A clarification of the `refuted` allegations and of the `exempted` ones (found true, excused
    under fault tolerance), each cleared on its own basis."""
    grounds = sorted(set(seen.grounds) | set(extra_grounds))
    subject = seen.subject
    now = utcnow()
    clarification = Clarification(
        id=str(uuid.uuid4()), report_id=seen.report_id, case_id=seen.case_id, verdict_id=seen.verdict_id,
        verdict=seen.verdict, region_code=seen.region_code, subject_name=subject["name"],
        subject_position=subject["position"], subject_organization=subject["organization"],
        official_key=official_key(subject["name"], seen.region_code), refuted_allegations=refuted,
        exempted_allegations=exempted or [],
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
            note_change(meeting, "cancelled", SYSTEM, reason)
            meeting.status = "cancelled"
            announce(uow, clarification, meeting, "cancelled")
    close_as(uow, clarification, "cancelled", now)


async def open_by_officer(*, uow: UnitOfWork, principal: Principal, body: OpenIn, rules: ClarificationRules
                          ) -> Clarification:
    """Open a clarification for refuted allegations of a report whose verdict did not open one."""
    seen = await uow.session.get(VerdictSeen, body.report_id, with_for_update=True)
    if seen is None or not principal.serves(seen.region_code):
        raise ClarificationNotFound(Message("clarification.no_final_verdict", report_id=body.report_id))
    refused = domain.opening_by_hand_refused(seen.verdict)
    if refused is not None:
        raise NothingToClarify(refused, verdict=seen.verdict)
    if await _live_for_report(uow, body.report_id) is not None:
        raise NotAllowedNow(Message("clarification.already_open"))
    refuted = {str(a["allegation_id"]): a for a in seen.refuted_allegations}
    unknown = [i for i in body.allegation_ids if i not in refuted]
    if unknown:
        raise InvalidRequest(Message("clarification.only_refuted"), errors=[
            {"field": f"allegation_ids[{body.allegation_ids.index(i)}]",
             "message": Message("clarification.not_refuted"), "type": "not_refuted"} for i in unknown])
    clarification = await _open(uow, seen, [refuted[i] for i in body.allegation_ids], opened_by=principal.subject,
                                extra_grounds=[g.value for g in body.grounds], rules=rules)
    uow.record_audit(actor=principal.subject, action="clarification.opened", object_type="clarification",
                     object_id=clarification.id, details={"report_id": body.report_id,
                                                          "allegation_ids": body.allegation_ids})
    await uow.session.flush()
    return clarification


# --- steps the use cases share -------------------------------------------------------------------------


def require(clarification: Clarification, *statuses: ClarificationStatus, doing: Message) -> None:
    """409 naming what could not be done (`doing`, a "doing." message) unless the clarification is in
    one of `statuses`."""
    if clarification.status not in statuses:
        status = Term("clarification_status", clarification.status)
        raise NotAllowedNow(
            Message("clarification.not_now_closed", doing=doing, status=status,
                    outcome=Term("clarification_outcome", clarification.outcome)) if clarification.outcome
            else Message("clarification.not_now", doing=doing, status=status),
            clarification_status=clarification.status)


def require_scheduled(meeting: Meeting, *, doing: Message) -> None:
    """409 unless the meeting is still scheduled (held and cancelled ones are history)."""
    if meeting.status != "scheduled":
        raise meeting_not_now(meeting, doing)


def meeting_not_now(meeting: Meeting, doing: Message) -> NotAllowedNow:
    """The 409 for `doing` what a meeting in its status cannot undergo."""
    return NotAllowedNow(Message("clarification.meeting_not_now", status=Term("meeting_status", meeting.status),
                                 doing=doing))


def plausible(field: str, day: date, *, follows: datetime, event: Message, now: datetime) -> None:
    """422 naming `field` when `day` lies before the day of the `event` it follows or after the day of
    `now` (China time)."""
    problem = domain.implausible_day(field, day, follows=china_date(follows), event=event, today=china_date(now))
    if problem is not None:
        raise InvalidRequest(Message("clarification.field_problem", field=problem.field, problem=problem.message),
                             errors=[
            {"field": problem.field, "message": problem.message, "type": problem.type}])


def close_as(uow: UnitOfWork, clarification: Clarification, outcome: str, now: datetime) -> None:
    """Close the clarification with `outcome` (completed, declined or cancelled) and publish it."""
    clarification.status = ClarificationStatus.closed.value
    clarification.outcome = outcome
    clarification.closed_at = now
    clarification.updated_at = now
    held = sum(1 for m in clarification.meetings if m.status == "held")
    uow.raise_event(ClarificationClosedV1(
        clarification_id=clarification.id, report_id=clarification.report_id, outcome=outcome,  # type: ignore[arg-type]
        methods=clarification.methods, written_issued_on=clarification.written_issued_on, meetings_held=held,
        follow_up_due=clarification.follow_up_due, closed_at=now), key=clarification.report_id)


def note_change(meeting: Meeting, change: str, who: str, reason: str | None) -> None:
    """Keep the meeting's time and venue before `change` in its history, and bump its iCalendar sequence."""
    meeting.history = [*meeting.history, {
        "change": change, "starts_at": china_time(meeting.starts_at), "ends_at": china_time(meeting.ends_at),
        "venue_id": meeting.venue_id, "venue_name": meeting.venue_name, "by": who, "reason": reason,
        "at": china_time(utcnow())}]
    meeting.sequence += 1
    meeting.updated_at = utcnow()


def announce(uow: UnitOfWork, clarification: Clarification, meeting: Meeting, change: str) -> None:
    """Publish the meeting as it now stands (scheduled, rescheduled or cancelled)."""
    uow.raise_event(ClarificationMeetingScheduledV1(
        clarification_id=clarification.id, report_id=clarification.report_id, meeting_id=meeting.id,
        change=change, starts_at=meeting.starts_at, ends_at=meeting.ends_at,  # type: ignore[arg-type]
        venue_id=meeting.venue_id, host_organization=meeting.host_organization, scope=meeting.scope),
        key=clarification.report_id)


# --- reading -------------------------------------------------------------------------------------------


async def get(*, uow: UnitOfWork, clarification_id: str, principal: Principal, for_update: bool = False
              ) -> Clarification:
    """The clarification with its meetings in the principal's jurisdiction (404 otherwise); locked `for_update`.
    Read on Core statements (store.py): the steps change it and `store.save` writes what they changed."""
    clarification = await store.clarification(uow, clarification_id=clarification_id, for_update=for_update)
    if clarification is None or not principal.serves(clarification.region_code):
        raise ClarificationNotFound(Message("clarification.not_found", clarification_id=clarification_id))
    return clarification


async def get_meeting(*, uow: UnitOfWork, meeting_id: str, principal: Principal, for_update: bool = False
                      ) -> tuple[Clarification, Meeting]:
    """The meeting and its clarification (with all its meetings), found by the meeting's id; 404 when
    there is none or it lies outside the principal's jurisdiction. Locked `for_update`."""
    clarification = await store.clarification(uow, meeting_id=meeting_id, for_update=for_update)
    meeting = None if clarification is None or not principal.serves(clarification.region_code) else next(
        (m for m in clarification.meetings if m.id == meeting_id), None)
    if clarification is None or meeting is None:
        raise MeetingNotFound(Message("clarification.meeting_not_found", meeting_id=meeting_id))
    return clarification, meeting


async def list_clarifications(
    *, uow: UnitOfWork, principal: Principal, report_id: str | None, status: str | None, follow_up_overdue: bool,
    region: str | None, cursor: str | None, limit: int,
) -> tuple[list[Clarification], str | None]:
    effective = principal.narrow(region)
    if effective is None:
        return [], None
    stmt = (select(Clarification).where(in_region(Clarification.region_code, effective))
            .options(selectinload(Clarification.meetings)))
    if report_id is not None:
        stmt = stmt.where(Clarification.report_id == report_id)
    if status is not None:
        stmt = stmt.where(Clarification.status == status)
    if follow_up_overdue:
        stmt = stmt.where(Clarification.follow_up_due <= china_date(utcnow()),
                          Clarification.follow_up_done_on.is_(None))
    return await keyset_page(uow.session, stmt, at=Clarification.opened_at, ident=Clarification.id, cursor=cursor,
                             limit=limit)
