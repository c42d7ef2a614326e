"""Request and response bodies of the intake API."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

from services.intake.domain import province_exists
from shared.identity import ResidentIdNumber
from shared.messages import Message
from shared.schemas import ChinaTime, Reason, StrictModel


class Channel(StrEnum):
    """How the report arrived:

    - `letter` (来信): by post.
    - `visit` (来访): in person at the office.
    - `online` (网络): through the online reporting platform.
    - `phone` (电话): by telephone.
    - `hotline_12388` (12388 举报电话): the 12388 discipline-inspection reporting hotline.
    - `transferred` (转办): passed on by another organ."""

    letter = "letter"
    visit = "visit"
    online = "online"
    phone = "phone"
    hotline_12388 = "hotline_12388"
    transferred = "transferred"


class Category(StrEnum):
    """What an allegation is about:

    - `bribery` (受贿行贿): taking or giving bribes.
    - `embezzlement` (贪污挪用): embezzling or misappropriating public funds.
    - `abuse_of_power` (滥用职权): abusing the official's power.
    - `dereliction` (失职渎职): neglect of duty.
    - `work_style` (作风问题): the official's conduct and work style (e.g. the eight-point rules).
    - `discipline_violation` (违反纪律): other breaches of Party or state discipline.
    - `other` (其他): anything else."""

    bribery = "bribery"
    embezzlement = "embezzlement"
    abuse_of_power = "abuse_of_power"
    dereliction = "dereliction"
    work_style = "work_style"
    discipline_violation = "discipline_violation"
    other = "other"


Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class SubjectIn(StrictModel):
    name: Text100
    position: Text100
    organization: Text200
    region_code: Annotated[str, Field(pattern=r"^[0-9]{6}$", description="6-digit administrative division code")]

    @field_validator("region_code")
    @classmethod
    def _province_exists(cls, value: str) -> str:
        if not province_exists(value):
            raise ValueError(Message("value.province_prefix", prefix=value[:2]))
        return value


class AllegationIn(StrictModel):
    category: Category
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=5000)]
    occurred_on: date | None = None
    place: Text200 | None = None


class ReporterIn(StrictModel):
    anonymous: bool
    name: Text100 | None = None
    id_number: ResidentIdNumber | None = Field(
        default=None, description="Resident identity card number (18 characters, checksum verified)"
    )
    phone: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9\- ]{5,20}$")] | None = None
    address: Text200 | None = None

    @model_validator(mode="after")
    def _identity_matches_anonymity(self) -> Self:
        given = [f for f in ("name", "id_number", "phone", "address") if getattr(self, f) is not None]
        if self.anonymous and given:
            raise ValueError(Message("value.anonymous_with_identity", fields=", ".join(given)))
        if not self.anonymous and (self.name is None or self.id_number is None):
            raise ValueError(Message("value.named_reporter_fields"))
        return self


class ReportIn(StrictModel):
    channel: Channel
    subject: SubjectIn
    allegations: Annotated[list[AllegationIn], Field(min_length=1, max_length=20)]
    reporter: ReporterIn
    external_ref: Text100 | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "channel": "online",
                    "subject": {
                        "name": "王某某",
                        "position": "副局长",
                        "organization": "某县自然资源局",
                        "region_code": "330502",
                    },
                    "allegations": [
                        {
                            "category": "bribery",
                            "summary": "在土地出让过程中收受开发商礼金人民币十万元。",
                            "occurred_on": "2026-03-15",
                            "place": "某县城关镇",
                        }
                    ],
                    "reporter": {"anonymous": False, "name": "李某", "id_number": "11010519491231002X"},
                    "external_ref": "XF-2026-000123",
                }
            ]
        },
    )


class ReportCreated(BaseModel):
    id: str
    receipt_code: str = Field(description="Shown once; lets the reporter follow the report's status")
    status: str
    flags: list[str] = Field(description="near_duplicate, repeat_after_conclusion (the report is accepted)")
    linked_report_ids: list[str]


class SubjectOut(BaseModel):
    name: str
    position: str
    organization: str
    region_code: str


class AllegationOut(BaseModel):
    id: str
    category: str
    summary: str
    occurred_on: date | None
    place: str | None


class ReportOut(BaseModel):
    """A report as officers see it: never the reporter's identity, only whether it is anonymous."""

    id: str
    channel: str
    status: str = Field(description="received, then concluded once verification's final verdict arrives")
    outcome: str | None = Field(description="true, untrue, malicious or inconclusive once concluded")
    subject: SubjectOut
    allegations: list[AllegationOut]
    anonymous: bool
    flags: list[str]
    linked_report_ids: list[str]
    acceptance_notice_due: date | None = Field(
        description="The reporter, named or anonymous, must be told of acceptance by this date (15 working days); "
        "null for anonymous reports received before the receipt channel existed"
    )
    acceptance_notice_at: ChinaTime | None = Field(description="When the acceptance notice was posted to the reporter")
    unread_messages: int = Field(description="The reporter's messages no officer has read yet")
    external_ref: str | None
    received_at: ChinaTime
    concluded_at: ChinaTime | None


class ReportPage(BaseModel):
    items: list[ReportOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class ReceiptStatus(BaseModel):
    """What a reporter may know: nothing about the subject or the findings."""

    status: str
    received_on: date
    outcome: str | None


class ReporterIdentity(BaseModel):
    """The reporter, as released: to an officer with an approved request, every field; to
    credit_blacklist for a listing, the name and ID number only (the rest null)."""

    report_id: str
    anonymous: bool
    name: str | None
    id_number: str | None
    phone: str | None
    address: str | None
    released_under: str = Field(description="`identity_request:<id>` or `listing:<verdict id>`")


class IdentityRequestIn(StrictModel):
    reason: Reason = Field(description="Why the identity is needed, as a sentence (15 letters or digits at least)")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"reason": "核查中需当面向举报人核实所反映土地出让问题的具体细节和证据来源。"}]})


class IdentityDecisionIn(StrictModel):
    decision: Literal["approved", "refused"] = Field(
        description="`approved` (批准): the requester may read the identity once before the request expires; "
                    "`refused` (不予批准): they may not")
    reason: Reason = Field(description="Why, as a sentence")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"decision": "approved", "reason": "核查确需当面核实，范围限于本案，同意一次性查阅。"}]})


class IdentityAccessRequestOut(BaseModel):
    """An identity-access request: who asked, why, who decided, and whether it was used."""

    id: str
    report_id: str
    region_code: str
    status: str = Field(description="pending, approved, refused, released (used once) or expired (approved, unused "
                                    "past `expires_at`)")
    requested_by: str
    requester_org_level: str
    reason: str
    requested_at: ChinaTime
    decided_by: str | None
    decider_org_level: str | None
    decision_reason: str | None
    decided_at: ChinaTime | None
    expires_at: ChinaTime | None = Field(description="An approved request must be used before this moment")
    released_at: ChinaTime | None


class IdentityAccessRequestPage(BaseModel):
    items: list[IdentityAccessRequestOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class ReportStats(BaseModel):
    region: str
    received_from: date | None
    received_to: date | None
    received: int
    by_channel: dict[str, int]
    by_status: dict[str, int]
    by_outcome: dict[str, int]
    anonymous_share: float = Field(description="anonymous reports / received (0 when none)")
    repeat_share: float = Field(description="reports flagged near_duplicate or repeat_after_conclusion / received")
    messages: MessageStats = Field(description="The conversations of these reports, whenever posted")
    attachments: int = Field(description="Evidence files of these reports, whoever uploaded them")
    acceptance_notices_posted: int = Field(description="These reports whose acceptance notice was posted")
    acceptance_notice_median_working_days: float | None = Field(
        description="Median working days from receipt to the acceptance notice (China time, statutory holidays "
        "respected), over the reports whose notice was posted; null when none was")


class MessageStats(BaseModel):
    from_reporters: int = Field(description="Messages the reporters posted (supplements and answers)")
    from_officers: int = Field(description="Messages officers posted (messages, questions and notices)")
    by_kind: dict[str, int] = Field(description="Per kind: `supplement`, `answer`, `message`, `question`, "
                                                "`acceptance`, `result` (kinds with none are left out)")
