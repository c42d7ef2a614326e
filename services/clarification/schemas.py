"""Request and response bodies of the clarification API."""

from __future__ import annotations

from datetime import date, time
from typing import Annotated

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)

from services.clarification.domain import Ground, Method, Scope
from shared.messages import Message
from shared.schemas import ChinaTime, Moment, StrictModel

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=2000)]
Notes = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
# A time of day at a venue, local to Asia/Shanghai and without offset ("08:30"): what an office writes
# on its door. JSON Schema's `format: time` would demand an offset, so the wire format is a pattern.
LOCAL_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"
LocalTime = Annotated[time, PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
                      WithJsonSchema({"type": "string", "pattern": LOCAL_TIME, "examples": ["08:30"]})]
VenueId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100,
                                           pattern=r"^[A-Za-z0-9_.\-\u4e00-\u9fff]+$")]


class OpenIn(StrictModel):
    """Open a clarification for the refuted allegations of a report whose verdict did not open one
    by itself (typically a partially true report)."""

    report_id: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    allegation_ids: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=36)]],
                              Field(min_length=1, max_length=20)]
    grounds: Annotated[list[Ground], Field(max_length=3)] = Field(default_factory=list)

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "report_id": "3ad296af-b9ea-4929-98ed-f46747279fff",
        "allegation_ids": ["a0547fad-f25b-4725-9b21-66e5d6d3ba09"],
        "grounds": ["affected_selection_election_transfer_awards"]}]})


class ConsentIn(StrictModel):
    consent: bool = Field(description="true: the official agrees to be clarified; false closes the case")
    given_at: Moment | None = Field(default=None, description="when the official answered (default: now); its "
                                    "day (China time) lies between the clarification's opening and today")
    notes: Notes = ""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"consent": True, "given_at": "2026-11-23T10:00:00+08:00", "notes": "本人同意召开澄清通报会。"}]})


class PlanIn(StrictModel):
    methods: Annotated[list[Method], Field(min_length=1, max_length=4)]
    scope: Scope | None = Field(default=None, description="where the accusation spread; needed for a meeting")
    grounds: Annotated[list[Ground], Field(max_length=3)] | None = Field(
        default=None, description="mandatory grounds found by the officer (adds to those on the verdict)")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"methods": ["meeting", "written"], "scope": "unit", "grounds": ["harmed_rights_work_life"]}]})


class WrittenIn(StrictModel):
    issued_on: date = Field(description="the day the written clarification was issued: between the day the "
                            "clarification was opened and today (China time)")
    reference: Text200 = Field(description="document number of the written clarification")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"issued_on": "2026-11-25", "reference": "吴纪澄〔2026〕12号"}]})


class MeetingIn(StrictModel):
    starts_at: Moment = Field(description="with an offset, e.g. 2026-11-24T09:00:00+08:00")
    duration_minutes: Annotated[int, Field(ge=15, le=480)]
    venue_id: VenueId
    host_organization: Text200
    scope: Scope
    invitees: Annotated[list[Text200], Field(max_length=200)] = Field(default_factory=list)

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "starts_at": "2026-11-24T09:00:00+08:00", "duration_minutes": 60, "venue_id": "wuxing-hall-3",
        "host_organization": "吴兴区纪委监委", "scope": "unit",
        "invitees": ["湖州市吴兴区自然资源局全体干部", "区纪委监委派驻纪检组"]}]})


class RescheduleIn(StrictModel):
    starts_at: Moment
    duration_minutes: Annotated[int, Field(ge=15, le=480)]
    venue_id: VenueId | None = Field(default=None, description="a new venue, or keep the current one")
    reason: Reason

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "starts_at": "2026-11-25T14:00:00+08:00", "duration_minutes": 60, "reason": "当事人出差，改期。"}]})


class CancelIn(StrictModel):
    reason: Reason

    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "当事人改为书面澄清。"}]})


class RecordIn(StrictModel):
    attendance: Annotated[int, Field(ge=0, le=100_000)]
    minutes_summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=10_000)]
    bulletin_issued: bool

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "attendance": 46, "minutes_summary": "通报了核查结论，澄清了收受礼金的不实反映。", "bulletin_issued": True}]})


class FollowUpIn(StrictModel):
    visited_on: date = Field(description="the day of the visit: between the day the clarification was closed "
                             "and today (China time)")
    notes: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=5000)]

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"visited_on": "2027-02-20", "notes": "回访：本人工作状态良好，单位评价积极。"}]})


class MeetingChangeOut(BaseModel):
    """A meeting's time and venue before one change (kept in its history)."""

    change: str = Field(description="rescheduled or cancelled")
    starts_at: ChinaTime
    ends_at: ChinaTime
    venue_id: str
    venue_name: str | None = Field(default=None, description="the venue's name then (absent before the register)")
    by: str
    reason: str | None
    at: ChinaTime = Field(description="when the change was made")


class MeetingOut(BaseModel):
    id: str
    clarification_id: str
    status: str
    starts_at: ChinaTime
    ends_at: ChinaTime
    venue_id: str
    venue_name: str | None = Field(description="the venue's name when it was booked or moved there (null for "
                                   "meetings booked before the venue register)")
    venue_address: str | None = Field(description="the venue's address then")
    host_organization: str
    scope: str
    invitees: list[str]
    history: list[MeetingChangeOut] = Field(description="earlier times, venues and cancellations, oldest first")
    attendance: int | None
    minutes_summary: str | None
    bulletin_issued: bool | None

    model_config = ConfigDict(from_attributes=True)


class AllegationOut(BaseModel):
    allegation_id: str
    category: str | None = None
    summary: str


class ExemptionReasonOut(BaseModel):
    condition: str = Field(description="one of the three distinctions or the five checks, e.g. no_benefit_transfer")
    text: str


class ExemptedAllegationOut(AllegationOut):
    reasons: list[ExemptionReasonOut] = Field(description="the fault-tolerance conditions that held")


class BulletinIn(StrictModel):
    """The bulletin (通报) that publishes a clarification."""

    issued_on: date
    issuing_body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=200)] = Field(
        description="who issued it, e.g. 吴兴区纪委监委")
    scope: Scope = Field(description="where it was published: the scope the accusation spread in")
    document_number: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] = Field(
        description="its document number, e.g. 吴纪通〔2026〕5号")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "issued_on": "2026-11-27", "issuing_body": "吴兴区纪委监委", "scope": "unit",
        "document_number": "吴纪通〔2026〕5号"}]})


# The accuser as a typical-case bulletin shows them: a surname and asterisks (王**), never a name.
AccuserShown = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[\u4e00-\u9fff]{1,2}\*{1,3}$")]


class TypicalCaseBulletinIn(BulletinIn):
    """A typical false-accusation case bulletin (通报典型案例) for a final malicious verdict."""

    report_id: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    accuser_shown: AccuserShown = Field(description="the accuser's surname and asterisks only, e.g. 王**")
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=2000)] = Field(
        description="what the case was, as published")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "report_id": "3ad296af-b9ea-4929-98ed-f46747279fff", "issued_on": "2026-11-27",
        "issuing_body": "吴兴区纪委监委", "scope": "county", "document_number": "吴纪通〔2026〕9号",
        "accuser_shown": "王**", "summary": "王某捏造事实诬告陷害某局副局长，经查属实，已依规依纪严肃处理。"}]})


class TypicalCaseBulletinOut(BaseModel):
    id: str
    report_id: str
    region_code: str
    issued_on: date
    issuing_body: str
    scope: str
    document_number: str
    accuser_shown: str
    summary: str
    issued_by: str
    recorded_at: ChinaTime

    model_config = ConfigDict(from_attributes=True)


class TypicalCaseBulletinPage(BaseModel):
    items: list[TypicalCaseBulletinOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class BulletinOut(BaseModel):
    issued_on: date
    issuing_body: str
    scope: str
    document_number: str
    recorded_by: str
    recorded_at: ChinaTime


class ClarificationOut(BaseModel):
    id: str
    report_id: str
    case_id: str | None
    verdict: str
    region_code: str
    subject_name: str
    subject_position: str
    subject_organization: str
    basis: list[str] = Field(description="`refuted` (the report was untrue) and/or `fault_tolerance_exemption` "
                             "(found true, but the conduct is excused: 容错免责)")
    refuted_allegations: list[AllegationOut] = Field(description="cleared as untrue")
    exempted_allegations: Annotated[list[ExemptedAllegationOut], BeforeValidator(lambda v: v or [])] = Field(
        default_factory=list, description="found true, cleared of blame under fault tolerance, with the reasons")
    statement: list[str] = Field(description="what the written clarification and the bulletin say, one sentence "
                                             "per allegation with its basis")
    grounds: list[str]
    mandatory: bool
    status: str
    outcome: str | None
    deadline: date
    consent: bool | None
    consent_given_at: ChinaTime | None
    methods: list[str]
    required_methods: list[str]
    scope: str | None
    written_issued_on: date | None
    written_reference: str | None
    bulletin: BulletinOut | None = Field(description="the bulletin, for a clarification published by one")
    meetings: list[MeetingOut]
    opened_at: ChinaTime
    closed_at: ChinaTime | None
    follow_up_due: date | None
    follow_up_done_on: date | None

    model_config = ConfigDict(from_attributes=True)


class ClarificationPage(BaseModel):
    items: list[ClarificationOut]
    next_cursor: str | None


class SlotOut(BaseModel):
    starts_at: ChinaTime
    ends_at: ChinaTime


class VenueIn(StrictModel):
    """A venue in the register of its region (name, address, bookable hours in Asia/Shanghai time)."""

    region_code: Annotated[str, Field(pattern=r"^[0-9]{6}$", description="6-digit administrative division code "
                                      "of the venue; within your jurisdiction")]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=100)]
    address: Annotated[str, StringConstraints(strip_whitespace=True, min_length=4, max_length=200)]
    opens_at: LocalTime | None = Field(default=None, description="local time (no offset) from which meetings may "
                                  "start; default: the service's working day start")
    closes_at: LocalTime | None = Field(default=None, description="local time by which meetings must end; default: "
                                   "the service's working day end")
    active: bool = Field(default=True, description="false retires the venue: its meetings stay, no new ones")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "region_code": "330502", "name": "吴兴区纪委监委三楼会议室", "address": "浙江省湖州市吴兴区青铜路88号",
        "opens_at": "08:30", "closes_at": "17:30"}]})

    @field_validator("opens_at", "closes_at")
    @classmethod
    def local(cls, value: time | None, info: ValidationInfo) -> time | None:
        if value is not None and value.tzinfo is not None:
            raise ValueError(Message("value.local_time"))
        opens_at = info.data.get("opens_at")
        if info.field_name == "closes_at" and value is not None and opens_at is not None and value <= opens_at:
            raise ValueError(Message("value.closes_after_opens"))
        return value


class VenueOut(BaseModel):
    id: str
    region_code: str
    name: str
    address: str
    opens_at: LocalTime = Field(description="local Asia/Shanghai time")
    closes_at: LocalTime = Field(description="local Asia/Shanghai time")
    active: bool
    updated_by: str
    updated_at: ChinaTime

    model_config = ConfigDict(from_attributes=True)


class VenuePage(BaseModel):
    items: list[VenueOut]
    next_cursor: str | None


class FreeSlots(BaseModel):
    venue_id: str
    venue: VenueOut = Field(description="the venue as registered: name, address and bookable hours")
    slots: list[SlotOut]


class ClarificationStats(BaseModel):
    region: str
    opened_from: date | None
    opened_to: date | None
    opened: int
    mandatory: int
    consented: int
    declined: int
    completed: int
    cancelled: int
    meetings_held: int
    bulletins_issued: int = Field(description="bulletins recorded for clarifications opened in the period")
    typical_case_bulletins: int = Field(description="typical false-accusation case bulletins issued in the period")
    follow_ups_done: int
