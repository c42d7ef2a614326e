"""Request and response bodies of the credit_blacklist API."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from shared.identity import ResidentIdNumber
from shared.schemas import BriefReason, ChinaTime, StrictModel
from shared.schemas import Reason as Sentence


class CheckIn(StrictModel):
    id_number: ResidentIdNumber = Field(description="Resident identity card number (18 characters, checksum verified)")

    model_config = ConfigDict(json_schema_extra={"examples": [{"id_number": "11010519491231002X"}]})


class CheckOut(BaseModel):
    """All a check reveals: never the person's name or any other data."""

    listed: bool
    status: Literal["active", "notified", "not_listed"] = Field(
        description="`active` (公示中): listed; `notified` (告知期内): inside the objection window, answered only when "
                    "the service is configured to list such entries; `not_listed` (未列入): no entry lists the person "
                    "today")
    listed_until: date | None = Field(description="last day listed (inclusive); null when not listed")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"listed": True, "status": "active", "listed_until": "2027-06-30"},
        {"listed": False, "status": "not_listed", "listed_until": None}]})


class ObjectionIn(StrictModel):
    grounds: Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=5000)] = Field(
        description="what the listed person says, as received")
    received_on: date | None = Field(default=None, description="the day the objection reached the office "
                                     "(default today); between the notice and today")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"grounds": "本人举报时并不知道所述情况不实，请求复核。", "received_on": "2026-11-25"}]})


class DecisionIn(StrictModel):
    decision: Literal["uphold", "reject"] = Field(
        description="`uphold` (异议成立): the objection stands and the entry is revoked; `reject` (异议不成立): the "
                    "entry returns where it was")
    reason: BriefReason

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"decision": "reject", "reason": "异议理由与核查认定的伪造材料事实不符，维持列入决定。"}]})


class RepairIn(StrictModel):
    reason: Sentence = Field(description="why credit repair is asked for (e.g. apology made, harm remedied): a "
                             "sentence of at least 15 letters or digits")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reason": "当事人已向被反映人公开道歉并消除影响，最短公示期已满，申请信用修复。"}]})


class RevocationIn(StrictModel):
    reason: Sentence = Field(description="why the listing should not stand: a sentence of at least 15 letters "
                             "or digits")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reason": "经复查，列入所依据的核查结论认定当事人身份有误，申请撤销该条失信记录。"}]})


class RemovalDecisionIn(StrictModel):
    decision: Literal["grant", "refuse"] = Field(
        description="`grant` (准予): the entry is repaired or revoked; `refuse` (不予准予): it stays as it is")
    reason: Sentence = Field(description="why, as a sentence of at least 15 letters or digits")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"decision": "grant", "reason": "经审核，当事人道歉及消除影响材料属实，同意信用修复。"}]})


class ObjectionOut(BaseModel):
    id: str
    entry_id: str
    grounds: str
    received_on: date
    status_before: str
    filed_by: str
    filed_at: ChinaTime
    decision: str | None = Field(description="upheld or rejected once decided")
    decision_reason: str | None
    decided_by: str | None
    decided_at: ChinaTime | None

    model_config = ConfigDict(from_attributes=True)


class RemovalRequestOut(BaseModel):
    """A repair or revocation request: who asked and why, and who decided and why."""

    id: str
    entry_id: str
    kind: Literal["repair", "revocation"] = Field(
        description="`repair` (信用修复): the person made amends, after the minimum period; `revocation` (撤销): the "
                    "listing should not stand")
    status: Literal["pending", "granted", "refused"] = Field(
        description="`pending` (待决定): waiting for another officer's decision; `granted` (已准予): the entry was "
                    "taken off; `refused` (未准予): the entry stays")
    reason: str
    requested_by: str
    requested_at: ChinaTime
    decision_reason: str | None
    decided_by: str | None
    decided_at: ChinaTime | None

    model_config = ConfigDict(from_attributes=True)


class RemovalRequestPage(BaseModel):
    items: list[RemovalRequestOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class EntryOut(BaseModel):
    """An entry as officers see it: the name, but the ID number masked; never phone or address."""

    id: str
    report_id: str
    case_id: str
    region_code: str
    status: str = Field(description="status today: notified, active, under_review, revoked, expired, repaired")
    severity: str
    reason_code: str = Field(description="the kind of malice: false_accusation, malicious_slander, rumor_mongering")
    legal_basis_ref: str
    legal_basis_text: str
    repeat_offender: bool
    publication: str = Field(description="internal (minor: never exported) or public")
    period_months: int
    minimum_months: int
    period_basis: str = Field(description="the rule that set the period")
    name: str
    id_number_masked: str = Field(examples=["110105**********2X"])
    notified_at: ChinaTime
    objection_deadline: date
    listed_from: date | None = Field(description="first day listed (expected, while notified)")
    listed_until: date | None = Field(description="last day listed, inclusive (expected, while notified)")
    repair_possible_from: date | None
    removed_at: ChinaTime | None
    removal_reason: str | None = Field(
        description="verdict_superseded, objection_upheld, period_ended, credit_repaired or revocation_granted")
    objections: list[ObjectionOut]
    removal_requests: list[RemovalRequestOut] = Field(description="repair and revocation requests, oldest first")
    created_at: ChinaTime


class EntryPage(BaseModel):
    items: list[EntryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class BlacklistStats(BaseModel):
    """The figures an office reports: what stands today, and what happened in the period."""

    region: str = Field(description="the administrative-code prefix counted (your jurisdiction, or narrower)")
    period_from: date | None
    period_to: date | None
    by_status: dict[str, int] = Field(description="entries standing in each status today (whatever the period)")
    listed: int = Field(description="people listed (notified) in the period")
    listed_by_severity: dict[str, int]
    expired: int = Field(description="listings whose last listed day fell in the period and that have ended")
    repaired: int = Field(description="listings ended early by credit repair in the period")
    revoked: int = Field(description="listings revoked in the period (objection upheld, revocation granted, "
                                     "verdict superseded)")
    objections_upheld: int
    objections_rejected: int
    unidentified_cases: int = Field(description="final malicious verdicts in the period with nobody to list "
                                                "(anonymous reporters): recorded, never listed")


class UnidentifiedCaseOut(BaseModel):
    """A final malicious verdict whose reporter is anonymous: counted, never listed, never asked for."""

    report_id: str
    case_id: str
    verdict_id: str
    version: int
    region_code: str
    recorded_at: ChinaTime = Field(validation_alias="applied_at")

    model_config = ConfigDict(from_attributes=True)


class UnidentifiedCasePage(BaseModel):
    items: list[UnidentifiedCaseOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")
