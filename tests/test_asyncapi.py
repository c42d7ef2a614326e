"""The event contract (AsyncAPI 3.0.0): every event type documented with its schema, headers, key and
a signed example; valid against the official AsyncAPI schema; served by each service for the
channels it really uses; shipped in the repository exactly as the code generates it; and the
headers it documents are the ones `encode` puts on the wire and `decode` accepts.

The official schema comes from the pinned npm package in tools/asyncapi (`npm ci --prefix
tools/asyncapi`); without it the schema test is skipped, saying so, unless
ZM_REQUIRE_CONTRACT_TOOLS=1 (CI), which makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7
from stdnum.cn import ric

from services.registry import SERVICES
from shared.asyncapi import DEAD_LETTER, document
from shared.event_examples import EXAMPLE_TRACEPARENT, EXAMPLE_TRACESTATE
from shared.events import ANY_SERVICE, CATALOG, PRODUCERS, PoisonEvent, dead_letter_topic, decode, encode
from shared.signing import EventTrust
from shared.tracing import TraceContext
from shared.workers import ANCHOR_CONSUMER
from tests.conftest import build_app, serve
from tests.keys import SERVICE_KEYS, TRUST

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "docs" / "asyncapi.json"
TOOLS = ROOT / "tools" / "asyncapi"
OFFICIAL_SCHEMA = TOOLS / "node_modules" / "@asyncapi" / "specs" / "schemas" / "3.0.0.json"
BASE = "urn:zhengming:asyncapi"


def official_schema() -> dict[str, Any]:
    if not OFFICIAL_SCHEMA.exists():
        why = f"the official AsyncAPI 3.0.0 schema is not installed ({OFFICIAL_SCHEMA.relative_to(ROOT)}): " \
              "run `npm ci --prefix tools/asyncapi`"
        if os.environ.get("ZM_REQUIRE_CONTRACT_TOOLS") == "1":
            pytest.fail(why)
        pytest.skip(why)
    installed = json.loads((OFFICIAL_SCHEMA.parents[1] / "package.json").read_text())["version"]
    pinned = json.loads((TOOLS / "package.json").read_text())["devDependencies"]["@asyncapi/specs"]
    assert installed == pinned, f"@asyncapi/specs {installed} is installed, {pinned} is pinned: run npm ci"
    return dict(json.loads(OFFICIAL_SCHEMA.read_text()))


def validator(doc: dict[str, Any], pointer: str) -> Draft7Validator:
    """A validator of the schema at `pointer` in `doc`, its `$ref`s resolved inside `doc` only. Draft 7:
    an AsyncAPI Schema Object is a superset of JSON Schema draft 07."""
    registry: Registry[Any] = Registry().with_resource(BASE, Resource.from_contents(doc, default_specification=DRAFT7))
    return Draft7Validator({"$ref": f"{BASE}#{pointer}"}, registry=registry,
                           format_checker=Draft7Validator.FORMAT_CHECKER)


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref}: only references inside the document"
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [node["$ref"]] if isinstance(node.get("$ref"), str) else [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for item in node for r in refs(item)]
    return []


def strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for k, v in node.items() for s in [k, *strings(v)]]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return [node] if isinstance(node, str) else []


def wire(example: dict[str, Any]) -> tuple[list[tuple[str, bytes]], bytes, bytes]:
    """A documented example as a consumer receives it: headers, key (= ce_partitionkey), value (the
    payload's compact UTF-8 JSON, as the producer writes it)."""
    headers = example["headers"]
    value = json.dumps(example["payload"], ensure_ascii=False, separators=(",", ":")).encode()
    return [(k, v.encode()) for k, v in headers.items()], headers["ce_partitionkey"].encode(), value


def producers_of(event_type: str) -> list[str]:
    producer = CATALOG[event_type].producer
    return list(SERVICES) if producer == ANY_SERVICE else [producer]


# --- the whole contract ----------------------------------------------------------------------------


def test_every_event_type_is_documented_on_its_topic_with_its_schema_key_and_an_example():
    doc = document()
    messages = doc["components"]["messages"]
    for event_type, cls in CATALOG.items():
        message = messages[event_type]
        assert resolve(doc, message["payload"]["$ref"])["properties"].keys() == cls.model_fields.keys()
        assert message["bindings"]["kafka"]["key"]["type"] == "string"
        assert message["examples"], f"{event_type} has no example"
        channel = doc["channels"][cls.topic]
        assert channel["address"] == cls.topic
        assert channel["messages"][event_type] == {"$ref": f"#/components/messages/{event_type}"}
        for producer in producers_of(event_type):
            send = doc["operations"][f"{producer}.send.{cls.topic}"]
            assert send["action"] == "send"
            assert {"$ref": f"#/channels/{cls.topic}/messages/{event_type}"} in send["messages"]
    # Nothing documented that the catalog does not publish.
    assert set(messages) - {DEAD_LETTER} == set(CATALOG)


def test_every_reference_in_the_document_leads_somewhere_and_operations_use_their_channels_messages():
    """What the official schema cannot check: a `$ref` that points at nothing, or an operation naming
    a message its channel does not carry, makes the document unusable to AsyncAPI tools."""
    for doc in [document(), *(document([service]) for service in SERVICES)]:
        for ref in refs(doc):
            assert resolve(doc, ref) is not None
        for name, operation in doc["operations"].items():
            channel_ref = operation["channel"]["$ref"]
            for message in operation["messages"]:
                assert message["$ref"].startswith(f"{channel_ref}/messages/"), f"{name}: {message}"


def test_the_documents_validate_against_the_official_asyncapi_3_schema():
    schema = official_schema()
    spec = Draft7Validator(schema)  # refers only to definitions inside itself: nothing is fetched
    for doc in [document(), *(document([service]) for service in SERVICES)]:
        errors = [f"{e.json_path}: {e.message[:200]}" for e in spec.iter_errors(doc)]
        assert not errors, errors[:5]
    broken = document()
    broken["operations"]["intake.send.reports.submitted"]["action"] = "publish"  # AsyncAPI 2's word
    assert not spec.is_valid(broken)


def test_every_documented_example_validates_against_its_payload_and_header_schemas():
    doc = document()
    for name, message in doc["components"]["messages"].items():
        payload = validator(doc, f"/components/messages/{name}/payload")
        headers = validator(doc, f"/components/messages/{name}/headers")
        for example in message["examples"]:
            assert not [e.message for e in payload.iter_errors(example["payload"])], (name, example["name"])
            assert not [e.message for e in headers.iter_errors(example["headers"])], (name, example["name"])
    # The schemas do hold something: an example broken in its data, or in a header, fails them.
    example = doc["components"]["messages"]["report.verified.v1"]["examples"][0]
    payload = validator(doc, "/components/messages/report.verified.v1/payload")
    assert not payload.is_valid({**example["payload"], "verdict": "guilty"})
    assert not payload.is_valid({k: v for k, v in example["payload"].items() if k != "concluded_at"})
    headers = validator(doc, "/components/messages/report.verified.v1/headers")
    assert not headers.is_valid({**example["headers"], "ce_source": "/zhengming/intake"})
    assert not headers.is_valid({k: v for k, v in example["headers"].items() if k != "ce_signature"})


def test_a_documented_example_is_accepted_by_decode_exactly_as_documented():
    """The documented headers, key and value, signed with the published example keys, are what our
    own consumers accept under a trust file holding those keys -- and what they refuse under the real
    one: no service trusts an example."""
    doc = document()
    example_trust = EventTrust.from_document(
        {service: [pem] for service, pem in doc["components"]["x-zhengming-example-keys"].items()}, PRODUCERS)
    for event_type in CATALOG:
        (example,) = doc["components"]["messages"][event_type]["examples"]
        event = decode(*wire(example), trust=example_trust)
        assert event.type == event_type and event.id == example["headers"]["ce_id"]
        assert event.trace is not None and event.trace.traceparent == example["headers"]["ce_traceparent"]
        assert event.data == CATALOG[event_type].model_validate(example["payload"])
        assert event.data.model_dump_json().encode() == wire(example)[2]  # the bytes the signature covers
        with pytest.raises(PoisonEvent) as refused:
            decode(*wire(example), trust=TRUST)
        assert refused.value.reason == "signature_invalid"


def test_the_headers_encode_puts_on_the_wire_are_the_documented_ones():
    doc = document()
    documented = set(doc["components"]["schemas"]["CloudEventHeaders"]["properties"])
    trace = TraceContext.parse(EXAMPLE_TRACEPARENT, EXAMPLE_TRACESTATE)
    for event_type, cls in CATALOG.items():
        (example,) = doc["components"]["messages"][event_type]["examples"]
        data = cls.model_validate(example["payload"])
        signer = SERVICE_KEYS[getattr(data, "service", None) or cls.producer]
        key = example["headers"]["ce_partitionkey"]
        _, record = encode(data, key=key, source=signer.source, subject=getattr(data, "report_id", None),
                           signer=signer, trace=trace)
        assert set(record.headers) <= documented, f"undocumented headers: {set(record.headers) - documented}"
        headers = validator(doc, f"/components/messages/{event_type}/headers")
        assert not [e.message for e in headers.iter_errors(record.headers)], event_type
        assert record.topic == cls.topic and record.key == key
        assert decode([(k, v.encode()) for k, v in record.headers.items()], key.encode(), record.value,
                      trust=TRUST).data == data


def test_no_reporter_identity_appears_anywhere_in_the_contract():
    doc = document()
    for text in strings(doc):
        for token in re.findall(r"[0-9]{17}[0-9Xx]", text):
            assert not ric.is_valid(token), f"a resident ID number in the contract: {token}"
        assert not re.search(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])", text), f"a phone number: {text[:80]}"
    fields = {f for schema in doc["components"]["schemas"].values() for f in schema.get("properties", {})}
    assert not fields & {"reporter", "reporter_name", "id_number", "phone", "address", "reporter_id_number"}


def test_the_shipped_document_is_what_the_code_generates():
    expected = json.dumps(document(), ensure_ascii=False, indent=2) + "\n"
    assert SHIPPED.read_text(encoding="utf-8") == expected, \
        "docs/asyncapi.json is stale: run `python -m shared.asyncapi > docs/asyncapi.json`"


# --- each service's own, served ------------------------------------------------------------------


async def test_each_service_serves_the_channels_it_sends_and_receives_at_asyncapi_json(
        new_database, settings_for):
    for name, definition in SERVICES.items():
        app = build_app(name, settings_for(name, await new_database(name)))
        async with serve(app) as client:
            answer = await client.get("/asyncapi.json")
            assert answer.status_code == 200 and answer.headers["content-type"] == "application/json"
            doc = answer.json()
            assert "/asyncapi.json" not in (await client.get("/openapi.json")).json()["paths"]
            # What the service really consumes: the specs its workers start from.
            specs = [*definition.consumers(app.runtime, app.resources), ANCHOR_CONSUMER]
        consumed = {spec.topic: f"{name}{spec.subscriber_suffix}" for spec in specs}
        produced = {cls.topic for t, cls in CATALOG.items() if name in producers_of(t)}
        assert set(doc["channels"]) == produced | set(consumed) | {dead_letter_topic(t) for t in consumed}
        assert all(op.split(".", 1)[0] == name for op in doc["operations"]), name
        for event_type, cls in CATALOG.items():
            if cls.topic in consumed:
                receive = doc["operations"][f"{name}.receive.{cls.topic}"]
                assert {"$ref": f"#/channels/{cls.topic}/messages/{event_type}"} in receive["messages"]
                assert receive["bindings"]["kafka"]["groupId"]["enum"] == [consumed[cls.topic]]
            if name in producers_of(event_type):
                assert doc["components"]["messages"][event_type]["examples"]
        assert set(doc["components"]["messages"]) - {DEAD_LETTER} == {
            t for t, cls in CATALOG.items() if cls.topic in produced | set(consumed)}


async def test_a_consumer_only_process_serves_its_event_contract_too(new_database, settings_for):
    """The process that receives the events is the one an operator asks what it receives."""
    app = build_app("verification", settings_for("verification", await new_database("verification"),
                                                 role="consumer"))
    async with serve(app) as client:
        answer = await client.get("/asyncapi.json")
    assert answer.status_code == 200
    assert "verification.receive.reports.submitted" in answer.json()["operations"]
