"""The consumer against the real broker and database: crashes, broker restarts, recreated topics,
group joins. What the loop commits, and when, is in test_consumer_loop.py; the inbox's rules (retries,
dead letters, signatures, duplicates) in test_inbox.py, both without a broker."""

import asyncio

import pytest
from sqlalchemy import func, select

from shared.models import DeadLetter, InboxMark
from shared.observability import Metrics
from shared.relay import OutboxRelay
from tests.conftest import eventually
from tests.factories import submitted
from tests.kafka_helpers import produce_event, produce_raw, read_topic
from tests.shared.inbox_helpers import SimulatedCrash, cases, make_consumer
from tests.verification.helpers import on_report_submitted

TOPIC = "reports.submitted"
pytestmark = pytest.mark.broker  # every test here runs against the real broker (some start their own)


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

    crashing._source.commit = crash  # type: ignore[method-assign]
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
    from shared.broker import free_port, start_local_broker

    sessions = verification_db
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = start_local_broker(port, log_file=tmp_path / "broker.log")
    try:
        first, stop_first = make_consumer(sessions, bootstrap), asyncio.Event()
        task = asyncio.create_task(first.run(stop_first))

        async def joining():
            return first._source.joining()

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


async def test_a_client_that_cannot_find_its_group_coordinator_is_replaced(verification_db, broker):
    """After a broker restart a kafka-python client was seen polling for minutes without error and
    without ever finding its coordinator again; the consumer then opens a new client."""
    sessions = verification_db
    consumer = make_consumer(sessions, broker)
    source = consumer._source
    source.REOPEN_WITHOUT_COORDINATOR_S = 0.5
    opened = []
    open_sync = source._open_sync

    def counting_open():
        opened.append(1)
        return open_sync()

    source._open_sync = counting_open  # type: ignore[method-assign]
    source._coordinator_unknown = lambda: len(opened) < 2  # type: ignore[method-assign]  # lost with the 1st
    poll_sync = source._poll_sync

    def first_client_gets_nowhere():
        # Like the client seen: it never finds the coordinator, so it never joins and gets nothing.
        # (Polling it for real would have it join, and leaving mid-join holds a Tansu group up.)
        return {} if len(opened) < 2 else poll_sync()

    source._poll_sync = first_client_gets_nowhere  # type: ignore[method-assign]
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
        assert sorted(consumer._source.assignment()) == [0, 1, 2, 3]
    finally:
        stop.set()
        await task
        broker.kill()
    assert await cases(sessions) == 15

