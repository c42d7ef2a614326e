import json
from datetime import UTC, datetime

import pytest

from shared.events import (
    BlacklistEntryNotifiedV1,
    PoisonEvent,
    ReportSubmittedV1,
    ReportVerifiedV1,
    decode,
    encode,
)
from tests.factories import submitted, wire
from tests.keys import SERVICE_KEYS, TRUST


def test_envelope_is_binary_mode_cloudevent_keyed_by_report():
    event_id, record = encode(submitted("r-9"), key="r-9", source="/zhengming/intake")
    assert record.topic == "reports.submitted"
    assert record.key == "r-9"
    assert record.headers["ce_id"] == event_id
    assert record.headers["ce_type"] == "report.submitted.v1"
    assert record.headers["ce_specversion"] == "1.0"
    assert record.headers["ce_source"] == "/zhengming/intake"
    assert record.headers["content-type"] == "application/json"
    assert "ce_time" in record.headers


def test_the_envelope_is_the_one_the_cloudevents_sdk_makes():
    """`encode` writes the SDK's binary-mode message out directly; the SDK must find in it the same
    event as in its own encoding: the same headers, and data that decodes to the same values."""
    from cloudevents.core.bindings import kafka as ce_kafka
    from cloudevents.core.v1.event import CloudEvent

    data = submitted("r-7").model_copy(update={"linked_report_ids": ["r-1"], "flags": ["near_duplicate"]})
    event_id, record = encode(data, key="r-7", source="/zhengming/intake")
    ours = ce_kafka.from_binary_event(ce_kafka.KafkaMessage(
        headers={k: v.encode() for k, v in record.headers.items()}, key=b"r-7", value=record.value))
    attributes = {"id": event_id, "source": "/zhengming/intake", "type": "report.submitted.v1",
                  "specversion": "1.0", "time": ours.get_time(), "datacontenttype": "application/json",
                  "subject": "r-7", "partitionkey": "r-7"}
    sdk = ce_kafka.to_binary_event(CloudEvent(attributes=attributes, data=json.loads(data.model_dump_json())))
    assert record.headers == {name: value.decode() for name, value in sdk.headers.items()}
    assert ours.get_data() == json.loads(sdk.value) and ours.get_attributes() == attributes
    assert "王建国".encode() in record.value  # UTF-8, not escaped


def test_round_trip_restores_typed_data():
    data = submitted()
    event_id, record = encode(data, key="r-1", source="/zhengming/intake", signer=SERVICE_KEYS["intake"])
    event = decode(*wire(record), trust=TRUST)
    assert event.id == event_id
    assert event.key == "r-1"
    assert event.data == data


def signed(headers: dict[str, str], value: bytes) -> list[tuple[str, bytes]]:
    """Headers signed by intake, as the genuine producer of report.submitted.v1 would sign them."""
    base = {"ce_source": "/zhengming/intake", "ce_specversion": "1.0", "ce_subject": "r",
            "ce_time": "2026-11-30T08:00:00Z", "content-type": "application/json", **headers}
    return [(k, v.encode()) for k, v in SERVICE_KEYS["intake"].sign_event(base, value).items()]


@pytest.mark.parametrize(
    ("headers", "value", "reason", "message"),
    [
        ([], b"{}", "not_a_cloudevent", "ce_id/ce_type headers missing"),
        (signed({"ce_id": "1", "ce_type": "nope.v1"}, b"{}"), b"{}", "type_not_allowed", "nope.v1"),
        (signed({"ce_id": "1", "ce_type": "report.submitted.v1"}, b'{"report_id": "r"}'), b'{"report_id": "r"}',
         "invalid_data", "invalid report.submitted.v1 data"),
        (signed({"ce_id": "1", "ce_type": "report.submitted.v1", "ce_specversion": "0.1"}, b"{}"), b"{}",
         "not_a_cloudevent", "malformed CloudEvent"),
    ],
)
def test_undecodable_messages_are_poison_with_a_reason(headers, value, reason, message):
    with pytest.raises(PoisonEvent, match=message) as caught:
        decode(headers, b"k", value, trust=TRUST)
    assert caught.value.reason == reason


def test_a_signed_event_whose_subject_is_not_its_report_is_poison():
    data = submitted("r-1")
    _, record = encode(data, key="r-1", source="/zhengming/intake", subject="r-2", signer=SERVICE_KEYS["intake"])
    with pytest.raises(PoisonEvent, match="not the data's report") as caught:
        decode(*wire(record), trust=TRUST)
    assert caught.value.reason == "invalid_data"


def test_reporter_identity_has_no_field_in_the_submitted_event():
    fields = set(ReportSubmittedV1.model_fields)
    assert not fields & {"reporter_name", "id_number", "phone", "address", "reporter"}


def test_the_verdict_vocabulary_travels_as_the_same_plain_strings():
    """Verdict, malice kind and severity are the shared enums: on the wire and in the schema the same
    strings as before, and decoded they still equal the plain strings consumers compare them with."""
    data = ReportVerifiedV1(report_id="r-1", case_id="c-1", verdict_id="v-1", verdict="malicious",
                            malice_kind="false_accusation", severity="serious", region_code="330502",
                            anonymous=False, concluded_at=datetime(2026, 11, 21, 8, 0, tzinfo=UTC))
    _, record = encode(data, key="r-1", source="/zhengming/verification", signer=SERVICE_KEYS["verification"])
    body = json.loads(record.value)
    assert (body["verdict"], body["malice_kind"], body["severity"]) == ("malicious", "false_accusation", "serious")
    received = decode(*wire(record), trust=TRUST).data
    assert isinstance(received, ReportVerifiedV1)
    assert (received.verdict, received.malice_kind, received.severity) == ("malicious", "false_accusation", "serious")
    assert f"{received.verdict}" == "malicious"
    enums = {name: definition.get("enum") for name, definition in ReportVerifiedV1.model_json_schema()["$defs"].items()}
    assert enums["Verdict"] == ["true", "untrue", "malicious", "inconclusive"]
    assert enums["MaliceKind"] == ["false_accusation", "malicious_slander", "rumor_mongering"]
    assert enums["Severity"] == ["minor", "ordinary", "serious"]
    notified = BlacklistEntryNotifiedV1.model_json_schema()
    assert notified["$defs"]["Severity"]["enum"] == ["minor", "ordinary", "serious"]
