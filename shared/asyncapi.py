"""The event contract as an AsyncAPI 3.0.0 document, generated from the catalog (shared/events.py).

Channels are the topics (and the dead-letter topic of each topic a service consumes), messages the
event types with their data's JSON Schema (from the Pydantic models), the CloudEvents `ce_` headers
with the signature and trace-context extensions, and the Kafka key; operations say which service
sends and which receives, in which consumer group. Every message has an example, signed as on the
wire (shared/event_examples.py).

`document()` is the suite's whole contract (shipped as docs/asyncapi.json: `python -m
shared.asyncapi > docs/asyncapi.json`); `document(["intake"])` a service's own, which it serves at
`GET /asyncapi.json` (`router_for`).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic.json_schema import models_json_schema

from shared.anchors import ANCHOR_SUBSCRIBER_SUFFIX, ANCHORS_TOPIC
from shared.event_examples import Example, example_public_keys, examples
from shared.events import (
    ANY_SERVICE,
    CATALOG,
    CONTENT_TYPE,
    HANDLER_FAILED,
    INVALID_DATA,
    NOT_A_CLOUDEVENT,
    REJECTED_BY_HANDLER,
    SIGNATURE_INVALID,
    SIGNING_SERVICES,
    TOPICS,
    TYPE_NOT_ALLOWED,
    UNKNOWN_TYPE,
    UNTRUSTED_SOURCE,
    dead_letter_topic,
)
from shared.signing import KEY_ID_HEADER, SCHEME, SIGNATURE_HEADER, SIGNED_ATTRIBUTES, source_of

ASYNCAPI_VERSION = "3.0.0"
# The contract's own version: the minor part grows when a type or an optional field is added. It
# never takes a major step: a breaking change is a new `.vN` type beside the old one.
CONTRACT_VERSION = "1.0.0"
KAFKA_BINDING = "0.5.0"
DEAD_LETTER = "dead_letter"


@dataclass(frozen=True)
class Subscription:
    """A service consuming a topic in its consumer group (its `ConsumerSpec`s declare the same; a
    test holds the two equal)."""

    service: str
    topic: str
    group: str


_SERVICES: tuple[str, ...] = ("intake", "verification", "clarification", "credit_blacklist")
SUBSCRIPTIONS: tuple[Subscription, ...] = (
    Subscription("verification", "reports.submitted", "verification"),
    Subscription("intake", "reports.verified", "intake"),
    Subscription("clarification", "reports.verified", "clarification"),
    Subscription("credit_blacklist", "reports.verified", "credit_blacklist"),
    *(Subscription(service, ANCHORS_TOPIC, f"{service}{ANCHOR_SUBSCRIBER_SUFFIX}") for service in _SERVICES),
)
SERVICES: tuple[str, ...] = tuple(dict.fromkeys([*SIGNING_SERVICES, *_SERVICES]))

SUMMARIES: dict[str, str] = {
    "report.submitted.v1": "A report was received: its subject, allegations and region, never who reported it.",
    "report.verified.v1": "A report's final verdict (or a correction superseding an earlier one).",
    "clarification.opened.v1": "A clarification (澄清正名) opened for an official cleared by a final verdict.",
    "clarification.meeting_scheduled.v1": "A clarification meeting was scheduled, rescheduled or cancelled.",
    "clarification.meeting_held.v1": "A clarification meeting was held.",
    "clarification.closed.v1": "A clarification closed: completed, declined or cancelled.",
    "blacklist.entry_notified.v1": "A malicious accuser was notified of a blacklist entry (no identity).",
    "blacklist.entry_activated.v1": "A blacklist entry became active after its objection window.",
    "blacklist.entry_removed.v1": "A blacklist entry ended: revoked, expired or repaired.",
    "audit.anchored.v1": "The head of a service's audit chain, for the other services to keep.",
    "risk_filing.filed.v1": "A risky decision filed before acting (风险报备) was reviewed and filed.",
    "risk_filing.closed.v1": "A filed matter's outcome: done as planned, or departed from the plan.",
}
# What each topic's messages are keyed by (and name in `ce_subject`), when not the report id.
KEYED_BY: dict[str, str] = {ANCHORS_TOPIC: "the service the anchor is about",
                            "risk_filings.events": "the risk filing id"}
DEAD_LETTER_REASONS = (NOT_A_CLOUDEVENT, UNKNOWN_TYPE, INVALID_DATA, REJECTED_BY_HANDLER, HANDLER_FAILED,
                       SIGNATURE_INVALID, UNTRUSTED_SOURCE, TYPE_NOT_ALLOWED)

_SIGNED = ", ".join(f"`{name}`" for name, _ in SIGNED_ATTRIBUTES)
DESCRIPTION = f"""\
The events Zhengming publishes on Kafka, one CloudEvents 1.0 event per Kafka message.

* **Envelope**: the CloudEvents Kafka protocol binding in binary content mode: each attribute is a
  header `ce_<attribute>`, the data is the message value (JSON, UTF-8), `content-type` is
  `{CONTENT_TYPE}`. Times in the data are UTC (`Z`), dates are calendar dates in China (Asia/Shanghai).
* **Key and ordering**: the message key is the report id (`ce_partitionkey`, and `ce_subject`, hold
  the same), so all events of one report are in one partition, in the order they happened. There is
  no order between reports. `audit.anchored.v1` is keyed by the service it is about, the
  `risk_filing.*` events by the risk filing's id.
* **Delivery**: at least once. An event may arrive twice (an outbox replay re-publishes the same
  event with the same `ce_id` and signature): deduplicate on `ce_id`.
* **Versioning**: every type ends in `.vN`. Within a type, fields are only ever added, and only as
  optional ones; ignore fields you do not know. A breaking change is a new type (`.v2`) published
  beside the old one for a transition period. Unknown `ce_` extension headers are to be ignored too.
* **Signatures**: every event is signed by the service that produced it with its Ed25519 key:
  `{SIGNATURE_HEADER}` (standard base64 of the 64-byte signature) and `{KEY_ID_HEADER}` (`<service>-`
  and the first 16 hex digits of the SHA-256 of the raw public key). The signed bytes are the UTF-8
  lines `{SCHEME.decode()}`, then `name=value` for {_SIGNED} (the values as in the headers `ce_id`,
  `ce_source`, `ce_type`, `ce_subject`, `ce_time`, `content-type`), each ended by a line feed, one
  more line feed, then the message value exactly as received. Accept an event only if `ce_source` is
  `/zhengming/<service>` of the service this document names as the type's producer (for
  `audit.anchored.v1`: the service named in its data), the key id is one of that service's keys, and
  the signature verifies. The public keys come from the operators (the trust file `event-trust.json`).
* **Trace context**: `ce_traceparent` / `ce_tracestate` (the CloudEvents distributed-tracing
  extension, W3C Trace Context) name the request the event came from; optional and not signed.
* **Dead letters**: a Zhengming consumer that cannot apply an event sends it, unchanged, to
  `<topic>.DLT` with `dlt_*` headers saying why. Those topics are for operators, not for consumers.

The examples are signed with example keys that no service trusts (`x-zhengming-example-keys`), so a
verifier can be tested against them.
"""


def document(services: Iterable[str] | None = None) -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document of `services` (names in `SERVICES`): only the channels they send
    to or receive from, their operations, and the messages and schemas those use. All services when
    None. A new dict on every call."""
    chosen = list(SERVICES if services is None else services)
    unknown = sorted(set(chosen) - set(SERVICES))
    if unknown:
        raise ValueError(f"no such service: {', '.join(unknown)}")
    full = _full_document()
    if services is None:
        return full
    return _only(full, set(chosen))


def router_for(service: str) -> APIRouter:
    """`GET /asyncapi.json`: `service`'s own event contract; open like /openapi.json, and not in it."""
    body = json.dumps(document([service]), ensure_ascii=False).encode()
    router = APIRouter()

    @router.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi_json() -> Response:
        # Serialized once, when the app is built: it cannot change while the service runs.
        return Response(body, media_type="application/json")

    return router


# --- the whole document --------------------------------------------------------------------------


def _full_document() -> dict[str, Any]:
    by_example = examples()
    missing = sorted(set(CATALOG) - set(by_example))
    if missing:
        raise RuntimeError(f"event types without an example: {', '.join(missing)}")
    payloads, schemas = _payload_schemas()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic in TOPICS:
        types = [event_type for event_type, cls in CATALOG.items() if cls.topic == topic]
        for event_type in types:
            messages[event_type] = _message(event_type, payloads[event_type], by_example[event_type])
        channels[topic] = _channel(topic, types)
        for producer in _producers(types):
            operations[f"{producer}.send.{topic}"] = _operation("send", topic, types, producer)
        for sub in _subscribers(topic):
            operations[f"{sub.service}.receive.{topic}"] = _operation("receive", topic, types, sub.service, sub)
    dead_lettered = sorted({sub.topic for sub in SUBSCRIPTIONS}, key=TOPICS.index)
    for topic in dead_lettered:
        dlt = dead_letter_topic(topic)
        channels[dlt] = {
            "address": dlt, "title": f"Dead letters of {topic}",
            "description": f"Events a Zhengming consumer of `{topic}` could not apply, as they arrived, with "
                           "the reason in `dlt_*` headers. For operators (`zhengming dlq`); never apply them.",
            "messages": {DEAD_LETTER: {"$ref": f"#/components/messages/{DEAD_LETTER}"}},
            "bindings": {"kafka": {"topic": dlt, "bindingVersion": KAFKA_BINDING}},
        }
        for sub in _subscribers(topic):
            operations[f"{sub.service}.send.{dlt}"] = {
                "action": "send", "channel": {"$ref": f"#/channels/{dlt}"},
                "summary": f"{sub.service} dead-letters what it cannot apply from {topic} (through its outbox).",
                "messages": [{"$ref": f"#/channels/{dlt}/messages/{DEAD_LETTER}"}],
            }
    messages[DEAD_LETTER] = _dead_letter_message(by_example["report.verified.v1"])
    schemas.update(_header_schemas())
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:zhengming:events",
        "info": {"title": "Zhengming events", "version": CONTRACT_VERSION, "description": DESCRIPTION},
        "servers": _servers(),
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas, "messages": messages, "securitySchemes": _security_schemes(),
            "x-zhengming-example-keys": example_public_keys(),
        },
    }


def _payload_schemas() -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Event type -> a reference to its data's schema, and every schema under components/schemas.
    Validation mode: what a consumer may receive, fields with defaults being optional (an event
    written before a field was added lacks it)."""
    classes = list(CATALOG.values())
    refs, top = models_json_schema([(cls, "validation") for cls in classes],
                                   ref_template="#/components/schemas/{model}")
    payloads = {cls.event_type: refs[(cls, "validation")] for cls in classes}
    return payloads, dict(top.get("$defs", {}))


def _producers(types: list[str]) -> list[str]:
    producers = {CATALOG[t].producer for t in types}
    return list(SERVICES) if ANY_SERVICE in producers else sorted(producers, key=SERVICES.index)


def _subscribers(topic: str) -> list[Subscription]:
    return [sub for sub in SUBSCRIPTIONS if sub.topic == topic]


def _channel(topic: str, types: list[str]) -> dict[str, Any]:
    producers = _producers(types)
    consumers = [sub.service for sub in _subscribers(topic)] or ["other systems (not Zhengming's services)"]
    return {
        "address": topic,
        "title": topic,
        "description": f"Produced by {', '.join(producers)}; consumed by {', '.join(consumers)}. Keyed by "
                       f"{KEYED_BY.get(topic, 'report id')}.",
        "messages": {t: {"$ref": f"#/components/messages/{t}"} for t in types},
        "bindings": {"kafka": {"topic": topic, "bindingVersion": KAFKA_BINDING}},
    }


def _operation(action: str, topic: str, types: list[str], service: str,
               sub: Subscription | None = None) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "action": action, "channel": {"$ref": f"#/channels/{topic}"},
        "messages": [{"$ref": f"#/channels/{topic}/messages/{t}"} for t in types],
    }
    if sub is None:
        operation["summary"] = (f"{service} publishes, through its outbox, each event in the transaction of the "
                                "change it tells of, signed with its key.")
    else:
        operation["summary"] = (f"{service} applies each event once (its inbox), after checking the signature; "
                                f"what it cannot apply goes to {dead_letter_topic(topic)}.")
        operation["bindings"] = {"kafka": {
            "groupId": {"type": "string", "enum": [sub.group]},
            "clientId": {"type": "string", "enum": [f"{sub.group}-consumer"]},
            "bindingVersion": KAFKA_BINDING}}
    return operation


def _message(event_type: str, payload: dict[str, Any], example: Example) -> dict[str, Any]:
    cls = CATALOG[event_type]
    anchor = cls.producer == ANY_SERVICE
    sources = [source_of(s) for s in (SERVICES if anchor else [cls.producer])]
    message: dict[str, Any] = {
        "name": event_type,
        "title": event_type,
        "summary": SUMMARIES[event_type],
        "contentType": CONTENT_TYPE,
        "headers": {"allOf": [
            {"$ref": "#/components/schemas/CloudEventHeaders"},
            {"type": "object", "properties": {"ce_type": {"const": event_type}, "ce_source": {"enum": sources}}},
        ]},
        "payload": payload,
        "bindings": {"kafka": {"key": {
            "type": "string", "description": f"{KEYED_BY.get(cls.topic, 'the report id')} (as ce_partitionkey)",
        }, "bindingVersion": KAFKA_BINDING}},
        "examples": [{"name": example.name, "summary": example.summary, "headers": example.headers,
                      "payload": example.data.model_dump(mode="json")}],
    }
    if cls.__doc__:
        message["description"] = " ".join(cls.__doc__.split())
    if not anchor:
        keyed_by = KEYED_BY.get(cls.topic, "the report id")
        message["correlationId"] = {"description": f"{keyed_by}, the same on every event of one "
                                                   f"{'filing' if cls.topic in KEYED_BY else 'report'}",
                                    "location": "$message.header#/ce_subject"}
    return message


def _dead_letter_message(original: Example) -> dict[str, Any]:
    headers = {**original.headers, "dlt_original_topic": "reports.verified", "dlt_original_partition": "1",
               "dlt_original_offset": "2817", "dlt_subscriber": "clarification", "dlt_attempts": "1",
               "dlt_reason": SIGNATURE_INVALID,
               "dlt_error": f"{SIGNATURE_INVALID}: key '{original.headers[KEY_ID_HEADER]}' is not a key of "
                            "verification",
               "dlt_failed_at": "2026-03-20T07:45:01.204518+00:00"}
    return {
        "name": DEAD_LETTER, "title": "A dead-lettered event",
        "summary": "An event a consumer gave up on: the original key, headers and value, and why.",
        "description": "The value is the original message value, byte for byte (an event's JSON data, or "
                       "anything at all when the reason is not_a_cloudevent), so no schema holds it.",
        "headers": {"$ref": "#/components/schemas/DeadLetterHeaders"},
        "payload": {"description": "the original message value, unchanged"},
        "bindings": {"kafka": {"key": {"type": "string", "description": "the original message key"},
                               "bindingVersion": KAFKA_BINDING}},
        "examples": [{"name": "an_event_signed_with_an_unknown_key",
                      "summary": "clarification refused a verdict whose key is not in its trust file",
                      "headers": headers, "payload": original.data.model_dump(mode="json")}],
    }


def _header_schemas() -> dict[str, Any]:
    def text(description: str, **constraints: Any) -> dict[str, Any]:
        return {"type": "string", "description": description, **constraints}

    ce_headers = {
        "ce_id": text("the event id, unique per event and kept by a replay: deduplicate on it", format="uuid"),
        "ce_source": text("/zhengming/<service>: the producing service", pattern="^/zhengming/[a-z_]+$"),
        "ce_type": text("the event type, versioned: <noun>.<past tense>.v<N>",
                        pattern=r"^[a-z_]+(\.[a-z_]+)+\.v[1-9][0-9]*$"),
        "ce_specversion": {"const": "1.0", "description": "CloudEvents 1.0"},
        "ce_time": text("when the event was written (UTC, RFC 3339)", format="date-time"),
        "ce_subject": text("the report id (audit.anchored.v1: the service it is about; risk_filing.*: the risk "
                           "filing id)", minLength=1),
        "content-type": {"const": CONTENT_TYPE, "description": "the data's media type (datacontenttype)"},
        "ce_partitionkey": text("the Kafka message key (CloudEvents partitioning extension)", minLength=1),
        SIGNATURE_HEADER: text("Ed25519 signature, standard base64 (see the document's description)",
                               contentEncoding="base64", pattern="^[A-Za-z0-9+/]{86}==$"),
        KEY_ID_HEADER: text("the signing key: <service>-<16 hex digits of SHA-256 of the raw public key>",
                            pattern="^[a-z_]+-[0-9a-f]{16}$"),
        "ce_traceparent": text("W3C traceparent of the work that raised the event (distributed-tracing "
                               "extension; optional, not signed)",
                               pattern="^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"),
        "ce_tracestate": text("W3C tracestate; our member `zhengming=<request id>` names the request the "
                              "trace started from, `zhengming-by=<request id>` the request that took this step "
                              "when another started the trace (every event about a report continues the trace "
                              "of its submission; optional, not signed)"),
    }
    optional = {"ce_traceparent", "ce_tracestate"}
    dlt_headers = {
        "dlt_original_topic": text("the topic the event was read from"),
        "dlt_original_partition": text("its partition", pattern="^[0-9]+$"),
        "dlt_original_offset": text("its offset", pattern="^[0-9]+$"),
        "dlt_subscriber": text("the consumer group that gave up on it"),
        "dlt_attempts": text("how many times it was tried", pattern="^[1-9][0-9]*$"),
        "dlt_reason": {"type": "string", "enum": list(DEAD_LETTER_REASONS), "description": "why"},
        "dlt_error": text("what went wrong, in a sentence (at most 1000 characters)", maxLength=1000),
        "dlt_failed_at": text("when it was given up (UTC)", format="date-time"),
    }
    return {
        "CloudEventHeaders": {
            "type": "object", "title": "CloudEvents headers (Kafka binary mode)",
            "description": "Every header value is a UTF-8 string. Ignore headers you do not know.",
            "properties": ce_headers, "required": [name for name in ce_headers if name not in optional],
            "additionalProperties": {"type": "string"},
        },
        "DeadLetterHeaders": {
            "type": "object", "title": "Dead-letter headers",
            "description": "The original message's headers (whatever they were), and these.",
            "properties": dlt_headers, "required": list(dlt_headers),
            "additionalProperties": {"type": "string"},
        },
    }


def _servers() -> dict[str, Any]:
    return {
        "development": {
            "host": "127.0.0.1:9092", "protocol": "kafka",
            "description": "The embedded broker `make run` starts (plaintext, loopback only, in memory).",
        },
        "production": {
            "host": "kafka:9092", "protocol": "kafka-secure",
            "description": "Apache Kafka as deploy/ runs it: SASL_SSL with SCRAM-SHA-512, or mutual TLS; "
                           "ACLs let each principal read only the topics it may.",
            "security": [{"$ref": "#/components/securitySchemes/scram"},
                         {"$ref": "#/components/securitySchemes/mutualTls"}],
        },
    }


def _security_schemes() -> dict[str, Any]:
    return {
        "scram": {"type": "scramSha512", "description": "SASL/SCRAM-SHA-512 over TLS"},
        "mutualTls": {"type": "X509", "description": "a client certificate (mTLS)"},
    }


# --- one service's part --------------------------------------------------------------------------


def _only(full: dict[str, Any], services: set[str]) -> dict[str, Any]:
    """`full` cut down to the operations of `services` and what they refer to."""
    operations = {name: op for name, op in full["operations"].items() if name.split(".", 1)[0] in services}
    channel_names = {op["channel"]["$ref"].rsplit("/", 1)[1] for op in operations.values()}
    channels = {name: ch for name, ch in full["channels"].items() if name in channel_names}
    components = full["components"]
    referenced = set(_refs(channels))
    messages = {name: m for name, m in components["messages"].items()
                if f"#/components/messages/{name}" in referenced}
    schemas: dict[str, Any] = {}
    pending = [ref for ref in _refs(messages) if ref.startswith("#/components/schemas/")]
    while pending:
        name = pending.pop().rsplit("/", 1)[1]
        if name not in schemas:
            schemas[name] = components["schemas"][name]
            pending.extend(_refs(schemas[name]))
    names = " and ".join(sorted(services))
    doc = dict(full)  # `full` is this call's own: nothing in it is shared
    doc.update(id=f"urn:zhengming:events:{'+'.join(sorted(services))}", channels=channels, operations=operations)
    doc["info"] = {**full["info"], "title": f"Zhengming events: {names}",
                   "description": f"What {names} sends and receives; the suite's whole contract is "
                                  f"docs/asyncapi.json in the repository.\n\n{DESCRIPTION}"}
    doc["components"] = {**components, "messages": messages,
                         "schemas": {k: v for k, v in components["schemas"].items() if k in schemas}}
    return doc


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


def main(argv: list[str] | None = None) -> None:
    """`python -m shared.asyncapi [service ...]`: the document as JSON on standard output."""
    args = sys.argv[1:] if argv is None else argv
    sys.stdout.write(json.dumps(document(args or None), ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    main()
