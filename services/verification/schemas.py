"""Request and response bodies of the verification API."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from services.verification.domain import DISTINCTIONS, FIVE_CHECKS, Aggravating, Finding
from services.verification.risk_filing_domain import FilingStatus, LinkStatus, MatterOutcome, RiskLevel
from shared.catalogue import TERMS
from shared.messages import Message
from shared.schemas import BriefReason, ChinaTime, StrictModel
from shared.schemas import Reason as Sentence  # a real sentence, for what undoes a final verdict
from shared.vocabulary import MaliceKind, OrgLevel, Severity

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
    risk_filing_links: list[RiskFilingLinkOut] = Field(
        description="risk filings of the same official whose matter period overlaps the allegations, found when "
                    "the case opened: candidates the investigator confirms or dismisses")
    prior_filings: list[PriorFilingOut] = Field(
        description="for the fault-tolerance assessment: the confirmed filings reviewed `filed` before the act, "
                    "evidence for the three distinctions (the act was for the public good and within policy) and "
                    "named in a true verdict's rationale (FT-PRIOR-FILING; FT-FILING-DEVIATED when the outcome "
                    "departed from the plan). A filing never exempts by itself: the five checks decide")


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
    risk_filings: RiskFilingStats = Field(description="risk filings of the officials in the region (submitted in "
                                                      "the period), and exemptions citing one")


# --- risk filing (风险报备) ---------------------------------------------------------------------------

Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
# What a filing sets out: a few sentences at least, never a token.
Statement = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=5000)]
Condition = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=500)]


def _levels(meaning: str) -> str:
    """A description of an org-level field: what it means, then each level with the office's term."""
    return f"{meaning}: " + ", ".join(f"`{level}` ({term})" for level, term in TERMS["org_level"].items())


FILED_FOR = ("who the filing is made for: `official` (本人申请): the official themself; `unit` (单位申请): "
             "their unit, for a decision it takes")


class RiskOfficialIn(StrictModel):
    """The official who will take the risky decision. Not a user of this system: an officer with
    `risk:file` files on their (or their unit's) behalf."""

    name: Text100
    position: Text100
    organization: Text200
    region_code: Annotated[str, Field(pattern=r"^[0-9]{6}$", description="6-digit administrative division code")]
    org_level: OrgLevel = Field(description=_levels("the level of the official's organization"))


class RiskMatterIn(StrictModel):
    """What will be done, when, how far it reaches and what money it involves: with the official's
    level, what decides the level that accepts the filing."""

    title: Text200
    description: Statement = Field(description="what will be done")
    starts_on: date = Field(description="when the matter starts: not before the day it is filed (China time)")
    ends_on: date = Field(description="by when it will be done (at most five years after it starts)")
    reach: OrgLevel = Field(description=_levels("the widest level the matter's effects reach"))
    amount_yuan: int = Field(ge=0, le=10**13, description="the money the matter involves, in yuan")


class RiskFilingIn(StrictModel):
    """A risky decision filed before acting (备案申请)."""

    official: RiskOfficialIn
    filed_for: Literal["official", "unit"] = Field(description=FILED_FOR)
    matter: RiskMatterIn
    policy_basis: Statement = Field(description="the policies and rules the decision rests on")
    foreseeable_risks: Statement
    safeguards: Statement = Field(description="what is done to prevent or contain the risks")
    public_benefit: Statement = Field(description="the public benefit expected")

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "official": {"name": "李明", "position": "党委书记", "organization": "湖州市吴兴区八里店镇党委",
                     "region_code": "330502", "org_level": "township"},
        "filed_for": "unit",
        "matter": {"title": "八里店镇村级集体经济股份合作制改革试点",
                   "description": "将三个村的集体经营性资产折股量化到户，引入社会资本合作经营农旅项目。",
                   "starts_on": "2027-03-01", "ends_on": "2027-12-31", "reach": "township",
                   "amount_yuan": 12000000},
        "policy_basis": "《关于稳步推进农村集体产权制度改革的意见》及省、市配套文件。",
        "foreseeable_risks": "资产评估偏低导致集体资产流失；合作方经营不善造成收益下降。",
        "safeguards": "聘请第三方评估并公示；合作协议设保底收益条款；重大事项经村民代表大会表决。",
        "public_benefit": "预计三年内村集体年经营性收入增加三百万元，带动二百余户农户增收。"}]})


class FilingAcceptanceIn(StrictModel):
    decision: Literal["accepted", "returned"] = Field(
        description="`accepted` (予以受理): the filing goes on to its risk assessment; `returned` (退回补正): it is "
                    "returned for completion and filed again with what was missing")
    reason: BriefReason

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"decision": "accepted", "reason": "材料齐全，属县级受理范围，予以受理。"}]})


class FilingAssessmentIn(StrictModel):
    risk_level: RiskLevel
    conditions: Annotated[list[Condition], Field(max_length=20, default_factory=list,
                                                 description="conditions attached to the filing")]
    notes: Notes = ""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "risk_level": "medium", "conditions": ["每季度向区纪委监委报告进展", "资产评估须经第三方机构复核"],
        "notes": "政策依据充分，风险可控，须落实评估复核与定期报告。"}]})


class FilingReviewIn(StrictModel):
    decision: Literal["filed", "not_filed"] = Field(
        description="`filed` (予以备案): filed, with the reviewer's opinions; `not_filed` (不予备案): declined, with "
                    "the reasons")
    opinions: BriefReason = Field(description="the opinions (filed) or the reasons (not filed)")

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"decision": "filed", "opinions": "经研究，同意备案；请严格落实评估复核和定期报告要求。"}]})


class FilingFeedbackIn(StrictModel):
    """Feedback to the filer on the review's decision (情况反馈), once; later, for a filed matter, its
    outcome, which closes the filing."""

    kind: Literal["feedback", "outcome"] = Field(
        description="`feedback` (情况反馈): tell the filer the decision (`feedback` required); `outcome` (实施结果): "
                    "how the filed matter turned out (`outcome` and `completed_on` required, `deviation` when it "
                    "deviated)")
    feedback: Statement | None = None
    outcome: MatterOutcome | None = None
    deviation: Statement | None = Field(default=None, description="how the matter departed from the filed plan")
    completed_on: date | None = None
    notes: Notes = ""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"kind": "feedback", "feedback": "已予备案，请按所附条件实施，并每季度报告进展。"},
        {"kind": "outcome", "outcome": "deviated", "completed_on": "2027-12-20",
         "deviation": "因合作方变更，未经第三方复核即调整了资产折股比例。"}]})


class RiskOfficialOut(BaseModel):
    name: str
    position: str
    organization: str
    region_code: str
    org_level: str = Field(description="the level of the official's organization")


class RiskMatterOut(BaseModel):
    title: str
    description: str
    starts_on: date
    ends_on: date
    reach: str = Field(description="the widest level the matter's effects reach")
    amount_yuan: int


class FilingStepOut(BaseModel):
    """Who took a step of the chain, at what level, when."""

    by: str
    level: str | None
    at: ChinaTime


class FilingAcceptanceOut(FilingStepOut):
    decision: str = Field(description="accepted or returned")
    reason: str


class FilingAssessmentOut(FilingStepOut):
    risk_level: str = Field(description="low, medium or high")
    conditions: list[str]
    notes: str


class FilingReviewOut(FilingStepOut):
    decision: str = Field(description="filed or not_filed")
    opinions: str


class FilingFeedbackOut(FilingStepOut):
    feedback: str


class FilingOutcomeOut(FilingStepOut):
    outcome: str = Field(description="as_planned or deviated")
    deviation: str | None
    notes: str | None
    completed_on: date


class RiskFilingOut(BaseModel):
    """A risk filing and each step of its chain taken so far."""

    id: str
    status: FilingStatus
    region_code: str
    official: RiskOfficialOut
    filed_for: str = Field(description="official or unit")
    matter: RiskMatterOut
    policy_basis: str
    foreseeable_risks: str
    safeguards: str
    public_benefit: str
    acceptance_level: str = Field(description="the lowest org level that accepts, assesses and reviews it")
    filed_by: str
    filed_by_level: str
    submitted_at: ChinaTime
    acceptance: FilingAcceptanceOut | None
    assessment: FilingAssessmentOut | None
    review: FilingReviewOut | None
    feedback: FilingFeedbackOut | None
    outcome: FilingOutcomeOut | None
    updated_at: ChinaTime


class RiskFilingPage(BaseModel):
    items: list[RiskFilingOut]
    next_cursor: str | None


class LinkDecisionIn(StrictModel):
    decision: Literal["confirmed", "dismissed"] = Field(
        description="`confirmed` (确认关联): the report is about the filed matter; `dismissed` (排除关联): it is not")
    reason: BriefReason

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"decision": "confirmed", "reason": "举报反映的正是该镇已备案的集体经济股份合作制改革事项。"}]})


class LinkedFilingOut(BaseModel):
    """What the case shows of a linked filing: enough to judge the link, the full filing at
    GET /v1/risk-filings/{id}."""

    status: FilingStatus
    official: RiskOfficialOut
    matter: str = Field(description="the matter's title")
    starts_on: date
    ends_on: date
    risk_level: str | None
    review_decision: str | None = Field(description="filed or not_filed, once reviewed")
    outcome: str | None = Field(description="as_planned or deviated, once recorded")
    deviation: str | None


class RiskFilingLinkOut(BaseModel):
    filing_id: str
    status: LinkStatus
    covered_allegation_ids: list[str] = Field(description="the allegations whose dates the matter's period covers "
                                                          "(an undated one: the period began before the report)")
    linked_at: ChinaTime
    reason: str | None
    decided_by: str | None
    decided_at: ChinaTime | None
    filing: LinkedFilingOut


class PriorFilingOut(BaseModel):
    """A confirmed filing, reviewed `filed` before the act: a factor in the fault-tolerance assessment
    (evidence for the three distinctions), never an exemption by itself."""

    filing_id: str
    matter: str
    starts_on: date
    ends_on: date
    risk_level: str | None
    conditions: list[str]
    filed_at: ChinaTime | None = Field(description="when the review filed it")
    deviated: bool = Field(description="the recorded outcome says the matter departed from the filed plan")
    deviation: str | None


class RiskFilingStats(BaseModel):
    submitted: int = Field(description="filings submitted in the period")
    by_status: dict[str, int]
    by_risk_level: dict[str, int] = Field(description="assessed filings by risk level")
    by_acceptance_level: dict[str, int]
    exemptions_citing_filing: int = Field(description="exempted verdicts (of the cases counted) whose rationale "
                                                      "names a prior filing (FT-PRIOR-FILING)")
