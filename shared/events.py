"""Event catalog and the CloudEvents 1.0 envelope (Kafka binary mode: `ce_` headers, JSON body).

Every event type is versioned and registered here with its Pydantic schema and topic. Schemas
only ever gain optional fields; a breaking change is a new `.vN` type.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import ClassVar, Literal

from cloudevents.core.bindings import kafka as ce_kafka
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.db import utcnow
from shared.signing import EventTrust, ServiceKey, UntrustedEvent
from shared.tracing import TraceContext
from shared.vocabulary import MaliceKind, Severity, Verdict

CONTENT_TYPE = "application/json"


class EventData(BaseModel):
    """Base of every event payload. `event_type`, `topic` and `producer` tie the class to the catalog:
    `producer` is the one service whose signed events of this type consumers accept."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: ClassVar[str]
    topic: ClassVar[str]
    producer: ClassVar[str]


# --- reports.submitted -------------------------------------------------------------------------


class SubjectV1(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    position: str
    organization: str
    region_code: str


class AllegationV1(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    allegation_id: str
    category: str
    summary: str
    occurred_on: date | None = None
    place: str | None = None


class ExemptionReasonV1(BaseModel):
    """One of the fault-tolerance conditions that held: one of the three distinctions (三个区分开来)
    or of the five checks (五看)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    condition: str = Field(description="its stable id, e.g. no_benefit_transfer")
    text: str = Field(description="what held, in a sentence")


class ExemptedAllegationV1(AllegationV1):
    """An allegation found true whose conduct is exempted under fault tolerance (容错免责): the
    official is cleared of blame for it, not of having done it."""

    reasons: list[ExemptionReasonV1] = Field(default_factory=list, description="the conditions that held")


class ReportSubmittedV1(EventData):
    event_type: ClassVar[str] = "report.submitted.v1"
    topic: ClassVar[str] = "reports.submitted"
    producer: ClassVar[str] = "intake"

    report_id: str
    channel: str
    subject: SubjectV1
    allegations: list[AllegationV1] = Field(min_length=1)
    region_code: str
    anonymous: bool
    reporter_blind_index: str | None = None
    linked_report_ids: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list, description="near_duplicate, repeat_after_conclusion")
    received_at: datetime


# --- reports.verified --------------------------------------------------------------------------

class ReportVerifiedV1(EventData):
    """A final verdict. A correction publishes a new one with a higher `version` that supersedes."""

    event_type: ClassVar[str] = "report.verified.v1"
    topic: ClassVar[str] = "reports.verified"
    producer: ClassVar[str] = "verification"

    report_id: str
    case_id: str
    verdict_id: str
    version: int = Field(default=1, ge=1)
    supersedes_verdict_id: str | None = None
    verdict: Verdict
    fault_tolerance_exempted: bool = False
    malice_kind: MaliceKind | None = None
    severity: Severity | None = None
    refuted_allegation_ids: list[str] = Field(default_factory=list)
    rationale: list[str] = Field(default_factory=list, description="rule ids that decided the verdict")
    approver: str | None = None
    approver_org_level: str | None = None
    region_code: str
    anonymous: bool
    reporter_blind_index: str | None = None
    concluded_at: datetime
    subject: SubjectV1 | None = None
    refuted_allegations: list[AllegationV1] = Field(
        default_factory=list, description="the refuted allegations' text: what a clarification covers")
    clarification_grounds: list[Literal[
        "affected_selection_election_transfer_awards", "harmed_rights_work_life", "repeated_after_conclusion"
    ]] = Field(default_factory=list, description="known reasons that make a clarification mandatory")
    exempted_allegations: list[ExemptedAllegationV1] = Field(
        default_factory=list, description="for a true verdict with fault-tolerance exemption: the allegations "
        "found true whose conduct is exempted, each with the conditions that held (what a clarification clears "
        "the official of blame for)")


# --- clarification.events (for external consumers) -------------------------------------------------


class ClarificationOpenedV1(EventData):
    event_type: ClassVar[str] = "clarification.opened.v1"
    topic: ClassVar[str] = "clarification.events"
    producer: ClassVar[str] = "clarification"

    clarification_id: str
    report_id: str
    case_id: str | None = None
    verdict_id: str | None = None
    region_code: str
    mandatory: bool
    refuted_allegation_ids: list[str]
    deadline: date
    opened_at: datetime


class ClarificationMeetingScheduledV1(EventData):
    """A meeting was scheduled, moved (`change: rescheduled`) or called off (`change: cancelled`)."""

    event_type: ClassVar[str] = "clarification.meeting_scheduled.v1"
    topic: ClassVar[str] = "clarification.events"
    producer: ClassVar[str] = "clarification"

    clarification_id: str
    report_id: str
    meeting_id: str
    change: Literal["scheduled", "rescheduled", "cancelled"] = "scheduled"
    starts_at: datetime
    ends_at: datetime
    venue_id: str
    host_organization: str
    scope: str


class ClarificationMeetingHeldV1(EventData):
    event_type: ClassVar[str] = "clarification.meeting_held.v1"
    topic: ClassVar[str] = "clarification.events"
    producer: ClassVar[str] = "clarification"

    clarification_id: str
    report_id: str
    meeting_id: str
    held_at: datetime
    attendance: int
    bulletin_issued: bool
    scope: str
    venue_id: str


class ClarificationClosedV1(EventData):
    """Closed: completed (the record goes to the official's integrity file), declined or cancelled."""

    event_type: ClassVar[str] = "clarification.closed.v1"
    topic: ClassVar[str] = "clarification.events"
    producer: ClassVar[str] = "clarification"

    clarification_id: str
    report_id: str
    outcome: Literal["completed", "declined", "cancelled"]
    methods: list[str] = Field(default_factory=list)
    written_issued_on: date | None = None
    meetings_held: int = 0
    follow_up_due: date | None = None
    closed_at: datetime


# --- blacklist.events (for external consumers; never the listed person's identity) ---------------


class BlacklistEntryNotifiedV1(EventData):
    event_type: ClassVar[str] = "blacklist.entry_notified.v1"
    topic: ClassVar[str] = "blacklist.events"
    producer: ClassVar[str] = "credit_blacklist"

    entry_id: str
    report_id: str
    case_id: str
    status: Literal["notified"] = "notified"
    severity: Severity
    reason_code: str
    legal_basis_ref: str
    repeat_offender: bool = False
    publication: Literal["internal", "public"]
    objection_deadline: date
    notified_at: datetime


class BlacklistEntryActivatedV1(EventData):
    event_type: ClassVar[str] = "blacklist.entry_activated.v1"
    topic: ClassVar[str] = "blacklist.events"
    producer: ClassVar[str] = "credit_blacklist"

    entry_id: str
    report_id: str
    status: Literal["active"] = "active"
    severity: Severity
    reason_code: str
    publication: Literal["internal", "public"]
    listed_from: date
    listed_until: date
    activated_at: datetime


class BlacklistEntryRemovedV1(EventData):
    event_type: ClassVar[str] = "blacklist.entry_removed.v1"
    topic: ClassVar[str] = "blacklist.events"
    producer: ClassVar[str] = "credit_blacklist"

    entry_id: str
    report_id: str
    status: Literal["revoked", "expired", "repaired"]
    reason_code: str
    removed_at: datetime


# --- audit.anchors (every service publishes its own; every other keeps them) ----------------------

ANY_SERVICE = "*"  # the producer of a type every service publishes about itself (its `service` field)


class AuditAnchoredV1(EventData):
    """The head of a service's audit chain, kept by the others so a rewrite or a cut is detected."""

    event_type: ClassVar[str] = "audit.anchored.v1"
    topic: ClassVar[str] = "audit.anchors"
    producer: ClassVar[str] = ANY_SERVICE

    service: str
    seq: int = Field(ge=1)
    head_mac: str = Field(pattern=r"^[0-9a-f]{64}$")
    anchored_at: datetime


# --- risk_filings.events (for external consumers; keyed by the filing id) ---------------------------


class RiskOfficialV1(BaseModel):
    """The official a risk filing is for (the filing may be made by their unit)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str
    position: str
    organization: str
    region_code: str
    org_level: str = Field(description="the level of the official's organization: township, county, municipal, "
                                       "provincial or central")


class RiskFilingFiledV1(EventData):
    """A risky decision filed before acting (风险报备) was reviewed by a second officer and filed: the
    matter, its period, the assessed risk and the conditions attached."""

    event_type: ClassVar[str] = "risk_filing.filed.v1"
    topic: ClassVar[str] = "risk_filings.events"
    producer: ClassVar[str] = "verification"

    filing_id: str
    region_code: str
    official: RiskOfficialV1
    filed_for: Literal["official", "unit"]
    matter: str = Field(description="the matter's title")
    starts_on: date
    ends_on: date
    acceptance_level: str = Field(description="the org level that accepted and reviewed it")
    risk_level: Literal["low", "medium", "high"]
    conditions: list[str] = Field(default_factory=list, description="conditions attached at the assessment")
    filed_at: datetime


class RiskFilingClosedV1(EventData):
    """A filed matter's outcome: done as planned, or departed from the filed plan (and how)."""

    event_type: ClassVar[str] = "risk_filing.closed.v1"
    topic: ClassVar[str] = "risk_filings.events"
    producer: ClassVar[str] = "verification"

    filing_id: str
    region_code: str
    official: RiskOfficialV1
    matter: str = Field(description="the matter's title")
    starts_on: date
    ends_on: date
    risk_level: Literal["low", "medium", "high"]
    outcome: Literal["as_planned", "deviated"]
    deviation: str | None = Field(default=None, description="how the matter departed from the plan, when it did")
    completed_on: date
    closed_at: datetime


CATALOG: dict[str, type[EventData]] = {
    cls.event_type: cls
    for cls in (
        ReportSubmittedV1, ReportVerifiedV1,
        ClarificationOpenedV1, ClarificationMeetingScheduledV1, ClarificationMeetingHeldV1, ClarificationClosedV1,
        BlacklistEntryNotifiedV1, BlacklistEntryActivatedV1, BlacklistEntryRemovedV1,
        AuditAnchoredV1,
        RiskFilingFiledV1, RiskFilingClosedV1,
    )
}
TOPICS: tuple[str, ...] = ("reports.submitted", "reports.verified", "clarification.events", "blacklist.events",
                           "audit.anchors", "risk_filings.events")


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.DLT"


@dataclass(frozen=True)
class KafkaRecord:
    """What goes on the wire: key, `ce_` headers and the JSON body."""

    topic: str
    key: str
    headers: dict[str, str]
    value: bytes


PRODUCERS: dict[str, str] = {event_type: cls.producer for event_type, cls in CATALOG.items()}
# The services that produce events, each with its own signing key.
SIGNING_SERVICES: tuple[str, ...] = tuple(sorted({p for p in PRODUCERS.values() if p != ANY_SERVICE}))


# The CloudEvents distributed-tracing extension in Kafka binary mode: the W3C trace context of the
# work that raised the event.
TRACEPARENT_HEADER, TRACESTATE_HEADER = "ce_traceparent", "ce_tracestate"


def encode(
    data: EventData, *, key: str, source: str, subject: str | None = None, signer: ServiceKey | None = None,
    trace: TraceContext | None = None,
) -> tuple[str, KafkaRecord]:
    """Wrap `data` in a CloudEvent keyed by `key` (the report id), signed by `signer` (the producing
    service's key; see shared/signing.py); returns (event id, record). Without a signer the event is
    unsigned, and every consumer refuses it. `trace`, the span that raised the event, travels as the
    distributed-tracing extension (`ce_traceparent`, `ce_tracestate`).

    The binary-mode Kafka message the CloudEvents SDK makes, written out directly: the SDK builds
    an event object, re-parses the data and dumps it again (about 0.13 ms per report, a tenth of
    intake's CPU per submission). The data is Pydantic's JSON in UTF-8 instead of the SDK's
    ASCII-escaped dump; a test checks the headers are the SDK's and that it decodes both alike.
    """
    if signer is not None and source != signer.source:
        raise ValueError(f"{signer.service}'s key signs events of {signer.source} only, not {source}")
    event_id = str(uuid.uuid4())
    headers = {
        "ce_id": event_id,
        "ce_source": source,
        "ce_type": data.event_type,
        "ce_specversion": "1.0",
        "ce_time": utcnow().isoformat().replace("+00:00", "Z"),
        "content-type": CONTENT_TYPE,
        "ce_subject": subject or key,
        "ce_partitionkey": key,
    }
    if trace is not None:
        # Not covered by the signature, on purpose. The extension lets middleware between source and
        # sink add it when the source did not, so it is no attribute of the event's identity; what it
        # says came from a client's headers in the first place, so a signature would vouch for nothing;
        # and it decides nothing: consumers read it strictly (shared/tracing.py) only to group log
        # lines and to continue the trace. A forged or broken one regroups one event's log lines; it
        # cannot make an event be applied, refused, attributed or deduplicated otherwise.
        headers[TRACEPARENT_HEADER] = trace.traceparent
        if (state := trace.tracestate) is not None:
            headers[TRACESTATE_HEADER] = state
    value = data.model_dump_json().encode()
    if signer is not None:
        headers = signer.sign_event(headers, value)
    return event_id, KafkaRecord(topic=data.topic, key=key, headers=headers, value=value)


# Why an event was not applied: the consumer's dead-letter reason codes.
NOT_A_CLOUDEVENT, UNKNOWN_TYPE, INVALID_DATA = "not_a_cloudevent", "unknown_type", "invalid_data"
REJECTED_BY_HANDLER, HANDLER_FAILED = "rejected_by_handler", "handler_failed"
SIGNATURE_INVALID, UNTRUSTED_SOURCE, TYPE_NOT_ALLOWED = "signature_invalid", "untrusted_source", "type_not_allowed"
TRUST_REASONS = frozenset({SIGNATURE_INVALID, UNTRUSTED_SOURCE, TYPE_NOT_ALLOWED})


class PoisonEvent(Exception):
    """The message can never be applied (not a CloudEvent, not trusted, unknown type, invalid data, or
    a handler found it impossible); `reason` is the code it is dead-lettered with."""

    def __init__(self, detail: str, *, reason: str = REJECTED_BY_HANDLER) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True)
class ReceivedEvent:
    id: str
    type: str
    source: str
    subject: str | None
    time: datetime | None
    key: str | None
    data: EventData
    trace: TraceContext | None = None  # the span that raised it (ce_traceparent), when it names a valid one


def decode(
    headers: list[tuple[str, bytes]] | None, key: bytes | None, value: bytes | None, *, trust: EventTrust,
) -> ReceivedEvent:
    """Parse a binary-mode CloudEvent off the wire, check who signed it against `trust`, and validate
    its data against the catalog. Nothing of an event that fails is looked at further."""
    header_map = {name: raw for name, raw in (headers or [])}
    if "ce_id" not in header_map or "ce_type" not in header_map:
        raise PoisonEvent("not a binary-mode CloudEvent: ce_id/ce_type headers missing", reason=NOT_A_CLOUDEVENT)
    try:
        signed_by = trust.check(header_map, value or b"")
    except UntrustedEvent as exc:
        raise PoisonEvent(str(exc), reason=exc.reason) from exc
    # The trace context is read apart, by us and strictly: a broken one (not even UTF-8) must not make
    # a genuine event undecodable, since the signature does not cover it.
    traceparent, tracestate = header_map.pop(TRACEPARENT_HEADER, None), header_map.pop(TRACESTATE_HEADER, None)
    try:
        event = ce_kafka.from_binary_event(
            ce_kafka.KafkaMessage(headers=header_map, key=key, value=value or b"")
        )
    except Exception as exc:  # the SDK raises several kinds for malformed envelopes
        raise PoisonEvent(f"malformed CloudEvent: {exc}", reason=NOT_A_CLOUDEVENT) from exc
    schema = CATALOG.get(event.get_type())
    if schema is None:
        raise PoisonEvent(f"unknown event type {event.get_type()!r}", reason=UNKNOWN_TYPE)
    try:
        data = schema.model_validate(event.get_data())
    except ValidationError as exc:
        raise PoisonEvent(f"invalid {schema.event_type} data: {exc.errors()[:3]}", reason=INVALID_DATA) from exc
    if schema.producer == ANY_SERVICE and getattr(data, "service", None) != signed_by:
        # A type every service publishes about itself: only about itself.
        raise PoisonEvent(f"{signed_by} signed an event about {str(getattr(data, 'service', ''))[:40]}",
                          reason=UNTRUSTED_SOURCE)
    report_id = getattr(data, "report_id", None)
    if report_id is not None and event.get_subject() != report_id:
        # The signature covers the subject and the data; both must name the same report.
        raise PoisonEvent(f"subject {str(event.get_subject())[:40]!r} is not the data's report", reason=INVALID_DATA)
    return ReceivedEvent(
        id=event.get_id(),
        type=event.get_type(),
        source=event.get_source(),
        subject=event.get_subject(),
        time=event.get_time(),
        key=key.decode() if key else None,
        data=data,
        trace=TraceContext.parse(_text(traceparent), _text(tracestate)),
    )


def _text(raw: bytes | None) -> str | None:
    return raw.decode("utf-8", "replace") if raw else None
