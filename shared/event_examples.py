"""One realistic example of every event type, exactly as it travels: the data, the key and the signed
`ce_` headers. The AsyncAPI document (shared/asyncapi.py) shows them, and a test decodes each one.

The examples follow one falsely accused official through the pipeline. They carry no reporter's
identity (no event ever does: a named reporter appears only as a keyed hash, the blind index). They
are signed with example keys derived from a published seed, which no trust file names: a consumer
can check its signature verification against them, and no service will ever accept them.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.events import (
    ANY_SERVICE,
    AllegationV1,
    AuditAnchoredV1,
    BlacklistEntryActivatedV1,
    BlacklistEntryNotifiedV1,
    BlacklistEntryRemovedV1,
    ClarificationClosedV1,
    ClarificationMeetingHeldV1,
    ClarificationMeetingScheduledV1,
    ClarificationOpenedV1,
    EventData,
    ReportSubmittedV1,
    ReportVerifiedV1,
    RiskFilingClosedV1,
    RiskFilingFiledV1,
    RiskOfficialV1,
    SubjectV1,
    encode,
)
from shared.signing import ServiceKey
from shared.tracing import TraceContext
from shared.vocabulary import MaliceKind, Severity, Verdict

_NAMESPACE = uuid.UUID("6f1d0c52-3f4e-5b7a-9c21-0d8e4a6b2f10")
# The distributed-tracing extension as a request to intake would start it: W3C traceparent, and our
# tracestate member naming the request id.
EXAMPLE_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
EXAMPLE_TRACESTATE = "zhengming=7d2c41e0b9a84f55a1c3e26f0d9b8a14"


def _id(name: str) -> str:
    # Stable across runs, so the shipped document does not change each time it is generated.
    return str(uuid.uuid5(_NAMESPACE, name))


def example_key(service: str) -> ServiceKey:
    """The example signing key of `service`: Ed25519 from SHA-256 of a published seed. Never trusted."""
    seed = hashlib.sha256(f"zhengming asyncapi example key {service}".encode()).digest()
    return ServiceKey(service, Ed25519PrivateKey.from_private_bytes(seed))


@dataclass(frozen=True)
class Example:
    """An event as it is on the wire: `headers` (the `ce_` headers, signed), `key`, and `data`,
    whose JSON (`value`) is the message value byte for byte."""

    name: str
    summary: str
    data: EventData
    key: str
    headers: dict[str, str]

    @property
    def value(self) -> bytes:
        return self.data.model_dump_json().encode()


REPORT = _id("report")
CASE, VERDICT = _id("case"), _id("verdict")
ALLEGATIONS = (_id("allegation-1"), _id("allegation-2"))
CLARIFICATION, MEETING, ENTRY = _id("clarification"), _id("meeting"), _id("entry")
# The regulation that authorizes a listing, as an office configures it.
LEGAL_BASIS = "××省信访举报失信行为管理办法 第十二条"
SUBJECT = SubjectV1(name="王建国", position="副局长", organization="湖州市吴兴区自然资源局", region_code="330502")
ALLEGED = [
    AllegationV1(allegation_id=ALLEGATIONS[0], category="bribery",
                 summary="在土地出让过程中收受开发商礼金人民币十万元。", occurred_on=date(2026, 1, 15),
                 place="吴兴区城关镇"),
    AllegationV1(allegation_id=ALLEGATIONS[1], category="abuse_of_power",
                 summary="违规为亲属承包的工程项目办理用地审批。"),
]


# A township's risky reform, filed before acting (风险报备) and later closed with its outcome.
FILING = _id("risk-filing")
FILED_OFFICIAL = RiskOfficialV1(name="李明", position="党委书记", organization="湖州市吴兴区八里店镇党委",
                                region_code="330502", org_level="township")
FILED_MATTER = "八里店镇村级集体经济股份合作制改革试点"


def _at(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def _examples() -> list[tuple[str, str, EventData, str]]:
    """(name, summary, data, key) of every example, in the order the story happens."""
    verified = ReportVerifiedV1(
        report_id=REPORT, case_id=CASE, verdict_id=VERDICT, verdict=Verdict.malicious,
        malice_kind=MaliceKind.false_accusation, severity=Severity.ordinary,
        refuted_allegation_ids=list(ALLEGATIONS), rationale=["V-NOTHING-SUBSTANTIATED", "V-MALICIOUS"],
        approver="huzhou-director-02", approver_org_level="municipal", region_code="330502", anonymous=False,
        reporter_blind_index=hashlib.sha256(b"an example blind index, not of anyone").hexdigest(),
        concluded_at=_at(3, 20, 7, 45), subject=SUBJECT, refuted_allegations=ALLEGED,
        clarification_grounds=["affected_selection_election_transfer_awards"])
    return [
        ("a_named_report", "A named report with two allegations about one official",
         ReportSubmittedV1(report_id=REPORT, channel="online", subject=SUBJECT, allegations=ALLEGED,
                           region_code="330502", anonymous=False,
                           reporter_blind_index=verified.reporter_blind_index, received_at=_at(3, 2, 1, 30)),
         REPORT),
        ("a_malicious_verdict", "Both allegations refuted and found fabricated: a false accusation, approved "
                                "by a municipal director", verified, REPORT),
        ("a_mandatory_clarification", "Opened for the malicious verdict; mandatory, since the accusation "
                                      "affected a promotion",
         ClarificationOpenedV1(clarification_id=CLARIFICATION, report_id=REPORT, case_id=CASE, verdict_id=VERDICT,
                               region_code="330502", mandatory=True, refuted_allegation_ids=list(ALLEGATIONS),
                               deadline=date(2026, 4, 19), opened_at=_at(3, 20, 7, 46)),
         REPORT),
        ("a_meeting_scheduled", "A clarification meeting in the official's unit",
         ClarificationMeetingScheduledV1(clarification_id=CLARIFICATION, report_id=REPORT, meeting_id=MEETING,
                                         starts_at=_at(4, 8, 1, 30), ends_at=_at(4, 8, 2, 30),
                                         venue_id="wuxing-hall-3", host_organization="吴兴区纪委监委", scope="unit"),
         REPORT),
        ("a_meeting_held", "The meeting held, with a bulletin issued",
         ClarificationMeetingHeldV1(clarification_id=CLARIFICATION, report_id=REPORT, meeting_id=MEETING,
                                    held_at=_at(4, 8, 2, 30), attendance=42, bulletin_issued=True, scope="unit",
                                    venue_id="wuxing-hall-3"),
         REPORT),
        ("a_completed_clarification", "Completed by meeting and in writing; a follow-up visit is due",
         ClarificationClosedV1(clarification_id=CLARIFICATION, report_id=REPORT, outcome="completed",
                               methods=["meeting", "written"], written_issued_on=date(2026, 4, 8), meetings_held=1,
                               follow_up_due=date(2026, 7, 7), closed_at=_at(4, 9, 6)),
         REPORT),
        ("an_entry_notified", "The person who accused maliciously is notified of a listing and may object",
         BlacklistEntryNotifiedV1(entry_id=ENTRY, report_id=REPORT, case_id=CASE, severity=Severity.ordinary,
                                  reason_code="false_accusation",
                                  legal_basis_ref=LEGAL_BASIS, publication="public",
                                  objection_deadline=date(2026, 4, 4),
                                  notified_at=_at(3, 20, 7, 47)),
         REPORT),
        ("an_entry_activated", "No objection within the window: the entry is listed for six months",
         BlacklistEntryActivatedV1(entry_id=ENTRY, report_id=REPORT, severity=Severity.ordinary,
                                   reason_code="false_accusation", publication="public",
                                   listed_from=date(2026, 4, 5), listed_until=date(2026, 10, 4),
                                   activated_at=_at(4, 4, 16, 0)),
         REPORT),
        ("an_entry_repaired", "Credit repair granted after the minimum period",
         BlacklistEntryRemovedV1(entry_id=ENTRY, report_id=REPORT, status="repaired", reason_code="credit_repaired",
                                 removed_at=_at(7, 10, 2, 15)),
         REPORT),
        ("a_reform_filed", "A township's collective-economy reform, filed before acting and accepted, assessed and "
                           "filed by the county",
         RiskFilingFiledV1(filing_id=FILING, region_code="330502", official=FILED_OFFICIAL, filed_for="unit",
                           matter=FILED_MATTER, starts_on=date(2026, 3, 1), ends_on=date(2026, 12, 31),
                           acceptance_level="county", risk_level="medium",
                           conditions=["每季度向区纪委监委报告进展", "资产评估须经第三方机构复核"],
                           filed_at=_at(2, 20, 2, 30)),
         FILING),
        ("the_reform_done_as_planned", "The filed reform was carried out as planned",
         RiskFilingClosedV1(filing_id=FILING, region_code="330502", official=FILED_OFFICIAL, matter=FILED_MATTER,
                            starts_on=date(2026, 3, 1), ends_on=date(2026, 12, 31), risk_level="medium",
                            outcome="as_planned", completed_on=date(2026, 12, 20), closed_at=_at(12, 28, 3, 0)),
         FILING),
        ("verification_anchors_its_audit_chain", "The head of verification's audit chain, kept by the others",
         AuditAnchoredV1(service="verification", seq=418,
                         head_mac=hashlib.sha256(b"an example audit chain head").hexdigest(),
                         anchored_at=_at(3, 20, 7, 50)),
         "verification"),
    ]


def _signed_headers(data: EventData, key: str, name: str) -> dict[str, str]:
    signer = example_key(_producer_of(data))
    # `encode` makes the header set; a fixed id and time replace its fresh ones before signing.
    _, record = encode(data, key=key, source=signer.source, subject=getattr(data, "report_id", None),
                       trace=TraceContext.parse(EXAMPLE_TRACEPARENT, EXAMPLE_TRACESTATE))
    headers = {**record.headers, "ce_id": _id(f"event-{name}"), "ce_time": _written_at(data)}
    return signer.sign_event(headers, data.model_dump_json().encode())


def _producer_of(data: EventData) -> str:
    return str(getattr(data, "service", "")) if data.producer == ANY_SERVICE else data.producer


def _written_at(data: EventData) -> str:
    # The event is written in the transaction of the change it tells of: at the moment its data names.
    moment = max(value for value in data.__dict__.values() if isinstance(value, datetime))
    return moment.isoformat().replace("+00:00", "Z")


def examples() -> dict[str, Example]:
    """Event type -> its example."""
    return {data.event_type: Example(name, summary, data, key, _signed_headers(data, key, name))
            for name, summary, data, key in _examples()}


def example_public_keys() -> dict[str, str]:
    """Each service whose examples are signed -> the PEM public key they verify under."""
    return {service: example_key(service).public_pem()
            for service in sorted({_producer_of(example.data) for example in examples().values()})}
