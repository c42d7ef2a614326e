"""Clarification HTTP routes: parse, authorize, call the service, shape the response."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from services.clarification import consent, meetings, records, service, stats, typical_cases, venues
from services.clarification.domain import ClarificationStatus
from services.clarification.ics import meeting_calendar
from services.clarification.meetings import SchedulingConflict
from services.clarification.models import Clarification, Meeting
from services.clarification.schemas import (
    BulletinIn,
    CancelIn,
    ClarificationOut,
    ClarificationPage,
    ClarificationStats,
    ConsentIn,
    FollowUpIn,
    FreeSlots,
    MeetingIn,
    MeetingOut,
    OpenIn,
    PlanIn,
    RecordIn,
    RescheduleIn,
    SlotOut,
    TypicalCaseBulletinIn,
    TypicalCaseBulletinOut,
    TypicalCaseBulletinPage,
    VenueIn,
    VenueOut,
    VenuePage,
    WrittenIn,
)
from services.clarification.service import ClarificationNotFound, MeetingNotFound, NotAllowedNow, NothingToClarify
from services.clarification.venues import VenueNotFound
from shared.auth import Principal, RegionOutsideJurisdiction
from shared.db import utcnow
from shared.errors import InvalidRequest
from shared.pagination import InvalidCursor
from shared.schemas import Moment
from shared.web import RegionPrefix, UoW, authorized, problems, resources

router = APIRouter(prefix="/v1")
Reader = Annotated[Principal, authorized("clarification:read")]
Writer = Annotated[Principal, authorized("clarification:write")]
Id = Annotated[str, Path(max_length=36)]
VenuePath = Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9_.\-\u4e00-\u9fff]+$",
                                description="the venue's id in the register, e.g. wuxing-hall-3")]
# The 409 of a slot that clashes: each conflict with its kind, the clashing meeting and its time.
CONFLICT_EXAMPLE: dict[int, dict[str, Any]] = {409: {
    "type": "https://zhengming.example/problems/scheduling_conflict",
    "title": "The meeting cannot be held then", "status": 409,
    "code": "scheduling_conflict", "detail": "1 conflict(s): venue hall-3 is booked",
    "instance": "/v1/clarifications/…/meetings",
    "conflicts": [{"kind": "venue_booked", "detail": "venue hall-3 is booked",
                   "meeting_id": "…", "starts_at": "2026-11-24T09:00:00+08:00",
                   "ends_at": "2026-11-24T10:00:00+08:00"}]}}
# Every change to a clarification finds it, locked, in a state that allows the change.
CHANGE = (ClarificationNotFound, NotAllowedNow)
MEETING_CHANGE = (MeetingNotFound, NotAllowedNow)


def rules(request: Request) -> service.ClarificationRules:
    return resources(service.ClarificationRules)(request)  # the service's resources are its rules


def meeting_out(m: Meeting) -> MeetingOut:
    return MeetingOut.model_validate(m)


def clarification_out(c: Clarification) -> ClarificationOut:
    return ClarificationOut.model_validate(c)


async def changed(uow: UoW, principal: Principal, clarification_id: str,
                  step: Callable[[Clarification], Awaitable[object]]) -> ClarificationOut:
    """Lock the clarification, take `step` on it, commit, and answer with the clarification as it now is."""
    c = await service.get(uow=uow, clarification_id=clarification_id, principal=principal, for_update=True)
    await step(c)
    await uow.commit()
    return clarification_out(c)


async def meeting_changed(uow: UoW, principal: Principal, meeting_id: str,
                          step: Callable[[Clarification, Meeting], Awaitable[object]]) -> MeetingOut:
    """Lock the meeting's clarification, take `step` on the meeting, commit, and answer with the meeting."""
    c, m = await service.get_meeting(uow=uow, meeting_id=meeting_id, principal=principal, for_update=True)
    await step(c, m)
    await uow.commit()
    return meeting_out(m)


@router.get("/clarifications", response_model=ClarificationPage, responses=problems(InvalidCursor),
            tags=["clarifications"], operation_id="list_clarifications",
            summary="List clarifications in your jurisdiction",
            description="`overdue=follow_up` lists completed clarifications whose follow-up visit is due.")
async def list_clarifications(
    uow: UoW, principal: Reader,
    report_id: Annotated[str | None, Query(max_length=36)] = None,
    status: ClarificationStatus | None = None,
    overdue: Annotated[str | None, Query(pattern=r"^follow_up$")] = None,
    region: RegionPrefix = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ClarificationPage:
    items, next_cursor = await service.list_clarifications(
        uow=uow, principal=principal, report_id=report_id, status=status.value if status else None,
        follow_up_overdue=overdue == "follow_up", region=region, cursor=cursor, limit=limit)
    return ClarificationPage(items=[clarification_out(c) for c in items], next_cursor=next_cursor)


@router.post("/clarifications", response_model=ClarificationOut, status_code=201, tags=["clarifications"],
             responses=problems(ClarificationNotFound, NothingToClarify, NotAllowedNow, InvalidRequest),
             operation_id="open_clarification",
             summary="Open a clarification for refuted allegations of a partially true report",
             description="409 `nothing_to_clarify` for a report found inconclusive (无法查实): unverifiable is not "
             "untrue. 409 `not_allowed_in_this_state` when the report already has a clarification.")
async def open_clarification(body: OpenIn, request: Request, uow: UoW, principal: Writer) -> ClarificationOut:
    c = await service.open_by_officer(uow=uow, principal=principal, body=body, rules=rules(request))
    await uow.commit()
    return clarification_out(c)


@router.get("/clarifications/{clarification_id}", response_model=ClarificationOut, tags=["clarifications"],
            responses=problems(ClarificationNotFound), operation_id="get_clarification",
            summary="Read one clarification with its meetings")
async def get_clarification(clarification_id: Id, uow: UoW, principal: Reader) -> ClarificationOut:
    return clarification_out(await service.get(uow=uow, clarification_id=clarification_id, principal=principal))


@router.post("/clarifications/{clarification_id}/consent", response_model=ClarificationOut,
             tags=["clarifications"], responses=problems(*CHANGE, InvalidRequest), operation_id="record_consent",
             summary="Record the official's consent", description="Declining closes the clarification. A "
             "`given_at` before the day the clarification was opened, or after today (China time), is 422 naming "
             "`given_at`.")
async def post_consent(clarification_id: Id, body: ConsentIn, uow: UoW, principal: Writer) -> ClarificationOut:
    return await changed(uow, principal, clarification_id,
                         lambda c: consent.record_consent(uow=uow, clarification=c, principal=principal, body=body))


@router.put("/clarifications/{clarification_id}/plan", response_model=ClarificationOut, tags=["clarifications"],
            responses=problems(*CHANGE), operation_id="set_clarification_plan",
            summary="Choose methods, scope and mandatory grounds",
            description="In person, a meeting or a bulletin always adds a written clarification.")
async def put_plan(clarification_id: Id, body: PlanIn, uow: UoW, principal: Writer) -> ClarificationOut:
    return await changed(uow, principal, clarification_id,
                         lambda c: consent.set_plan(uow=uow, clarification=c, principal=principal, body=body))


@router.post("/clarifications/{clarification_id}/written", response_model=ClarificationOut,
             tags=["clarifications"], responses=problems(*CHANGE, InvalidRequest),
             operation_id="record_written_clarification",
             summary="Record the written clarification as issued",
             description="An `issued_on` before the day the clarification was opened, or after today (China "
             "time), is 422 naming `issued_on`.")
async def post_written(clarification_id: Id, body: WrittenIn, uow: UoW, principal: Writer) -> ClarificationOut:
    return await changed(uow, principal, clarification_id,
                         lambda c: records.issue_written(uow=uow, clarification=c, principal=principal, body=body))


@router.post("/clarifications/{clarification_id}/bulletin", response_model=ClarificationOut,
             tags=["clarifications"], responses=problems(*CHANGE, InvalidRequest), operation_id="record_bulletin",
             summary="Record the bulletin (通报) that published the clarification",
             description="For a plan with a bulletin, once, after consent: when, by whom, where and under which "
             "document number. A bulletin clarification cannot close without it, and the figures count it. "
             "An `issued_on` before consent or after today (China time) is 422 naming `issued_on`.")
async def post_bulletin(clarification_id: Id, body: BulletinIn, uow: UoW, principal: Writer) -> ClarificationOut:
    return await changed(uow, principal, clarification_id,
                         lambda c: records.record_bulletin(uow=uow, clarification=c, principal=principal, body=body))


@router.post("/clarifications/{clarification_id}/close", response_model=ClarificationOut, tags=["clarifications"],
             responses=problems(*CHANGE), operation_id="close_clarification",
             summary="Complete the clarification",
             description="Needs consent, the written clarification when required and a held meeting when a "
             "meeting was chosen (409 lists what is missing). The record goes to the official's integrity "
             "file (`clarification.closed.v1`) and a follow-up visit falls due.")
async def post_close(clarification_id: Id, request: Request, uow: UoW, principal: Writer) -> ClarificationOut:
    return await changed(uow, principal, clarification_id, lambda c: records.close(
        uow=uow, clarification=c, principal=principal, rules=rules(request)))


@router.post("/clarifications/{clarification_id}/follow-up", response_model=ClarificationOut,
             tags=["clarifications"], responses=problems(*CHANGE, InvalidRequest), operation_id="record_follow_up",
             summary="Record the follow-up visit (回访)",
             description="After the clarification completed; a `visited_on` before the day it closed, or after "
             "today (China time), is 422 naming `visited_on`.")
async def post_follow_up(clarification_id: Id, body: FollowUpIn, uow: UoW, principal: Writer) -> ClarificationOut:
    return await changed(uow, principal, clarification_id, lambda c: records.record_follow_up(
        uow=uow, clarification=c, principal=principal, body=body))


@router.post("/clarifications/{clarification_id}/meetings", response_model=MeetingOut, status_code=201,
             tags=["meetings"], operation_id="schedule_meeting",
             responses=problems(*CHANGE, InvalidRequest, SchedulingConflict, examples=CONFLICT_EXAMPLE),
             summary="Schedule a clarification meeting",
             description="409 with `conflicts` when the venue or the official is booked (with buffer), outside "
             "working hours or on a non-working day (Asia/Shanghai), or after the deadline.")
async def post_meeting(clarification_id: Id, body: MeetingIn, request: Request, uow: UoW, principal: Writer
                       ) -> MeetingOut:
    c = await service.get(uow=uow, clarification_id=clarification_id, principal=principal, for_update=True)
    m = await meetings.schedule(uow=uow, clarification=c, principal=principal, body=body, rules=rules(request))
    await uow.commit()
    return meeting_out(m)


@router.get("/venues/{venue_id}/free-slots", response_model=FreeSlots, tags=["venues"],
            responses=problems(VenueNotFound), operation_id="list_free_slots",
            summary="The earliest free slots at a venue",
            description="Within the venue's bookable hours on working days (Asia/Shanghai); a retired venue has "
            "none. 404 when the venue is not in the register of your jurisdiction.")
async def get_free_slots(
    venue_id: VenuePath,
    request: Request, uow: UoW, principal: Reader,
    from_: Annotated[Moment | None, Query(alias="from", description="default: now")] = None,
    duration: Annotated[int, Query(ge=15, le=480, description="minutes")] = 60,
    count: Annotated[int, Query(ge=1, le=50)] = 5,
) -> FreeSlots:
    venue = await venues.get(uow=uow, principal=principal, venue_id=venue_id)
    slots = await meetings.proposals(uow=uow, venue=venue, start_from=from_ or utcnow(),
                                     duration=timedelta(minutes=duration), count=count, rules=rules(request))
    return FreeSlots(venue_id=venue.id, venue=VenueOut.model_validate(venue),
                     slots=[SlotOut(starts_at=s, ends_at=e) for s, e in slots])


@router.put("/venues/{venue_id}", response_model=VenueOut, tags=["venues"], responses={
    201: {"model": VenueOut, "description": "registered"},
    **problems(RegionOutsideJurisdiction, VenueNotFound, InvalidRequest)}, operation_id="register_venue",
    summary="Register a venue or replace its entry",
    description="Name, address and bookable hours (local Asia/Shanghai time; omitted hours keep the entry's, or "
    "take the service's working day for a new venue). `active: false` retires it: its meetings stay, no new ones "
    "are booked there. Meetings keep the name and address they were booked with. 201 when new, 200 when replaced; "
    "the region must lie in your jurisdiction.")
async def put_venue(venue_id: VenuePath, body: VenueIn, request: Request, response: Response, uow: UoW,
                    principal: Writer) -> VenueOut:
    venue, created = await venues.register(uow=uow, principal=principal, venue_id=venue_id, body=body,
                                           default_hours=rules(request).hours)
    await uow.commit()
    response.status_code = 201 if created else 200
    return VenueOut.model_validate(venue)


@router.get("/venues/{venue_id}", response_model=VenueOut, tags=["venues"], responses=problems(VenueNotFound),
            operation_id="get_venue", summary="Read one venue of the register")
async def get_venue(venue_id: VenuePath, uow: UoW, principal: Reader) -> VenueOut:
    return VenueOut.model_validate(await venues.get(uow=uow, principal=principal, venue_id=venue_id))


@router.get("/venues", response_model=VenuePage, tags=["venues"],
            responses=problems(RegionOutsideJurisdiction, InvalidCursor), operation_id="list_venues",
            summary="The venue register of your jurisdiction")
async def list_venues(
    uow: UoW, principal: Reader, region: RegionPrefix = None,
    active: Annotated[bool | None, Query(description="true: bookable venues only; false: retired ones")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None, limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> VenuePage:
    rows, next_cursor = await venues.listed(uow=uow, principal=principal, region=region, active=active,
                                            cursor=cursor, limit=limit)
    return VenuePage(items=[VenueOut.model_validate(v) for v in rows], next_cursor=next_cursor)


# The .ics route comes first: `{meeting_id}` alone would also match `…/<id>.ics`.
@router.get("/meetings/{meeting_id}.ics", tags=["meetings"], responses={
    200: {"content": {"text/calendar": {}}, "description": "an iCalendar file with one event"},
    **problems(MeetingNotFound)}, operation_id="get_meeting_calendar", summary="The meeting as iCalendar",
    response_class=Response)
async def get_meeting_ics(meeting_id: Id, uow: UoW, principal: Reader) -> Response:
    c, m = await service.get_meeting(uow=uow, meeting_id=meeting_id, principal=principal)
    body = meeting_calendar(meeting_id=m.id, status=m.status, starts_at=m.starts_at, ends_at=m.ends_at,
                            venue_id=m.venue_id, venue_name=m.venue_name, venue_address=m.venue_address,
                            host_organization=m.host_organization, scope=m.scope,
                            subject_name=c.subject_name, subject_organization=c.subject_organization,
                            sequence=m.sequence, updated_at=m.updated_at)
    return Response(body, media_type="text/calendar; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="meeting-{m.id}.ics"'})


@router.get("/meetings/{meeting_id}", response_model=MeetingOut, tags=["meetings"],
            responses=problems(MeetingNotFound), operation_id="get_meeting",
            summary="Read one meeting with its history")
async def get_meeting(meeting_id: Id, uow: UoW, principal: Reader) -> MeetingOut:
    _, m = await service.get_meeting(uow=uow, meeting_id=meeting_id, principal=principal)
    return meeting_out(m)


@router.post("/meetings/{meeting_id}/reschedule", response_model=MeetingOut, tags=["meetings"],
             responses=problems(*MEETING_CHANGE, InvalidRequest, SchedulingConflict, examples=CONFLICT_EXAMPLE),
             operation_id="reschedule_meeting", summary="Move a meeting (kept in history)")
async def post_reschedule(meeting_id: Id, body: RescheduleIn, request: Request, uow: UoW, principal: Writer
                          ) -> MeetingOut:
    return await meeting_changed(uow, principal, meeting_id, lambda c, m: meetings.reschedule(
        uow=uow, clarification=c, meeting=m, principal=principal, body=body, rules=rules(request)))


@router.post("/meetings/{meeting_id}/cancel", response_model=MeetingOut, tags=["meetings"],
             responses=problems(*MEETING_CHANGE), operation_id="cancel_meeting",
             summary="Cancel a meeting (kept in history)")
async def post_cancel(meeting_id: Id, body: CancelIn, uow: UoW, principal: Writer) -> MeetingOut:
    return await meeting_changed(uow, principal, meeting_id, lambda c, m: meetings.cancel_meeting(
        uow=uow, clarification=c, meeting=m, principal=principal, reason=body.reason))


@router.post("/meetings/{meeting_id}/record", response_model=MeetingOut, tags=["meetings"],
             responses=problems(*MEETING_CHANGE), operation_id="record_meeting", summary="Record a held meeting",
             description="Attendance, a minutes summary and whether a bulletin was issued; after the start time.")
async def post_record(meeting_id: Id, body: RecordIn, uow: UoW, principal: Writer) -> MeetingOut:
    return await meeting_changed(uow, principal, meeting_id, lambda c, m: records.record_meeting(
        uow=uow, clarification=c, meeting=m, principal=principal, body=body))


@router.get("/stats", response_model=ClarificationStats, tags=["statistics"],
            responses=problems(RegionOutsideJurisdiction), operation_id="get_clarification_stats",
            summary="Clarification figures by region and period")
async def get_stats(uow: UoW, principal: Reader, region: RegionPrefix = None, opened_from: date | None = None,
                    opened_to: date | None = None) -> ClarificationStats:
    return await stats.stats(uow=uow, principal=principal, region=region, opened_from=opened_from,
                             opened_to=opened_to)


# --- typical false-accusation case bulletins ------------------------------------------------------------


@router.post("/typical-case-bulletins", response_model=TypicalCaseBulletinOut, status_code=201, tags=["statistics"],
             responses=problems(*CHANGE, InvalidRequest), operation_id="issue_typical_case_bulletin",
             summary="Issue a typical false-accusation case bulletin (通报典型案例)",
             description="For a report whose final verdict is malicious, once. The accuser is named only by "
             "surname and asterisks (`王**`); anything else is 422. Counted apart from clarification bulletins "
             "in `GET /v1/stats`.")
async def post_typical_case_bulletin(body: TypicalCaseBulletinIn, uow: UoW, principal: Writer
                                     ) -> TypicalCaseBulletinOut:
    bulletin = await typical_cases.issue(uow=uow, principal=principal, body=body)
    await uow.commit()
    return TypicalCaseBulletinOut.model_validate(bulletin)


@router.get("/typical-case-bulletins", response_model=TypicalCaseBulletinPage, tags=["statistics"],
            responses=problems(RegionOutsideJurisdiction, InvalidCursor), operation_id="list_typical_case_bulletins",
            summary="Typical false-accusation case bulletins in your jurisdiction")
async def list_typical_case_bulletins(
    uow: UoW, principal: Reader, region: RegionPrefix = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None, limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TypicalCaseBulletinPage:
    rows, next_cursor = await typical_cases.listed(uow=uow, principal=principal, region=region, cursor=cursor,
                                                   limit=limit)
    return TypicalCaseBulletinPage(items=[TypicalCaseBulletinOut.model_validate(r) for r in rows],
                                   next_cursor=next_cursor)

