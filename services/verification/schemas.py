"""Request and response bodies of the verification API."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.verification.domain import DISTINCTIONS, FIVE_CHECKS, Aggravating, Finding
from shared.catalogue import TERMS
from shared.messages import Message
from shared.schemas import BriefReason, ChinaTime, StrictModel
from shared.schemas import Reason as Sentence  # a real sentence, for what undoes a final verdict
from shared.vocabulary import MaliceKind, Severity

Notes = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]


class FindingIn(StrictModel):
    allegation_id: Annotated[str, StringConstraints(min_length=1, max_length=36)]
    finding: Finding
    evidence_notes: Notes = Field(default="", description="what the finding rests on")


class FindingsIn(StrictModel):
    """Findings for some or all allegations; each one given replaces the earlier finding."""

    findings: Annotated[list[FindingIn], Field(min_length=1, max_length=20)]

    @field_validator("findings")
    @classmethod
    def _each_allegation_once(cls, value: list[FindingIn]) -> list[FindingIn]:
        ids = [f.allegation_id for f in value]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(Message("value.allegations_repeated", ids=", ".join(duplicates)))
        return value

    model_config = ConfigDict(json_schema_extra={"examples": [{"findings": [
        {"allegation_id": "9a9957b0-480e-443b-ae93-a8ca1700a6d2", "finding": "unsubstantiated",
         "evidence_notes": "土地出让全程公开招拍挂，银行流水与礼金说法不符。"}]}]})


class MaliceAssessmentIn(StrictModel):
    facts_invented: bool = Field(description="facts were made up (捏造事实)")
    material_forged: bool = Field(description="material was forged (伪造材料)")
    knew_false: bool = Field(description="the reporter knew it was false")
    meant_punishment: bool = Field(description="the reporter meant the subject to be punished")
    aggravating: Annotated[list[Aggravating], Field(max_length=4, default_factory=list)]
    kind: MaliceKind | None = None
    severity: Severity | None = Field(default=None, description="from nature, circumstances and consequences")
    notes: Notes = ""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "facts_invented": True, "material_forged": False, "knew_false": True, "meant_punishment": True,
        "aggravating": ["repeated_after_conclusion"], "kind": "false_accusation", "severity": "ordinary",
        "notes": "举报人承认编造收受礼金情节，意图影响其提拔。"}]})


class FaultToleranceIn(StrictModel):
    distinctions: dict[Literal[tuple(DISTINCTIONS)], bool] = Field(  # type: ignore[valid-type]
        description="the three distinctions (三个区分开来), each true where the conduct falls on the excused side: "
                    + "; ".join(f"`{key}` ({TERMS['distinction'][key]}): {text}" for key, text in DISTINCTIONS.items()))
    checks: dict[Literal[tuple(FIVE_CHECKS)], bool] = Field(  # type: ignore[valid-type]
        description="the five checks, each true where it holds: "
                    + "; ".join(f"`{key}` ({TERMS['five_check'][key]}): {text}" for key, text in FIVE_CHECKS.items()))
    notes: Notes = ""

    @field_validator("distinctions")
    @classmethod
    def _all_distinctions(cls, value: dict[str, bool]) -> dict[str, bool]:
        missing = sorted(set(DISTINCTIONS) - set(value))
        if missing:
            raise ValueError(Message("value.distinctions_missing", missing=", ".join(missing)))
        return value

    @field_validator("checks")
    @classmethod
    def _all_checks(cls, value: dict[str, bool]) -> dict[str, bool]:
        missing = sorted(set(FIVE_CHECKS) - set(value))
        if missing:
            raise ValueError(Message("value.checks_missing", missing=", ".join(missing)))
        return value

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "distinctions": {k: True for k in DISTINCTIONS}, "checks": {k: True for k in FIVE_CHECKS},
        "notes": "改革试点中因政策空白出现的失误，经集体研究决定，未谋取私利。"}]})


class ConclusionIn(StrictModel):
    notes: Notes = Field(default="", description="the concluding officer's notes, kept with the verdict")

    model_config = ConfigDict(json_schema_extra={"examples": [{"notes": "核查完毕，提请结论。"}]})


class ApprovalIn(StrictModel):
    decision: Literal["approve", "reject"] = Field(
        description="`approve` (批准): the malicious verdict becomes final and is published; `reject` (不予批准): "
                    "the case goes back to investigating, with the reason")
    reason: BriefReason

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"decision": "approve", "reason": "证据确实充分，同意认定为诬告陷害。"}]})


class CorrectionIn(StrictModel):
    """A request to correct a final verdict: why, as a sentence. A second officer decides it."""

    reason: Sentence

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"reason": "复查发现被反映人收受礼金当日的银行流水记录，原认定所依据的证据不足，需重新认定。"}]})


class CorrectionDecisionIn(StrictModel):
    decision: Literal["approve", "reject"] = Field(
        description="`approve` (批准更正): the final case is superseded and its successor opened; `reject` "
                    "(不予更正): the case stays as it is")
    reason: Sentence

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"decision": "approve", "reason": "新调取的银行流水足以动摇原认定，同意撤销原结论并重新核查。"}]})


class RuleHitOut(BaseModel):
    rule: str
    reason: str


class VerdictContent(BaseModel):
    """What a verdict says and why, as its record keeps it."""

    model_config = ConfigDict(from_attributes=True)

    verdict: str
    fault_tolerance_exempted: bool
    malice_kind: str | None
    severity: str | None
    refuted_allegation_ids: list[str]
    rationale: list[RuleHitOut]
    notes: str | None = Field(description="the concluding officer's notes")


class ConclusionOut(VerdictContent):
    case_id: str
    verdict_id: str
    status: str = Field(description="final, or awaiting_approval for a malicious verdict")


class CaseAllegationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    allegation_id: str
    category: str
    summary: str
    occurred_on: date | None
    place: str | None
    finding: str | None
    evidence_notes: str | None
    finding_recorded_by: str | None


class VerdictOut(VerdictContent):
    id: str
    version: int
    state: str
    concluded_by: str
    concluded_by_level: str | None
    concluded_at: ChinaTime
    decided_by: str | None
    decided_by_level: str | None
    decided_at: ChinaTime | None
    decision_reason: str | None
    supersedes_verdict_id: str | None


class CorrectionOut(BaseModel):
    """A request to correct a final verdict and, once decided, its decision."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    case_id: str
    verdict_id: str = Field(description="the final verdict the request would correct")
    status: str = Field(description="pending, approved or rejected")
    reason: str
    requested_by: str
    requested_by_level: str
    requested_at: ChinaTime
    min_approver_level: str = Field(description="who may approve: an officer at this org level or higher, other "
                                                "than the requester and anyone who took part in the case")
    decided_by: str | None
    decided_by_level: str | None
    decided_at: ChinaTime | None
    decision_reason: str | None
    successor_case_id: str | None = Field(description="the case an approved correction opened")


class CaseOut(BaseModel):
    """A verification case. The reporter is never shown here, only whether they were anonymous."""

    id: str
    report_id: str
    status: str
    region_code: str
    channel: str
    subject_name: str
    subject_position: str
    subject_organization: str
    anonymous: bool
    allegations: list[CaseAllegationOut]
    signals: dict[str, object] = Field(description="triage signals: never a verdict by themselves")
    linked_report_ids: list[str]
    acceptance_notice_due: date | None
    verification_due: date
    overdue: bool
    malice_assessment: dict[str, object] | None
    fault_tolerance: dict[str, object] | None
    verdict: str | None
    fault_tolerance_exempted: bool
    verdicts: list[VerdictOut]
    pending_correction: CorrectionOut | None = Field(
        description="a correction requested and waiting for a second officer's decision; nothing changes until then")
    corrections: list[CorrectionOut] = Field(description="every correction requested on this case, oldest first")
    supersedes_case_id: str | None
    superseded_by_case_id: str | None
    report_received_at: ChinaTime
    opened_at: ChinaTime


class CasePage(BaseModel):
    items: list[CaseOut]
    next_cursor: str | None


class VerificationStats(BaseModel):
    region: str
    opened_from: date | None
    opened_to: date | None
    cases: int
    by_verdict: dict[str, int]
    fault_tolerance_exempted: int
    awaiting_approval: int
    overdue: int
