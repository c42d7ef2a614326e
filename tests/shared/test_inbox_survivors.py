"""The inbox's batch path, held where the mutation harness (tools/mutate.py, issue #24) found nothing
holding it: a batch holding an event that does not decode is not applied together (so the bad one alone
is dead-lettered later), and every line an operator reads about a batch says what happened to which
event or why the batch went one at a time. Then the rest of the inbox the harness found unheld: how long
and how often an event is retried, what a dead letter keeps and says, the crash points, a duplicate in a
batch, and the lines an operator reads meanwhile."""

import asyncio
import os
from datetime import UTC, datetime, timedelta

import pytest

from shared import inbox as inbox_module
from shared.events import AuditAnchoredV1, PoisonEvent, encode
from shared.inbox import Inbox, Message
from shared.models import DeadLetter, InboxMark, OutboxMessage
from shared.observability import Metrics
from shared.tracing import TraceContext
from shared.uow import UnitOfWork
from tests.factories import submitted
from tests.keys import AUDIT_KEYS, SERVICE_KEYS, TRUST
from tests.log_lines import captured_logs
from tests.shared.inbox_helpers import (
    TOPIC,
    SimulatedCrash,
    cases,
    delivered,
    failing_on,
    make_inbox,
    raw,
    rows,
    settle,
)
from tests.shared.test_tracing import verdict_for
from tests.verification.helpers import on_report_submitted, on_reports_submitted


async def test_a_batch_holding_an_event_that_does_not_decode_is_not_applied_together(verification_db):
    good = [delivered(f"r-{i}", offset=i) for i in range(2)]
    forged = raw(b"{}", [("ce_id", b"x-1"), ("ce_type", b"report.submitted.v1")], offset=2)
    assert not await make_inbox(verification_db).apply_together([*good, forged], {})
    assert await cases(verification_db) == 0


async def test_the_lines_of_a_batch_name_each_event_or_why_it_went_one_at_a_time(verification_db):
    async def handle_many(events, uow):
        raise ValueError("one of them is bad, but which")

    messages = [delivered(f"r-{i}", offset=10 + i, partition=3) for i in range(2)]
    with captured_logs() as logs:
        assert await make_inbox(verification_db).apply_together(messages, {})
        assert not await make_inbox(verification_db, handle_many=handle_many).apply_together(
            [delivered(f"r-{i}", offset=20 + i) for i in range(2, 5)], {})
    applied = logs.where(msg="event applied")
    assert [(line["partition"], line["offset"], line["topic"], line["subscriber"]) for line in applied] == [
        (3, 10, "reports.submitted", "verification"), (3, 11, "reports.submitted", "verification")]
    [one_at_a_time] = logs.where(msg="batch not applied together; one event at a time")
    assert one_at_a_time["events"] == 3 and one_at_a_time["error"] == "ValueError"


async def test_each_subscriber_dead_letters_a_poison_event_of_its_own(verification_db):
    def inbox(subscriber):
        return Inbox(subscriber=subscriber, topic=TOPIC, handler=on_report_submitted, handle_many=None,
                     uow_factory=lambda: UnitOfWork(verification_db, signer=SERVICE_KEYS["verification"],
                                                    audit_keys=AUDIT_KEYS),
                     trust=TRUST, metrics=Metrics("verification"), max_attempts=3, backoff_s=0.01,
                     backoff_max_s=0.05)

    unsigned = delivered("r-1", offset=0, unsigned=True)
    assert await settle(inbox("verification"), unsigned)
    assert await settle(inbox("verification-replay"), unsigned)
    letters = await rows(verification_db, DeadLetter)
    assert sorted(letter.subscriber for letter in letters) == ["verification", "verification-replay"]


# --- retries: how long an event waits, how often it is tried, what the operator reads meanwhile ---------------

def waits_asked(monkeypatch) -> list[float]:
    """The waits the inbox asks for between tries, recorded and not waited (each still heeds the stop)."""
    real_pause, asked = inbox_module.pause, []

    async def pause(stop, seconds):
        asked.append(seconds)
        await real_pause(stop, 0)

    monkeypatch.setattr(inbox_module, "pause", pause)
    return asked


def an_inbox(sessions, handler, *, subscriber="verification", **options):
    return Inbox(subscriber=subscriber, topic=TOPIC, handler=handler, trust=TRUST,
                 uow_factory=lambda: UnitOfWork(sessions, signer=SERVICE_KEYS["verification"], audit_keys=AUDIT_KEYS),
                 **options)


async def test_by_default_a_failing_event_is_tried_five_times_waiting_from_a_fifth_of_a_second_doubling(
        verification_db, monkeypatch):
    asked = waits_asked(monkeypatch)
    calls = []

    async def handler(event, uow):
        calls.append(event.id)
        raise ValueError("subject organization unknown to this office")

    assert await settle(an_inbox(verification_db, handler), delivered("r-1", offset=0))
    [letter] = await rows(verification_db, DeadLetter)
    assert len(calls) == 5 and letter.attempts == 5
    assert asked == [0.2, 0.4, 0.8, 1.6]


async def test_by_default_an_outage_is_waited_out_doubling_up_to_five_seconds(verification_db, monkeypatch):
    asked = waits_asked(monkeypatch)
    calls = []

    async def handler(event, uow):
        calls.append(event.id)
        if len(calls) <= 6:
            raise ConnectionRefusedError(111, "Connect call failed")
        await on_report_submitted(event, uow)

    assert await settle(an_inbox(verification_db, handler), delivered("r-1", offset=0))
    assert await cases(verification_db, "r-1") == 1
    assert asked == [0.4, 0.8, 1.6, 3.2, 5.0, 5.0]


async def test_a_long_outage_waits_twice_as_long_each_time_up_to_the_thousandfold_and_no_longer(
        verification_db, monkeypatch):
    """The wait stops doubling after ten outages even below the cap: a consumer whose cap is far above
    its first wait does not end up waiting hours."""
    asked = waits_asked(monkeypatch)
    calls = []

    async def handler(event, uow):
        calls.append(event.id)
        if len(calls) <= 12:
            raise ConnectionRefusedError(111, "Connect call failed")

    inbox = an_inbox(verification_db, handler, backoff_s=0.001, backoff_max_s=60.0)
    assert await settle(inbox, delivered("r-1", offset=0))
    assert asked == [0.001 * 2 ** n for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10, 10)]


async def test_a_failing_event_waits_twice_as_long_before_each_new_try_up_to_the_cap(verification_db, monkeypatch):
    asked = waits_asked(monkeypatch)

    async def handler(event, uow):
        raise ValueError("subject organization unknown to this office")

    inbox = an_inbox(verification_db, handler, max_attempts=6, backoff_s=0.01, backoff_max_s=0.05)
    assert await settle(inbox, delivered("r-1", offset=0))
    assert asked == [0.01, 0.02, 0.04, 0.05, 0.05]


async def test_each_retry_is_logged_with_its_attempt_the_limit_the_reason_and_where_the_event_sits(
        verification_db):
    long_reason = "subject organization unknown to this office; " * 20
    calls: dict[str, int] = {}

    async def handler(event, uow):
        calls[event.id] = calls.get(event.id, 0) + 1
        raise ValueError(long_reason)

    with captured_logs() as logs:
        assert await settle(make_inbox(verification_db, handler), delivered("r-1", offset=7, partition=2))
        assert await settle(make_inbox(verification_db, failing_on("r-2", {})), delivered("r-2", offset=8))
    retries = logs.where(msg="event failed; retrying", offset=7)
    assert [line["attempt"] for line in retries] == [1, 2]
    expected_error = f"ValueError: {long_reason}"[:300]
    for line in retries:
        assert line["max_attempts"] == 3 and line["reason"] == "handler_failed"
        assert line["error"] == expected_error
        assert (line["subscriber"], line["topic"], line["partition"]) == ("verification", "reports.submitted", 2)
        assert line["level"] == "warning"


async def test_each_outage_is_logged_with_how_many_in_a_row_and_where_the_event_sits(verification_db):
    calls = []

    async def handler(event, uow):
        calls.append(event.id)
        if len(calls) <= 2:
            raise ConnectionRefusedError(111, "Connect call failed")

    with captured_logs() as logs:
        assert await settle(make_inbox(verification_db, handler), delivered("r-1", offset=5, partition=1))
    lines = logs.where(msg="infrastructure error; retrying")
    assert [line["outages"] for line in lines] == [1, 2]
    for line in lines:
        assert line["error"] == "ConnectionRefusedError" and line["level"] == "warning"
        assert (line["subscriber"], line["topic"], line["partition"], line["offset"]) == (
            "verification", "reports.submitted", 1, 5)


async def test_an_event_that_failed_keeps_its_error_to_a_thousand_characters(verification_db):
    async def handler(event, uow):
        raise ValueError("x" * 3000)

    assert await settle(make_inbox(verification_db, handler), delivered("r-1", offset=0))
    [letter] = await rows(verification_db, DeadLetter)
    assert letter.error == ("ValueError: " + "x" * 3000)[:1000]


# --- dead letters: the reason kept whole enough, the provenance, the line an operator reads --------------------

async def test_an_event_a_handler_refuses_keeps_its_reason_to_four_thousand_characters_and_the_dlt_header_to_one(
        verification_db):
    detail = "the report names no allegation this office handles: " + "y" * 6000

    async def handler(event, uow):
        raise PoisonEvent(detail)

    with captured_logs() as logs:
        assert await settle(make_inbox(verification_db, handler), delivered("r-1", offset=0))
    [letter] = await rows(verification_db, DeadLetter)
    assert letter.error == detail[:4000]
    [outgoing] = await rows(verification_db, OutboxMessage)
    assert outgoing.headers["dlt_error"] == detail[:1000]
    [line] = logs.where(msg="event dead-lettered")
    assert line["error"] == detail[:300]


async def test_a_dead_lettered_event_is_named_with_its_type_on_the_dlt_and_in_its_row(verification_db):
    message = delivered("r-1", offset=0)
    event_id = dict(message.headers)["ce_id"].decode()
    assert await settle(make_inbox(verification_db, failing_on("r-1", {})), message)
    [letter] = await rows(verification_db, DeadLetter)
    assert letter.event_type == "report.submitted.v1" and letter.subscriber == "verification"
    assert (letter.topic, letter.partition, letter.offset) == ("reports.submitted", 0, 0)
    [outgoing] = await rows(verification_db, OutboxMessage)
    assert outgoing.event_id == f"dlt:verification:{event_id}" and outgoing.event_type == "report.submitted.v1"


async def test_a_message_without_key_or_value_is_dead_lettered_as_of_unknown_type_with_an_empty_key_and_payload(
        verification_db):
    nothing = raw(None, [], offset=7, partition=2, key=None)
    assert await settle(make_inbox(verification_db), nothing)
    [letter] = await rows(verification_db, DeadLetter)
    assert letter.event_type is None and letter.event_id == f"{TOPIC}:2:7"
    assert (letter.partition, letter.offset) == (2, 7)
    [mark] = await rows(verification_db, InboxMark)
    assert (mark.subscriber, mark.event_id, mark.outcome) == ("verification", f"{TOPIC}:2:7", "dead_lettered")
    assert (mark.topic, mark.partition, mark.offset) == (TOPIC, 2, 7)
    [outgoing] = await rows(verification_db, OutboxMessage)
    assert outgoing.event_id == f"dlt:verification:{TOPIC}:2:7" and outgoing.event_type == "unknown"
    assert outgoing.message_key == "" and outgoing.payload == b""


async def test_a_long_key_that_is_not_utf8_reaches_the_dlt_cut_to_two_hundred_characters(verification_db):
    key = b"\xff" + b"k" * 299
    assert await settle(make_inbox(verification_db), raw(b"\xff not json", [], offset=0, key=key))
    [outgoing] = await rows(verification_db, OutboxMessage)
    assert outgoing.message_key == ("\ufffd" + "k" * 299)[:200]


async def test_a_header_that_is_not_utf8_reaches_the_dlt_replaced_not_refused(verification_db):
    assert await settle(make_inbox(verification_db), raw(b"{}", [("x-origin", b"\xffpartner")], offset=0))
    [outgoing] = await rows(verification_db, OutboxMessage)
    assert outgoing.headers["x-origin"] == "\ufffdpartner"


async def test_a_dead_letter_says_when_it_was_given_up(verification_db):
    before = datetime.now(UTC)
    assert await settle(make_inbox(verification_db), raw(b"{}", [], offset=0))
    [outgoing] = await rows(verification_db, OutboxMessage)
    failed_at = datetime.fromisoformat(outgoing.headers["dlt_failed_at"])
    assert before - timedelta(seconds=1) <= failed_at <= datetime.now(UTC) + timedelta(seconds=1)


async def test_the_line_of_a_dead_letter_names_the_event_its_reason_and_attempts_and_where_it_sits(verification_db):
    message = delivered("r-1", offset=3, partition=1)
    event_id = dict(message.headers)["ce_id"].decode()
    with captured_logs() as logs:
        assert await settle(make_inbox(verification_db, failing_on("r-1", {})), message)
    [line] = logs.where(msg="event dead-lettered")
    assert line["event_id"] == event_id and line["event_type"] == "report.submitted.v1"
    assert line["reason"] == "handler_failed" and line["attempts"] == 3 and line["level"] == "error"
    assert line["error"] == "ValueError: subject organization unknown to this office"
    assert (line["subscriber"], line["topic"], line["partition"], line["offset"]) == (
        "verification", "reports.submitted", 1, 3)
    assert line["already"] is False


async def test_a_poison_message_redelivered_is_logged_as_already_dead_lettered(verification_db):
    poison = raw(b"{}", [], offset=6, partition=1)
    inbox = make_inbox(verification_db)
    with captured_logs() as logs:
        assert await settle(inbox, poison) and await settle(inbox, poison)
    first, again = logs.where(msg="event dead-lettered")
    assert first["event_id"] == again["event_id"] == f"{TOPIC}:1:6"
    assert (first["already"], again["already"]) == (False, True)


async def test_an_inbox_without_metrics_dead_letters_all_the_same(verification_db):
    assert await settle(an_inbox(verification_db, None), delivered("r-1", offset=0, unsigned=True))
    [letter] = await rows(verification_db, DeadLetter)
    assert letter.reason == "signature_invalid"


async def test_a_refused_event_is_counted_under_its_subscriber_topic_and_reason_and_nothing_else_as_refused(
        verification_db):
    metrics = Metrics("verification")
    inbox = make_inbox(verification_db, metrics=metrics)
    assert await settle(inbox, delivered("r-1", offset=0, unsigned=True))
    assert await settle(inbox, raw(b"\xff not json", [], offset=1))
    samples = {tuple(sorted(s.labels.items())): s.value for family in metrics.events_rejected.collect()
               for s in family.samples if s.name.endswith("_total")}
    assert samples == {(("reason", "signature_invalid"), ("service", "verification"), ("topic", TOPIC)): 1.0}
    dead = {tuple(sorted(s.labels.items())): s.value for family in metrics.dead_lettered.collect()
            for s in family.samples if s.name.endswith("_total")}
    assert dead == {(("service", "verification"), ("topic", TOPIC)): 2.0}


async def test_a_dead_letter_that_cannot_be_stored_is_retried_until_it_is_and_each_failure_logged(
        verification_db, monkeypatch):
    asked = waits_asked(monkeypatch)
    tries = []

    def flaky_uow():
        tries.append(1)
        if len(tries) <= 2:
            raise RuntimeError("database away")
        return UnitOfWork(verification_db, signer=SERVICE_KEYS["verification"], audit_keys=AUDIT_KEYS)

    with captured_logs() as logs:
        assert await settle(make_inbox(verification_db, uow_factory=flaky_uow), raw(b"{}", [], offset=0))
    assert len(await rows(verification_db, DeadLetter)) == 1
    lines = logs.where(msg="could not store dead letter; retrying")
    assert [line["error"] for line in lines] == ["RuntimeError('database away')"] * 2
    assert all(line["level"] == "warning" for line in lines)
    assert asked == [0.05, 0.05]  # backoff_max_s: a store that failed is not hammered


async def test_a_stop_while_a_dead_letter_cannot_be_stored_leaves_the_message_unsettled(verification_db):
    stop = asyncio.Event()

    def broken_uow():
        stop.set()
        raise RuntimeError("database away")

    inbox = make_inbox(verification_db, uow_factory=broken_uow)
    assert not await asyncio.wait_for(inbox.handle(raw(b"{}", [], offset=0), stop), timeout=20)
    assert await rows(verification_db, DeadLetter) == []


# --- exactly once: nothing lost behind a duplicate, outages cost no attempt, crashes keep all or nothing ------

async def test_a_repeat_in_a_batch_does_not_lose_the_events_after_it(verification_db):
    first = delivered("r-1", offset=0, key="one-partition")
    again = Message(TOPIC, 0, 1, first.key, first.headers, first.value)
    after = delivered("r-2", offset=2, key="one-partition")
    assert await make_inbox(verification_db).apply_together([first, again, after], {})
    assert await cases(verification_db, "r-1") == 1 and await cases(verification_db, "r-2") == 1


async def test_an_outage_in_a_batch_costs_no_event_an_attempt(verification_db):
    async def handler(event, uow):
        raise ConnectionRefusedError(111, "Connect call failed")

    failed: dict[str, int] = {}
    messages = [delivered(f"r-{i}", offset=i) for i in range(2)]
    assert not await make_inbox(verification_db, handler).apply_together(messages, failed)
    assert failed == {}


async def test_two_events_applied_together_go_to_handle_many_in_one_call(verification_db):
    batches = []

    async def handle_many(events, uow):
        batches.append([event.data.report_id for event in events])
        assert on_reports_submitted is not None
        await on_reports_submitted(events, uow)

    messages = [delivered(f"r-{i}", offset=i) for i in range(2)]
    assert await make_inbox(verification_db, handle_many=handle_many).apply_together(messages, {})
    assert batches == [["r-0", "r-1"]] and await cases(verification_db) == 2


async def test_a_redelivered_event_is_logged_as_skipped_where_it_sits(verification_db):
    message = delivered("r-1", offset=4, partition=2)
    inbox = make_inbox(verification_db)
    with captured_logs() as logs:
        assert await settle(inbox, message) and await settle(inbox, message)
    [skipped] = logs.where(msg="event already applied; skipped")
    assert (skipped["subscriber"], skipped["topic"], skipped["partition"], skipped["offset"]) == (
        "verification", "reports.submitted", 2, 4)


@pytest.mark.parametrize(("point", "kept"), [("consumer.before_db_commit", 0), ("consumer.after_db_commit", 1)])
async def test_a_consumer_killed_at_a_crash_point_keeps_the_effect_only_after_the_commit_and_applies_it_once(
        verification_db, monkeypatch, point, kept):
    """`make chaos` kills consumers at these points (shared/faults.py); here the kill is an exception."""
    def killed(code):
        raise SimulatedCrash(code)

    monkeypatch.setenv("ZM_FAULT", point)
    monkeypatch.setattr("shared.faults._counts", {})
    monkeypatch.setattr(os, "_exit", killed)
    message = delivered("r-1", offset=0)
    with pytest.raises(SimulatedCrash):
        await settle(make_inbox(verification_db), message)
    assert await cases(verification_db, "r-1") == kept
    monkeypatch.delenv("ZM_FAULT")
    assert await settle(make_inbox(verification_db), message)  # the redelivery after the restart
    assert await cases(verification_db, "r-1") == 1


# --- traces: what an event raises while it is applied continues that event's trace -----------------------------

def traced(report_id, trace, *, key, offset):
    """A signed `report.submitted.v1` about `report_id` sent in `trace`, on a partition keyed `key`."""
    _, record = encode(submitted(report_id), key=key, source=SERVICE_KEYS["intake"].source, subject=report_id,
                       signer=SERVICE_KEYS["intake"], trace=trace)
    return raw(record.value, [(k, v.encode()) for k, v in record.headers.items()], offset=offset, key=key.encode())


async def raise_a_verdict(event, uow):
    uow.raise_event(verdict_for(event.data.report_id), key=event.data.report_id)


async def raised_trace_ids(sessions) -> dict[str, str]:
    return {row.headers["ce_subject"]: row.headers["ce_traceparent"].split("-")[1]
            for row in await rows(sessions, OutboxMessage)}


@pytest.mark.parametrize("together", [False, True], ids=["alone", "together"])
async def test_a_verdict_raised_applying_a_later_event_about_a_report_continues_that_events_trace(
        verification_db, together):
    """The report's journey started in another trace (remembered when its first event was applied); what
    a later event's handler raises about it belongs to the later event's trace, even when the partition is
    keyed by something other than the report."""
    async def ignore(event, uow):
        pass

    async def raise_verdicts(events, uow):
        for event in events:
            await raise_a_verdict(event, uow)

    first, later, other = (TraceContext.new(request_id=r) for r in ("first", "later", "other"))
    assert await settle(make_inbox(verification_db, ignore), traced("r-1", first, key="r-1", offset=0))
    inbox = make_inbox(verification_db, raise_a_verdict, handle_many=raise_verdicts)
    if together:
        assert await inbox.apply_together([traced("r-1", later, key="office-33", offset=1),
                                           traced("r-2", other, key="office-33", offset=2)], {})
    else:
        assert await settle(inbox, traced("r-1", later, key="office-33", offset=1))
    trace_ids = await raised_trace_ids(verification_db)
    assert trace_ids["r-1"] == later.trace_id


async def test_an_event_another_subscriber_applied_is_still_applied_by_this_one(verification_db):
    """Two subscribers sharing a database (a replay beside the live consumer) each apply the event: one's
    mark does not make it a duplicate for the other."""
    calls: dict[str, int] = {}

    def counting(subscriber):
        async def handler(event, uow):
            calls[subscriber] = calls.get(subscriber, 0) + 1
        return handler

    message = delivered("r-1", offset=0)
    for subscriber in ("verification", "verification-replay", "verification-replay"):
        assert await settle(an_inbox(verification_db, counting(subscriber), subscriber=subscriber), message)
    assert calls == {"verification": 1, "verification-replay": 1}
    marks = sorted((mark.subscriber, mark.outcome) for mark in await rows(verification_db, InboxMark))
    assert marks == [("verification", "applied"), ("verification-replay", "applied")]


async def test_an_event_about_no_report_is_applied_and_marked(verification_db):
    """An audit anchor is about a service's chain, not a report: the inbox applies it all the same, and
    its handler is given the key it came under (what names the chain)."""
    anchor = AuditAnchoredV1(service="intake", seq=3, head_mac="ab" * 32, anchored_at=datetime.now(UTC))
    _, record = encode(anchor, key="intake", source=SERVICE_KEYS["intake"].source, signer=SERVICE_KEYS["intake"])
    message = raw(record.value, [(k, v.encode()) for k, v in record.headers.items()], offset=0, key=b"intake")
    applied = []

    async def handler(event, uow):
        applied.append((event.data.seq, event.key))

    assert await settle(an_inbox(verification_db, handler), message)
    assert applied == [(3, "intake")]
    assert [mark.outcome for mark in await rows(verification_db, InboxMark)] == ["applied"]


@pytest.mark.parametrize(("refuses", "reason", "applies"),
                         [(False, "handler_failed", 3), (True, "rejected_by_handler", 1)], ids=["failing", "refused"])
async def test_the_dead_letter_of_an_event_given_up_waits_out_a_database_away_and_is_then_kept(
        verification_db, monkeypatch, refuses, reason, applies):
    asked = waits_asked(monkeypatch)
    units = []

    async def handler(event, uow):
        if refuses:
            raise PoisonEvent("the report names no allegation this office handles")
        raise ValueError("subject organization unknown to this office")

    def away_when_dead_lettering():
        units.append(1)
        if len(units) == applies + 1:  # the first try at storing the dead letter
            raise RuntimeError("database away")
        return UnitOfWork(verification_db, signer=SERVICE_KEYS["verification"], audit_keys=AUDIT_KEYS)

    inbox = make_inbox(verification_db, handler, uow_factory=away_when_dead_lettering)
    assert await settle(inbox, delivered("r-1", offset=0))
    [letter] = await rows(verification_db, DeadLetter)
    assert letter.reason == reason and letter.attempts == applies
    assert asked[-1] == 0.05 and len(units) == applies + 2


async def test_a_genuine_event_under_a_key_that_is_not_utf8_is_dead_lettered_by_its_place_once_it_can_be_stored(
        verification_db, monkeypatch):
    """The key is outside the signature: a genuine event's body under a key the CloudEvents reader cannot
    take is not applied, nor believed, nor lost."""
    asked = waits_asked(monkeypatch)
    units = []

    def away_at_first():
        units.append(1)
        if len(units) == 1:
            raise RuntimeError("database away")
        return UnitOfWork(verification_db, signer=SERVICE_KEYS["verification"], audit_keys=AUDIT_KEYS)

    genuine = delivered("r-1", offset=9)
    odd_key = Message(TOPIC, 0, 9, b"\xffr-1", genuine.headers, genuine.value)
    assert await settle(make_inbox(verification_db, uow_factory=away_at_first), odd_key)
    [letter] = await rows(verification_db, DeadLetter)
    assert letter.reason == "not_a_cloudevent" and letter.attempts == 1 and letter.event_id == f"{TOPIC}:0:9"
    assert "utf-8" in letter.error and asked == [0.05]
    assert await cases(verification_db) == 0
