"""Outbox relay against the real broker: in order per key, acknowledged before marked, replayable."""

import asyncio
from collections import defaultdict

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from shared.db import session_factory
from shared.models import OutboxMessage
from shared.observability import Metrics
from shared.relay import OutboxRelay, mark_for_replay
from shared.uow import OUTBOX_CHANNEL, UnitOfWork
from tests.conftest import eventually
from tests.factories import submitted
from tests.kafka_helpers import read_topic
from tests.keys import AUDIT_KEYS


async def fill_outbox(sessions, n_keys=3, per_key=10):
    expected = defaultdict(list)
    for _ in range(per_key):
        for k in range(n_keys):
            async with UnitOfWork(sessions, source="/t", audit_keys=AUDIT_KEYS) as uow:
                uow.raise_event(submitted(f"r-{k}"), key=f"r-{k}")
                rows = await uow.flush_events()
                await uow.session.commit()
                uow.committed = True
            expected[f"r-{k}"].append(rows[0])
    return expected


async def drain(relay):
    total = 0
    while (n := await relay.publish_once()) > 0:
        total += n
    return total


@pytest.fixture
async def pg_intake(new_database, engine_for):
    """(url, engine) of a fresh intake database; the test is skipped on SQLite, where one relay
    per service polls and there is no leader election or LISTEN/NOTIFY."""
    url = await new_database("intake")
    engine = engine_for(url)
    if engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: leader election and LISTEN/NOTIFY")
    return url, engine


async def test_relay_publishes_every_row_once_in_order_per_key(new_database, engine_for, broker):
    engine = engine_for(await new_database("intake"))
    sessions = session_factory(engine)
    expected = await fill_outbox(sessions)
    relay = OutboxRelay(engine, bootstrap=broker, service="intake", metrics=Metrics("intake"), batch_size=7)
    assert await drain(relay) == 30
    assert await relay.backlog() == 0

    messages = await read_topic(broker, "reports.submitted", expect=30)
    seen = defaultdict(list)
    for m in sorted(messages, key=lambda m: (m.partition, m.offset)):
        seen[m.key.decode()].append(dict(m.headers)["ce_id"].decode())
    assert dict(seen) == dict(expected)
    async with sessions() as s:
        assert await s.scalar(select(func.count()).where(OutboxMessage.sent_at.is_(None))) == 0
    await relay.close()


async def test_replay_republishes_the_chosen_range_in_order(new_database, engine_for, broker):
    engine = engine_for(await new_database("intake"))
    sessions = session_factory(engine)
    await fill_outbox(sessions, n_keys=1, per_key=5)
    relay = OutboxRelay(engine, bootstrap=broker, service="intake")
    await drain(relay)
    async with sessions() as s, s.begin():
        assert await mark_for_replay(s, from_id=3, to_id=4) == 2
    assert await relay.backlog() == 2
    assert await drain(relay) == 2
    messages = await read_topic(broker, "reports.submitted", expect=7)
    ids = [dict(m.headers)["ce_id"].decode() for m in sorted(messages, key=lambda m: m.offset)]
    assert len(ids) == 7 and ids[5:] == ids[2:4]
    await relay.close()


async def test_rows_stay_unsent_while_the_broker_is_away(new_database, engine_for):
    engine = engine_for(await new_database("intake"))
    sessions = session_factory(engine)
    await fill_outbox(sessions, n_keys=1, per_key=2)
    relay = OutboxRelay(engine, bootstrap="127.0.0.1:9", service="intake")
    assert await relay.publish_once() == 0
    assert await relay.backlog() == 2
    await relay.close()


@pytest.mark.broker  # starts and restarts its own
async def test_after_the_broker_restarted_empty_the_relay_publishes_what_follows(new_database, engine_for, tmp_path):
    """The broker restarted with nothing while the relay's producer still knew its topics and
    connections: the rows written afterwards go out (the producer is replaced after the failed send)
    and are marked sent."""
    from shared.broker import free_port, start_local_broker

    engine = engine_for(await new_database("intake"))
    sessions = session_factory(engine)
    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    broker = start_local_broker(port, log_file=tmp_path / "broker.log")
    relay = OutboxRelay(engine, bootstrap=bootstrap, service="intake", partitions=3)
    try:
        await fill_outbox(sessions, n_keys=3, per_key=1)
        assert await drain(relay) == 3
        broker.kill()
        broker.wait()
        broker = start_local_broker(port, log_file=tmp_path / "broker.log")
        after = await fill_outbox(sessions, n_keys=3, per_key=1)

        async def all_sent():
            await relay.publish_once()
            return await relay.backlog() == 0

        await eventually(all_sent, timeout_s=60, what="the rows written after the restart published")
        messages = await read_topic(bootstrap, "reports.submitted", expect=3)
        assert {dict(m.headers)["ce_id"].decode() for m in messages} == {i for ids in after.values() for i in ids}
    finally:
        await relay.close()
        broker.kill()


async def test_unacknowledged_rows_stay_unsent_and_go_out_next_time_in_order(new_database, engine_for, broker):
    engine = engine_for(await new_database("intake"))
    sessions = session_factory(engine)
    expected = await fill_outbox(sessions, n_keys=1, per_key=6)
    relay = OutboxRelay(engine, bootstrap=broker, service="intake")
    publisher = relay._publisher
    real_send = publisher._send_sync

    def send_then_lose_the_tail(records):
        real_send(records[:2])
        return 2  # the broker acknowledged only the first two

    publisher._send_sync = send_then_lose_the_tail
    assert await relay.publish_once() == 2
    assert await relay.backlog() == 4
    publisher._send_sync = real_send
    assert await drain(relay) == 4
    messages = await read_topic(broker, "reports.submitted", expect=6)
    assert [dict(m.headers)["ce_id"].decode() for m in sorted(messages, key=lambda m: m.offset)] == expected["r-0"]
    await relay.close()


async def test_only_one_relay_of_a_service_publishes_at_a_time(pg_intake, broker):
    _, engine = pg_intake
    sessions = session_factory(engine)
    await fill_outbox(sessions, n_keys=1, per_key=3)
    first = OutboxRelay(engine, bootstrap=broker, service="intake")
    second = OutboxRelay(engine, bootstrap=broker, service="intake")
    assert await first.publish_once() == 3
    await fill_outbox(sessions, n_keys=1, per_key=2)
    assert await second.publish_once() == 0  # standby while the first holds the lock
    await first.close()  # the first relay goes away
    assert await second.publish_once() == 2
    await second.close()


async def test_a_commit_in_another_process_wakes_the_relay_without_waiting_for_its_poll(pg_intake, broker, engine_for):
    url, relay_engine = pg_intake
    relay = OutboxRelay(relay_engine, bootstrap=broker, service="intake", poll_interval_s=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    # Another process's unit of work: its own engine, no in-process wake-up hook.
    writer_engine = engine_for(url)
    try:
        await eventually(lambda: _listening(relay), what="the relay to take the lead and LISTEN")
        expected = []
        for key in ("r-1", "r-2"):
            async with UnitOfWork(session_factory(writer_engine), source="/t", audit_keys=AUDIT_KEYS) as uow:
                uow.raise_event(submitted(key), key=key)
                expected.append((await uow.flush_events())[0])
                await uow.commit()
        # With an hour between polls, only the commit's NOTIFY can have woken the relay.
        await eventually(lambda: _sent(relay), what="the new rows to be published")
        messages = await read_topic(broker, "reports.submitted", expect=2)
        assert sorted(dict(m.headers)["ce_id"].decode() for m in messages) == sorted(expected)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def test_on_sqlite_a_commit_in_another_process_wakes_the_relay_by_the_database_files(
        new_database, engine_for, broker):
    url = await new_database("intake")
    relay_engine = engine_for(url)
    if relay_engine.dialect.name != "sqlite":
        pytest.skip("SQLite only: PostgreSQL's relay hears NOTIFY")
    relay = OutboxRelay(relay_engine, bootstrap=broker, service="intake", poll_interval_s=0.05,
                        safety_interval_s=3600)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    writer_engine = engine_for(url)  # another process's: no in-process wake-up hook
    try:
        await eventually(lambda: _read_once(relay), what="the relay's first read")
        async with UnitOfWork(session_factory(writer_engine), source="/t", audit_keys=AUDIT_KEYS) as uow:
            uow.raise_event(submitted("r-1"), key="r-1")
            expected = (await uow.flush_events())[0]
            await uow.commit()
        # With an hour between safety reads, only the changed files can have woken the relay.
        await eventually(lambda: _sent(relay), what="the new row to be published")
        messages = await read_topic(broker, "reports.submitted", expect=1)
        assert [dict(m.headers)["ce_id"].decode() for m in messages] == [expected]
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def test_an_idle_relay_does_not_read_the_outbox_until_something_is_committed(new_database, engine_for, broker):
    """On PostgreSQL it waits for a NOTIFY, on SQLite for the database files to change; it checks the
    files every poll interval (here 50 ms) and reads the outbox only when they changed."""
    engine = engine_for(await new_database("intake"))
    relay = OutboxRelay(engine, bootstrap=broker, service="intake", poll_interval_s=0.05, safety_interval_s=3600)
    assert await relay.backlog() == 0  # (on SQLite, the first connection made the write-ahead log)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        await eventually(lambda: _read_once(relay), what="the relay's first read")
        reads = relay.reads
        await asyncio.sleep(1.0)  # twenty poll intervals in which nothing is committed
        assert relay.reads == reads
        async with UnitOfWork(session_factory(engine), source="/t", audit_keys=AUDIT_KEYS) as uow:
            uow.raise_event(submitted("r-1"), key="r-1")
            await uow.commit()
        await eventually(lambda: _sent(relay), what="the committed row to be published")
        assert relay.reads > reads
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def _read_once(relay: OutboxRelay) -> bool:
    return relay.reads > 0


async def test_a_rolled_back_unit_of_work_does_not_notify(pg_intake):
    """Only a commit that wrote outbox rows notifies. A marker notification after each unit of work
    pins which one each notification came from (notifications arrive in commit order)."""
    url, engine = pg_intake
    listener = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    heard: list[str] = []
    await listener.add_listener(OUTBOX_CHANNEL, lambda *args: heard.append(args[3] or "outbox"))
    marker = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        sessions = session_factory(engine)
        async with UnitOfWork(sessions, source="/t", audit_keys=AUDIT_KEYS) as uow:
            uow.raise_event(submitted("r-1"), key="r-1")
            await uow.flush_events()  # never committed
        await marker.execute(f"NOTIFY {OUTBOX_CHANNEL}, 'after-rollback'")
        async with UnitOfWork(sessions, source="/t", audit_keys=AUDIT_KEYS) as uow:
            await uow.commit()  # commits, but wrote no outbox row
        await marker.execute(f"NOTIFY {OUTBOX_CHANNEL}, 'after-empty-commit'")
        async with UnitOfWork(sessions, source="/t", audit_keys=AUDIT_KEYS) as uow:
            uow.raise_event(submitted("r-2"), key="r-2")
            await uow.commit()
        await marker.execute(f"NOTIFY {OUTBOX_CHANNEL}, 'after-outbox-commit'")
        await eventually(lambda: _nonempty([h for h in heard if h == "after-outbox-commit"]),
                         what="the last marker")
        assert heard == ["after-rollback", "after-empty-commit", "outbox", "after-outbox-commit"]
    finally:
        await marker.close()
        await listener.close()


async def _listening(relay: OutboxRelay) -> bool:
    return relay._leader is not None


async def _sent(relay: OutboxRelay) -> bool:
    return await relay.backlog() == 0


async def _nonempty(items: list[str]) -> bool:
    return bool(items)


async def test_a_relay_whose_leader_connection_died_stands_down_and_leads_again(pg_intake, broker):
    url, engine = pg_intake
    sessions = session_factory(engine)
    relay = OutboxRelay(engine, bootstrap=broker, service="intake")
    await fill_outbox(sessions, n_keys=1, per_key=1)
    assert await relay.publish_once() == 1
    pid = (await (await relay._leader.get_raw_connection()).driver_connection.fetchval("SELECT pg_backend_pid()"))
    admin = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    await admin.execute("SELECT pg_terminate_backend($1)", pid)
    await admin.close()
    await fill_outbox(sessions, n_keys=1, per_key=2)
    with pytest.raises((asyncpg.PostgresError, asyncpg.InterfaceError, DBAPIError)):
        await relay.publish_once()  # its lock went with the connection: nothing is published
    assert relay._leader is None and await relay.backlog() == 2
    assert await drain(relay) == 2  # it takes the lock again and carries on
    await relay.close()


class StandInPublisher:
    """The broker's producing side without a broker: acknowledges at most `acknowledge` records per
    send (none while `away`), and keeps the ids of those it acknowledged, in order."""

    def __init__(self, acknowledge):
        self.acknowledge, self.away, self.published = acknowledge, False, []

    async def send(self, records):
        if self.away:
            return 0
        taken = records[:self.acknowledge]
        self.published += [headers["ce_id"] for _, _, headers, _ in taken]
        return len(taken)

    async def close(self):
        pass


async def test_only_acknowledged_rows_are_marked_sent_and_the_rest_go_out_next_in_order(new_database, engine_for):
    engine = engine_for(await new_database("intake"))
    sessions = session_factory(engine)
    expected = await fill_outbox(sessions, n_keys=1, per_key=5)
    relay = OutboxRelay(engine, bootstrap="127.0.0.1:9", service="intake", metrics=Metrics("intake"))
    relay._publisher = publisher = StandInPublisher(acknowledge=2)
    publisher.away = True
    assert await relay.publish_once() == 0 and await relay.backlog() == 5
    publisher.away = False
    assert await relay.publish_once() == 2 and await relay.backlog() == 3
    assert await drain(relay) == 3
    assert publisher.published == expected["r-0"]
    async with sessions() as s, s.begin():
        assert await mark_for_replay(s, from_id=2, to_id=3) == 2
    assert await drain(relay) == 2
    assert publisher.published[5:] == expected["r-0"][1:3]
    async with sessions() as s:
        counts = list(await s.scalars(select(OutboxMessage.publish_count).order_by(OutboxMessage.id)))
    assert counts == [1, 2, 2, 1, 1]
    await relay.close()
