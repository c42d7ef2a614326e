"""Idempotent consumer against the real broker and database: crashes, poison, bounded retries."""

import asyncio
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from services.verification.models import Case
from shared.consumer import EventConsumer, dead_letter_headers
from shared.db import create_engine, session_factory
from shared.events import PoisonEvent, decode
from shared.models import DeadLetter, InboxMark
from shared.observability import Metrics
from shared.relay import OutboxRelay
from shared.uow import UnitOfWork
from tests.conftest import eventually
from tests.kafka_helpers import produce_event, produce_raw, read_topic
from tests.keys import AUDIT_KEYS, SERVICE_KEYS, TRUST
from tests.shared.test_events import submitted
from tests.verification.helpers import on_report_submitted, on_reports_submitted

TOPIC = "reports.submitted"


class SimulatedCrash(BaseException):
    """Stands for kill -9: not an Exception, so nothing in the runner handles it."""


@pytest.fixture
async def verification_db(new_database):
    engine = create_engine(await new_database("verification"))
    sessions = session_factory(engine)
    sessions.engine = engine
    yield sessions
    await engine.dispose()


def make_consumer(sessions, broker, handler=on_report_submitted, metrics=None):
    return EventConsumer(
        subscriber="verification", topic=TOPIC, handler=handler,
        uow_factory=lambda: UnitOfWork(sessions, signer=SERVICE_KEYS["verification"], audit_keys=AUDIT_KEYS),
        bootstrap=broker, trust=TRUST, metrics=metrics or Metrics("verification"), max_attempts=3,
        backoff_s=0.01, backoff_max_s=0.05,
    )


async def cases(sessions, report_id=None):
    async with sessions() as s:
        stmt = select(func.count()).select_from(Case)
        if report_id:
            stmt = stmt.where(Case.report_id == report_id)
        return await s.scalar(stmt)


async def test_crash_before_db_commit_redelivers_and_applies_once(verification_db, broker):
    sessions = verification_db
    await produce_event(broker, submitted("r-1"), key="r-1")

    async def crash_after_effect(event, uow):
        await on_report_submitted(event, uow)
        await uow.session.flush()  # the case row is written, but the transaction never commits
        raise SimulatedCrash

    stop = asyncio.Event()
    first = asyncio.create_task(make_consumer(sessions, broker, crash_after_effect).run(stop))
    with pytest.raises(SimulatedCrash):
        await asyncio.wait_for(first, timeout=30)
    assert await cases(sessions) == 0

    second = make_consumer(sessions, broker)
    task = asyncio.create_task(second.run(stop))
    await eventually(lambda: cases(sessions, "r-1"), what="case after restart")
    stop.set()
    await task
    assert await cases(sessions) == 1


async def test_crash_after_db_commit_before_offset_commit_is_absorbed_by_the_inbox(verification_db, broker):
    sessions = verification_db
    await produce_event(broker, submitted("r-1"), key="r-1")

    crashing = make_consumer(sessions, broker)

    async def crash(*_args):
        raise SimulatedCrash

    crashing._commit_offsets = crash  # type: ignore[method-assign]
    stop = asyncio.Event()
    with pytest.raises(SimulatedCrash):
        await asyncio.wait_for(crashing.run(stop), timeout=30)
    assert await cases(sessions) == 1

    metrics = Metrics("verification")
    restarted = make_consumer(sessions, broker, metrics=metrics)
    task = asyncio.create_task(restarted.run(stop))

    def duplicates():
        return metrics.events_consumed.labels("verification", TOPIC, "duplicate")._value.get()

    async def redelivered():
        return duplicates() >= 1

    await eventually(redelivered, what="redelivery of the uncommitted offset")
    stop.set()
    await task
    assert await cases(sessions) == 1
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(InboxMark)) == 1


async def test_poison_event_goes_to_the_dlt_with_its_reason_and_the_next_event_flows(verification_db, broker):
    sessions = verification_db
    await produce_raw(broker, TOPIC, key=b"r-1", value=b"\xff not json", headers=[("x", b"y")])
    await produce_event(broker, submitted("r-1"), key="r-1")  # same key: same partition, behind the poison

    stop = asyncio.Event()
    metrics = Metrics("verification")
    consumer_task = asyncio.create_task(make_consumer(sessions, broker, metrics=metrics).run(stop))
    relay_task = asyncio.create_task(OutboxRelay(sessions.engine, bootstrap=broker, service="verification").run(stop))
    await eventually(lambda: cases(sessions, "r-1"), what="the event behind the poison")
    dlt = await read_topic(broker, f"{TOPIC}.DLT", expect=1)
    stop.set()
    await asyncio.gather(consumer_task, relay_task)

    assert len(dlt) == 1
    headers = {k: v.decode() for k, v in dlt[0].headers}
    assert dlt[0].value == b"\xff not json"
    assert headers["dlt_original_topic"] == TOPIC
    assert headers["dlt_original_offset"] == "0"
    assert "dlt_original_partition" in headers
    assert "not a binary-mode CloudEvent" in headers["dlt_error"]
    assert headers["dlt_reason"] == "not_a_cloudevent"
    assert headers["x"] == "y"
    async with sessions() as s:
        letter = await s.scalar(select(DeadLetter))
    assert letter.topic == TOPIC and "CloudEvent" in letter.error and letter.reason == "not_a_cloudevent"
    assert metrics.dead_lettered.labels("verification", TOPIC)._value.get() == 1


async def test_failing_handler_is_retried_then_dead_lettered_and_the_partition_moves_on(verification_db, broker):
    """Produced before the consumer starts, the four arrive in one poll and are first tried in one
    transaction; the failing event and the message that is no event at all are then dead-lettered
    alone, within `max_attempts` (the try in the batch included), and the good ones applied."""
    sessions = verification_db
    calls: dict[str, int] = {}

    async def handler(event, uow):
        calls[event.data.report_id] = calls.get(event.data.report_id, 0) + 1
        if event.data.report_id == "r-bad":
            raise ValueError("subject organization unknown to this office")
        await on_report_submitted(event, uow)

    await produce_event(broker, submitted("r-0"), key="r-1")
    bad_id = await produce_event(broker, submitted("r-bad"), key="r-1")
    await produce_raw(broker, TOPIC, key=b"r-1", value=b"\xff not json")
    await produce_event(broker, submitted("r-1"), key="r-1")  # same key: same partition, behind them
    stop = asyncio.Event()
    task = asyncio.create_task(make_consumer(sessions, broker, handler).run(stop))
    await eventually(lambda: cases(sessions, "r-1"), what="the event behind the failing one")
    stop.set()
    await task

    assert calls["r-bad"] == 3
    assert await cases(sessions, "r-bad") == 0 and await cases(sessions) == 2
    async with sessions() as s:
        letters = {letter.event_id: letter for letter in await s.scalars(select(DeadLetter))}
    assert len(letters) == 2  # the failing event and the message that is not an event at all
    letter = letters[bad_id]
    assert letter.attempts == 3 and letter.reason == "handler_failed"
    assert "subject organization unknown" in letter.error


async def test_events_polled_together_are_applied_in_one_transaction_and_a_repeat_among_them_once(
        verification_db, broker):
    from shared.events import encode

    sessions = verification_db
    for i in range(5):
        await produce_event(broker, submitted(f"r-{i}"), key="one-partition")
    _, record = encode(submitted("r-twice"), key="one-partition", source="/zhengming/intake", subject="r-twice",
                       signer=SERVICE_KEYS["intake"])
    for _ in range(2):  # a relay that died after publishing, before marking sent, publishes it again
        await produce_raw(broker, TOPIC, key=b"one-partition", value=record.value,
                          headers=[(k, v.encode()) for k, v in record.headers.items()])
    units = []

    def counting_uow():
        units.append(1)
        return UnitOfWork(sessions, signer=SERVICE_KEYS["verification"], audit_keys=AUDIT_KEYS)

    consumer = EventConsumer(subscriber="verification", topic=TOPIC, handler=on_report_submitted,
                             uow_factory=counting_uow, bootstrap=broker, trust=TRUST, metrics=Metrics("verification"))
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await eventually(lambda: _count_at_least(sessions, 6), what="all six reports")
    stop.set()
    await task

    assert await cases(sessions) == 6 and await cases(sessions, "r-twice") == 1
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(InboxMark)) == 6
    assert len(units) < 7  # fewer transactions than messages: they went together


def test_dead_letter_headers_survive_null_header_values():
    # Java clients can send a header with a null value; kafka-python hands it over as None.
    message = SimpleNamespace(topic=TOPIC, partition=2, offset=41, headers=[("ce_id", b"e-1"), ("trace", None)])
    headers = dead_letter_headers(message, subscriber="verification", reason="handler_failed", error="bad", attempts=1)
    assert headers["trace"] == "" and headers["ce_id"] == "e-1"
    assert headers["dlt_original_partition"] == "2" and headers["dlt_original_offset"] == "41"
    with pytest.raises(PoisonEvent):
        decode([("ce_id", b"e-1"), ("ce_type", b"report.submitted.v1"), ("ce_source", None)], b"k", b"{}",
               trust=TRUST)


async def test_after_a_broker_restart_nothing_is_skipped(verification_db, tmp_path):
    """The in-memory broker forgets everything, groups included; a running consumer rejoins and reads
    the new topics from their start. Whether the old positions or the rebalance reach it first
    depends on timing; `test_a_recreated_topic_is_read_from_its_start` pins the first path."""
    from shared.broker import free_port, start_local_broker

    sessions = verification_db
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = start_local_broker(port, log_file=tmp_path / "broker.log")
    stop = asyncio.Event()
    task = asyncio.create_task(make_consumer(sessions, bootstrap).run(stop))
    try:
        for i in range(4):
            await produce_event(bootstrap, submitted(f"before-{i}"), key="same-key")
        await eventually(lambda: _count_at_least(sessions, 4), what="the first events")
        broker.kill()
        broker.wait()
        broker = start_local_broker(port, log_file=tmp_path / "broker.log")
        # The new topic fills past the offset the consumer had reached before it reconnects; an old
        # position would skip the first of these.
        await asyncio.gather(*(produce_event(bootstrap, submitted(f"after-{i}"), key="same-key") for i in range(12)))
        await eventually(lambda: _count_at_least(sessions, 16), timeout_s=60, what="the events after the restart")
    finally:
        stop.set()
        await task
        broker.kill()


async def test_offsets_of_a_batch_applied_across_a_broker_restart_do_not_skip_the_new_log(verification_db, tmp_path):
    """Events polled from the old broker are still being applied when it restarts empty; their offset
    commit then reaches the new broker, where those numbers point into a different log. It must not
    stick there: a consumer that starts later (a restart, a rebalance) would resume from it and skip
    the new log's first events. (The new broker refuses the commit of a member it does not know, and
    the consumer takes that as a lost rebalance; this pins the whole path.)"""
    from shared.broker import free_port, start_local_broker

    sessions = verification_db
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = start_local_broker(port, log_file=tmp_path / "broker.log")
    held, released, stop = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def hold_the_last_old_event(event, uow):
        await on_report_submitted(event, uow)
        if event.data.report_id == "before-5":
            held.set()
            await released.wait()
            stop.set()  # commit this batch, then stop: what it committed is what the next one reads

    async def held_set():
        return held.is_set()

    first = asyncio.create_task(make_consumer(sessions, bootstrap, handler=hold_the_last_old_event).run(stop))
    try:
        for i in range(6):
            await produce_event(bootstrap, submitted(f"before-{i}"), key="same-key")
        await eventually(held_set, what="the consumer applying the old log's last event")
        broker.kill()
        broker.wait()
        broker = start_local_broker(port, log_file=tmp_path / "broker.log")
        for i in range(10):  # more than the old log held, so an old offset would point inside it
            await produce_event(bootstrap, submitted(f"after-{i}"), key="same-key")
        released.set()
        await asyncio.wait_for(first, timeout=60)

        second_stop = asyncio.Event()
        second = asyncio.create_task(make_consumer(sessions, bootstrap).run(second_stop))
        try:
            await eventually(lambda: _count_at_least(sessions, 16), timeout_s=40, what="every event of the new log")
        finally:
            second_stop.set()
            await second
    finally:
        stop.set()
        broker.kill()
    assert await cases(sessions) == 16


async def test_a_recreated_topic_is_read_from_its_start(verification_db, tmp_path):
    """A topic deleted and made again (same partitions, so no rebalance tells the consumer) starts
    numbering at 0 again. The consumer sees the topic's id change and rereads every partition from
    the start instead of resuming at its old position, which would skip the new log's first events."""
    from kafka import KafkaAdminClient

    from shared.broker import free_port, start_local_broker

    sessions = verification_db
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = start_local_broker(port, log_file=tmp_path / "broker.log")
    consumer = make_consumer(sessions, bootstrap)
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        for i in range(4):
            await produce_event(bootstrap, submitted(f"before-{i}"), key="one-partition")
        await eventually(lambda: _count_at_least(sessions, 4), what="the first events")

        def recreate() -> None:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap)
            try:
                admin.delete_topics([TOPIC])
            finally:
                admin.close()

        await asyncio.to_thread(recreate)
        for i in range(12):
            await produce_event(bootstrap, submitted(f"after-{i}"), key="one-partition")
        await eventually(lambda: _count_at_least(sessions, 16), timeout_s=60, what="the events in the new topic")
    finally:
        stop.set()
        await task
        broker.kill()
    assert await cases(sessions) == 16


async def test_a_consumer_stopped_while_its_group_forms_does_not_hold_the_group_up(verification_db, tmp_path):
    """On the Tansu broker a member that leaves mid-join stays the group's awaited leader and nobody
    else is given partitions for many minutes. Stopping lets the join finish first, so the next
    consumer (a restart, say) is assigned at once."""
    from kafka.structs import MemberState

    from shared.broker import free_port, start_local_broker

    sessions = verification_db
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = start_local_broker(port, log_file=tmp_path / "broker.log")
    try:
        first, stop_first = make_consumer(sessions, bootstrap), asyncio.Event()
        task = asyncio.create_task(first.run(stop_first))

        async def joining():
            client = first._consumer
            return client is not None and client._coordinator.state is MemberState.REBALANCING

        await eventually(joining, what="the first consumer joining its group")
        stop_first.set()
        await task

        second, stop_second = make_consumer(sessions, bootstrap), asyncio.Event()
        task = asyncio.create_task(second.run(stop_second))
        try:
            await asyncio.wait_for(second.assigned.wait(), timeout=45)
            await produce_event(bootstrap, submitted("r-after"), key="r-after")
            await eventually(lambda: cases(sessions, "r-after"), what="an event through the second consumer")
        finally:
            stop_second.set()
            await task
    finally:
        broker.kill()


async def _count_at_least(sessions, n):
    return await cases(sessions) >= n


async def test_a_poll_over_several_partitions_goes_to_handle_many_in_one_transaction(verification_db, broker):
    """Produced before the consumer starts, the events of several partitions arrive together: one
    unit of work and one `handle_many` call for a poll's events, each partition's in their order.
    (How many partitions the first fetch brings depends on the broker's timing, so the test asks
    for a poll that spans more than one, not for all eight events in one.)"""
    sessions = verification_db
    keys = ["k-a", "k-b", "k-c", "k-d"]
    event_ids = [await produce_event(broker, submitted(f"r-{i}"), key=keys[i % 4]) for i in range(8)]
    batches: list[list[str]] = []
    units = []

    async def handle_many(events, uow):
        batches.append([event.data.report_id for event in events])
        await on_reports_submitted(events, uow)

    def counting_uow():
        units.append(1)
        return UnitOfWork(sessions, signer=SERVICE_KEYS["verification"], audit_keys=AUDIT_KEYS)

    consumer = EventConsumer(subscriber="verification", topic=TOPIC, handler=on_report_submitted,
                             handle_many=handle_many, uow_factory=counting_uow, bootstrap=broker, trust=TRUST,
                             metrics=Metrics("verification"))
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await eventually(lambda: _count_at_least(sessions, 8), what="all eight reports")
    stop.set()
    await task

    assert await cases(sessions) == 8
    async with sessions() as s:
        partition_of = dict((await s.execute(select(InboxMark.event_id, InboxMark.partition))).all())
    partition = {f"r-{i}": partition_of[event_id] for i, event_id in enumerate(event_ids)}
    assert any(len({partition[r] for r in batch}) > 1 for batch in batches)  # several partitions, one call
    applied_alone = 8 - sum(len(b) for b in batches)  # polls that brought a single event
    assert len(units) == len(batches) + applied_alone  # one unit of work per poll, none applied again
    for batch in batches:  # the same key, the same partition: in the order produced
        for key_index in range(4):
            mine = [int(r.split("-")[1]) for r in batch if int(r.split("-")[1]) % 4 == key_index]
            assert mine == sorted(mine)


async def test_when_handle_many_fails_each_event_is_applied_alone(verification_db, broker):
    sessions = verification_db
    for i in range(4):
        await produce_event(broker, submitted(f"r-{i}"), key=f"k-{i}")
    tried = []

    async def handle_many(events, uow):
        tried.append(len(events))
        raise ValueError("one of them is bad, but which")

    consumer = EventConsumer(subscriber="verification", topic=TOPIC, handler=on_report_submitted,
                             handle_many=handle_many,
                             uow_factory=lambda: UnitOfWork(sessions, source="/t", audit_keys=AUDIT_KEYS),
                             bootstrap=broker, trust=TRUST, metrics=Metrics("verification"))
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await eventually(lambda: _count_at_least(sessions, 4), what="all four reports, one at a time")
    stop.set()
    await task

    assert tried and await cases(sessions) == 4
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(DeadLetter)) == 0


async def test_a_client_that_cannot_find_its_group_coordinator_is_replaced(verification_db, broker):
    """After a broker restart a kafka-python client was seen polling for minutes without error and
    without ever finding its coordinator again; the consumer then opens a new client."""
    sessions = verification_db
    consumer = make_consumer(sessions, broker)
    consumer.REOPEN_WITHOUT_COORDINATOR_S = 0.5
    opened = []
    open_sync = consumer._open_sync

    def counting_open():
        opened.append(1)
        return open_sync()

    consumer._open_sync = counting_open  # type: ignore[method-assign]
    consumer._coordinator_unknown = lambda: len(opened) < 2  # type: ignore[method-assign]  # lost with the 1st
    poll_sync = consumer._poll_sync

    def first_client_gets_nowhere():
        # Like the client seen: it never finds the coordinator, so it never joins and gets nothing.
        # (Polling it for real would have it join, and leaving mid-join holds a Tansu group up.)
        return {} if len(opened) < 2 else poll_sync()

    consumer._poll_sync = first_client_gets_nowhere  # type: ignore[method-assign]
    await produce_event(broker, submitted("r-1"), key="r-1")
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await eventually(lambda: cases(sessions, "r-1"), what="the event, read by the second client")
    stop.set()
    await task
    assert len(opened) == 2


async def test_a_topic_recreated_with_more_partitions_is_read_in_full(verification_db, tmp_path):
    """A broker that lost its topics may get them back with another partition count (its own
    default, say). kafka-python 3.0.12 does not reliably rebalance a running group onto the new
    partitions -- a member was seen keeping three of four for good -- so the consumer replaces its
    client when the topic's id changes, and the new one is assigned every partition."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic

    from shared.broker import free_port, start_local_broker

    sessions = verification_db
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = start_local_broker(port, log_file=tmp_path / "broker.log")
    stop = asyncio.Event()
    consumer = make_consumer(sessions, bootstrap)  # makes the topic with three partitions
    task = asyncio.create_task(consumer.run(stop))
    try:
        for i in range(3):
            await produce_event(bootstrap, submitted(f"before-{i}"), key=f"before-{i}")
        await eventually(lambda: _count_at_least(sessions, 3), what="the first events")

        def recreate_with_four_partitions() -> None:
            admin = KafkaAdminClient(bootstrap_servers=bootstrap)
            try:
                admin.delete_topics([TOPIC])
                admin.create_topics([NewTopic(TOPIC, 4, 1)])
            finally:
                admin.close()

        await asyncio.to_thread(recreate_with_four_partitions)
        for i in range(12):  # spread over the keys, so some land on the new fourth partition
            await produce_event(bootstrap, submitted(f"after-{i}"), key=f"after-{i}")
        await eventually(lambda: _count_at_least(sessions, 15), timeout_s=60, what="the events on every partition")
        assert sorted(tp.partition for tp in consumer._consumer.assignment()) == [0, 1, 2, 3]
    finally:
        stop.set()
        await task
        broker.kill()
    assert await cases(sessions) == 15
