"""The inbox's rules on a real database and no broker: applied once, bounded retries, dead letters
with their reason and provenance, refused signatures, outages retried without end."""

import asyncio
from types import SimpleNamespace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.events import PoisonEvent, decode
from shared.inbox import Message, dead_letter_headers
from shared.models import DeadLetter, InboxMark, OutboxMessage
from shared.observability import Metrics
from shared.signing import ServiceKey
from shared.uow import UnitOfWork
from tests.keys import AUDIT_KEYS, SERVICE_KEYS, TRUST
from tests.shared.inbox_helpers import (
    TOPIC,
    SimulatedCrash,
    cases,
    consumed,
    delivered,
    failing_on,
    make_inbox,
    raw,
    rows,
    settle,
)
from tests.verification.helpers import on_report_submitted, on_reports_submitted


async def test_a_redelivered_event_is_a_duplicate_and_changes_nothing(verification_db):
    """A crash after the database commit, before the offset commit, redelivers the event."""
    metrics = Metrics("verification")
    inbox = make_inbox(verification_db, metrics=metrics)
    message = delivered("r-1", offset=0)
    assert await settle(inbox, message) and await settle(inbox, message)
    assert await cases(verification_db) == 1
    assert [mark.outcome for mark in await rows(verification_db, InboxMark)] == ["applied"]
    assert consumed(metrics, "applied") == 1 and consumed(metrics, "duplicate") == 1


async def test_a_crash_before_the_db_commit_keeps_nothing_and_the_redelivery_applies_it(verification_db):
    async def crash_after_effect(event, uow):
        await on_report_submitted(event, uow)
        await uow.session.flush()  # the case row is written, but the transaction never commits
        raise SimulatedCrash

    message = delivered("r-1", offset=0)
    with pytest.raises(SimulatedCrash):
        await settle(make_inbox(verification_db, crash_after_effect), message)
    assert await cases(verification_db) == 0 and await rows(verification_db, InboxMark) == []
    assert await settle(make_inbox(verification_db), message)
    assert await cases(verification_db, "r-1") == 1


async def test_a_message_that_is_no_event_is_dead_lettered_with_its_reason_and_provenance(verification_db):
    metrics = Metrics("verification")
    inbox = make_inbox(verification_db, metrics=metrics)
    poison = raw(b"\xff not json", [("x", b"y")], offset=0, partition=1)
    assert await settle(inbox, poison)
    assert await settle(inbox, delivered("r-1", offset=1, partition=1))  # the next one on the partition

    assert await cases(verification_db, "r-1") == 1
    [letter] = await rows(verification_db, DeadLetter)
    assert letter.topic == TOPIC and "CloudEvent" in letter.error and letter.reason == "not_a_cloudevent"
    assert letter.event_id == f"{TOPIC}:1:0" and letter.attempts == 1
    [outgoing] = await rows(verification_db, OutboxMessage)  # the relay publishes it to the DLT
    assert outgoing.topic == f"{TOPIC}.DLT" and outgoing.payload == b"\xff not json" and outgoing.message_key == "r-1"
    headers = outgoing.headers
    assert headers["dlt_original_topic"] == TOPIC
    assert headers["dlt_original_offset"] == "0" and headers["dlt_original_partition"] == "1"
    assert "not a binary-mode CloudEvent" in headers["dlt_error"]
    assert headers["dlt_reason"] == "not_a_cloudevent" and headers["dlt_subscriber"] == "verification"
    assert headers["x"] == "y"
    assert metrics.dead_lettered.labels("verification", TOPIC)._value.get() == 1


async def test_a_dead_letter_redelivered_is_kept_and_counted_once(verification_db):
    metrics = Metrics("verification")
    inbox = make_inbox(verification_db, metrics=metrics)
    poison = raw(b"{}", [("ce_id", b"e-1")], offset=4)
    assert await settle(inbox, poison) and await settle(inbox, poison)
    assert len(await rows(verification_db, DeadLetter)) == 1 and len(await rows(verification_db, OutboxMessage)) == 1
    assert metrics.dead_lettered.labels("verification", TOPIC)._value.get() == 1


async def test_a_failing_handler_is_retried_then_dead_lettered_counting_its_try_in_a_batch(verification_db):
    """Applied together first, the events fail as one; the failing event's try there is its first
    attempt, so alone it is tried `max_attempts` times in all, and the others are applied."""
    calls: dict[str, int] = {}
    inbox = make_inbox(verification_db, failing_on("r-bad", calls))
    messages = [delivered(r, offset=i, key="r-1") for i, r in enumerate(("r-0", "r-bad", "r-1"))]
    bad_id = dict(messages[1].headers)["ce_id"].decode()
    failed: dict[str, int] = {}
    assert not await inbox.apply_together(messages, failed)
    assert failed == {bad_id: 1} and await cases(verification_db) == 0  # nothing of the batch kept
    for message in messages:
        assert await settle(inbox, message, failed)

    assert calls["r-bad"] == 3
    assert await cases(verification_db, "r-bad") == 0 and await cases(verification_db) == 2
    [letter] = await rows(verification_db, DeadLetter)
    assert letter.event_id == bad_id and letter.attempts == 3 and letter.reason == "handler_failed"
    assert "subject organization unknown" in letter.error
    [outgoing] = await rows(verification_db, OutboxMessage)
    assert outgoing.headers["dlt_attempts"] == "3" and outgoing.headers["dlt_reason"] == "handler_failed"


async def test_a_handler_failing_on_a_missing_file_is_dead_lettered_not_retried_for_ever(verification_db):
    """A FileNotFoundError is an OSError but no outage: the event fails like any other error."""
    calls = []

    async def handler(event, uow):
        calls.append(event.id)
        raise FileNotFoundError(2, "No such file or directory", "/var/lib/zhengming/templates/case.txt")

    assert await settle(make_inbox(verification_db, handler), delivered("r-1", offset=0))
    [letter] = await rows(verification_db, DeadLetter)
    assert len(calls) == 3 and letter.attempts == 3 and letter.reason == "handler_failed"
    assert letter.error.startswith("FileNotFoundError")


async def test_a_connection_error_is_retried_until_it_passes_without_counting_an_attempt(verification_db):
    calls = []

    async def handler(event, uow):
        calls.append(event.id)
        if len(calls) <= 5:  # more than max_attempts: an outage is never the event's fault
            raise ConnectionRefusedError(111, "Connect call failed")
        await on_report_submitted(event, uow)

    assert await settle(make_inbox(verification_db, handler), delivered("r-1", offset=0))
    assert len(calls) == 6 and await cases(verification_db, "r-1") == 1
    assert await rows(verification_db, DeadLetter) == []


async def test_a_handler_that_finds_the_event_impossible_dead_letters_it_at_once(verification_db):
    calls = []

    async def handler(event, uow):
        calls.append(event.id)
        raise PoisonEvent("the report names no allegation this office handles")

    assert await settle(make_inbox(verification_db, handler), delivered("r-1", offset=0))
    [letter] = await rows(verification_db, DeadLetter)
    assert len(calls) == 1 and letter.attempts == 1 and letter.reason == "rejected_by_handler"


async def test_a_stop_during_the_retries_leaves_the_message_unsettled(verification_db):
    stop = asyncio.Event()

    async def handler(event, uow):
        stop.set()
        raise ValueError("failing until stopped")

    assert not await make_inbox(verification_db, handler).handle(delivered("r-1", offset=0), stop)
    assert await rows(verification_db, DeadLetter) == [] and await rows(verification_db, InboxMark) == []


@pytest.mark.parametrize(("forge", "reason"), [
    (lambda: delivered("r-1", offset=0, unsigned=True), "signature_invalid"),
    (lambda: delivered("r-1", offset=0, signer=ServiceKey("intake", Ed25519PrivateKey.generate())),
     "signature_invalid"),
    (lambda: _tampered(delivered("r-1", offset=0)), "signature_invalid"),
    (lambda: delivered("r-1", offset=0, signer=SERVICE_KEYS["verification"]), "type_not_allowed"),
    (lambda: _from_source(delivered("r-1", offset=0), b"/zhengming/nobody"), "untrusted_source"),
])
async def test_an_event_not_signed_by_its_producer_is_refused_dead_lettered_and_counted(
        verification_db, forge, reason):
    calls = []

    async def handler(event, uow):
        calls.append(event.id)

    metrics = Metrics("verification")
    assert await settle(make_inbox(verification_db, handler, metrics=metrics), forge())
    assert calls == []
    [letter] = await rows(verification_db, DeadLetter)
    assert letter.reason == reason and letter.event_id == f"{TOPIC}:0:0"
    assert metrics.events_rejected.labels("verification", TOPIC, reason)._value.get() == 1


async def test_a_forged_event_does_not_take_the_id_of_the_genuine_one(verification_db):
    """Refused events are kept by their place on the topic, so a forgery carrying a genuine event's id
    first does not make the genuine event look applied."""
    genuine = delivered("r-1", offset=1)
    forged = raw(b"{}", [(k, v) for k, v in genuine.headers if k != "ce_signature"], offset=0)
    inbox = make_inbox(verification_db)
    assert await settle(inbox, forged) and await settle(inbox, genuine)
    assert await cases(verification_db, "r-1") == 1
    marks = {mark.event_id: mark.outcome for mark in await rows(verification_db, InboxMark)}
    assert marks == {f"{TOPIC}:0:0": "dead_lettered", dict(genuine.headers)["ce_id"].decode(): "applied"}


async def test_events_applied_together_take_one_transaction_and_a_repeat_among_them_is_applied_once(
        verification_db):
    messages = [delivered(f"r-{i}", offset=i, key="one-partition") for i in range(5)]
    twice = delivered("r-twice", offset=5, key="one-partition")
    # a relay that died after publishing, before marking sent, publishes it again
    messages += [twice, Message(TOPIC, 0, 6, twice.key, twice.headers, twice.value)]
    units = []

    def counting_uow():
        units.append(1)
        return UnitOfWork(verification_db, signer=SERVICE_KEYS["verification"], audit_keys=AUDIT_KEYS)

    metrics = Metrics("verification")
    assert await make_inbox(verification_db, metrics=metrics, uow_factory=counting_uow).apply_together(messages, {})
    assert await cases(verification_db) == 6 and await cases(verification_db, "r-twice") == 1
    assert len(await rows(verification_db, InboxMark)) == 6
    assert len(units) == 1
    assert consumed(metrics, "applied") == 6 and consumed(metrics, "duplicate") == 1


async def test_events_applied_together_go_to_handle_many_in_one_call_in_their_order(verification_db):
    messages = [delivered(f"r-{i}", offset=i // 4, partition=i % 4) for i in range(8)]
    messages.sort(key=lambda m: (m.partition, m.offset))  # as the consumer hands them over
    batches: list[list[str]] = []

    async def handle_many(events, uow):
        batches.append([event.data.report_id for event in events])
        await on_reports_submitted(events, uow)

    assert await make_inbox(verification_db, handle_many=handle_many).apply_together(messages, {})
    assert batches == [["r-0", "r-4", "r-1", "r-5", "r-2", "r-6", "r-3", "r-7"]]
    assert await cases(verification_db) == 8


async def test_a_failing_handle_many_is_nobodys_fault_and_each_event_is_then_applied_alone(verification_db):
    async def handle_many(events, uow):
        raise ValueError("one of them is bad, but which")

    inbox = make_inbox(verification_db, handle_many=handle_many)
    messages = [delivered(f"r-{i}", offset=0, partition=i) for i in range(4)]
    failed: dict[str, int] = {}
    assert not await inbox.apply_together(messages, failed)
    assert failed == {}  # no event spent an attempt on it
    for message in messages:
        assert await settle(inbox, message, failed)
    assert await cases(verification_db) == 4 and await rows(verification_db, DeadLetter) == []


def test_dead_letter_headers_survive_null_header_values():
    # Java clients can send a header with a null value; kafka-python hands it over as None.
    message = SimpleNamespace(topic=TOPIC, partition=2, offset=41, headers=[("ce_id", b"e-1"), ("trace", None)])
    headers = dead_letter_headers(message, subscriber="verification", reason="handler_failed", error="bad", attempts=1)
    assert headers["trace"] == "" and headers["ce_id"] == "e-1"
    assert headers["dlt_original_partition"] == "2" and headers["dlt_original_offset"] == "41"
    with pytest.raises(PoisonEvent):
        decode([("ce_id", b"e-1"), ("ce_type", b"report.submitted.v1"), ("ce_source", None)], b"k", b"{}",
               trust=TRUST)


def _tampered(message):
    return Message(message.topic, message.partition, message.offset, message.key, message.headers,
                   message.value.replace("收受礼金".encode(), "无事发生".encode()))


def _from_source(message, source):
    headers = [(k, source if k == "ce_source" else v) for k, v in message.headers]
    return Message(message.topic, message.partition, message.offset, message.key, headers, message.value)
