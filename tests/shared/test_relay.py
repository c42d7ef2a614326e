"""Outbox relay against the real broker: in order per key, acknowledged before marked, replayable."""

from collections import defaultdict

from sqlalchemy import func, select

from shared.db import create_engine, session_factory
from shared.models import OutboxMessage
from shared.observability import Metrics
from shared.relay import OutboxRelay, mark_for_replay
from shared.uow import UnitOfWork
from tests.kafka_helpers import read_topic
from tests.shared.test_events import submitted


async def fill_outbox(sessions, n_keys=3, per_key=10):
    expected = defaultdict(list)
    for _ in range(per_key):
        for k in range(n_keys):
            async with UnitOfWork(sessions, source="/t") as uow:
                uow.raise_event(submitted(f"r-{k}"), key=f"r-{k}")
                rows = await uow.flush_events()
                await uow.session.commit()
                uow.committed = True
            expected[f"r-{k}"].append(rows[0].event_id)
    return expected


async def drain(relay):
    total = 0
    while (n := await relay.publish_once()) > 0:
        total += n
    return total


async def test_relay_publishes_every_row_once_in_order_per_key(new_database, broker):
    engine = create_engine(await new_database("intake"))
    sessions = session_factory(engine)
    expected = await fill_outbox(sessions)
    relay = OutboxRelay(sessions, bootstrap=broker, service="intake", metrics=Metrics("intake"), batch_size=7)
    assert await drain(relay) == 30
    assert await relay.backlog() == 0

    messages = await read_topic(broker, "reports.submitted", expect=30)
    seen = defaultdict(list)
    for m in sorted(messages, key=lambda m: (m.partition, m.offset)):
        seen[m.key.decode()].append(dict(m.headers)["ce_id"].decode())
    assert dict(seen) == dict(expected)
    async with sessions() as s:
        assert await s.scalar(select(func.count()).where(OutboxMessage.sent_at.is_(None))) == 0
    await engine.dispose()


async def test_replay_republishes_the_chosen_range_in_order(new_database, broker):
    engine = create_engine(await new_database("intake"))
    sessions = session_factory(engine)
    await fill_outbox(sessions, n_keys=1, per_key=5)
    relay = OutboxRelay(sessions, bootstrap=broker, service="intake")
    await drain(relay)
    async with sessions() as s, s.begin():
        assert await mark_for_replay(s, from_id=3, to_id=4) == 2
    assert await relay.backlog() == 2
    assert await drain(relay) == 2
    messages = await read_topic(broker, "reports.submitted", expect=7)
    ids = [dict(m.headers)["ce_id"].decode() for m in sorted(messages, key=lambda m: m.offset)]
    assert len(ids) == 7 and ids[5:] == ids[2:4]
    await engine.dispose()


async def test_rows_stay_unsent_while_the_broker_is_away(new_database):
    engine = create_engine(await new_database("intake"))
    sessions = session_factory(engine)
    await fill_outbox(sessions, n_keys=1, per_key=2)
    relay = OutboxRelay(sessions, bootstrap="127.0.0.1:9", service="intake")
    assert await relay.publish_once() == 0
    assert await relay.backlog() == 2
    await engine.dispose()
