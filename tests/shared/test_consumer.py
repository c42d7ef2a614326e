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
from tests.shared.test_events import submitted
from tests.verification.helpers import on_report_submitted

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
        uow_factory=lambda: UnitOfWork(sessions, source="/zhengming/verification"),
        bootstrap=broker, metrics=metrics or Metrics("verification"), max_attempts=3,
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

    crashing._commit_offset = crash  # type: ignore[method-assign]
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
    assert headers["x"] == "y"
    async with sessions() as s:
        letter = await s.scalar(select(DeadLetter))
    assert letter.topic == TOPIC and "CloudEvent" in letter.error
    assert metrics.dead_lettered.labels("verification", TOPIC)._value.get() == 1


async def test_failing_handler_is_retried_then_dead_lettered_and_the_partition_moves_on(verification_db, broker):
    sessions = verification_db
    calls = {"bad": 0}

    async def handler(event, uow):
        if event.data.report_id == "r-bad":
            calls["bad"] += 1
            raise ValueError("subject organization unknown to this office")
        await on_report_submitted(event, uow)

    bad_id = await produce_event(broker, submitted("r-bad"), key="r-1")
    await produce_event(broker, submitted("r-1"), key="r-1")
    stop = asyncio.Event()
    task = asyncio.create_task(make_consumer(sessions, broker, handler).run(stop))
    await eventually(lambda: cases(sessions, "r-1"), what="the event behind the failing one")
    stop.set()
    await task

    assert calls["bad"] == 3
    assert await cases(sessions, "r-bad") == 0
    async with sessions() as s:
        letter = await s.scalar(select(DeadLetter))
    assert letter.event_id == bad_id and letter.attempts == 3
    assert "subject organization unknown" in letter.error


def test_dead_letter_headers_survive_null_header_values():
    # Java clients can send a header with a null value; kafka-python hands it over as None.
    message = SimpleNamespace(topic=TOPIC, partition=2, offset=41, headers=[("ce_id", b"e-1"), ("trace", None)])
    headers = dead_letter_headers(message, subscriber="verification", error="bad", attempts=1)
    assert headers["trace"] == "" and headers["ce_id"] == "e-1"
    assert headers["dlt_original_partition"] == "2" and headers["dlt_original_offset"] == "41"
    with pytest.raises(PoisonEvent):
        decode([("ce_id", b"e-1"), ("ce_type", b"report.submitted.v1"), ("ce_source", None)], b"k", b"{}")


async def test_after_a_broker_restart_nothing_is_skipped(verification_db, tmp_path):
    """The in-memory broker forgets everything; a running consumer must not resume from the offsets
    it remembers (the new topics start at 0 again) but from the group's committed ones. Whether the
    client takes the stale-position path here depends on timing; `make chaos` hits it reliably."""
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


async def _count_at_least(sessions, n):
    return await cases(sessions) >= n
