"""A consumer group held up by a member that left while it formed: on the local (Tansu) broker nobody
else is given partitions for 14 minutes or more. The consumer forms the group anew, keeping where it
was, so `make run` is not stalled by it."""

import asyncio
import time

import pytest
from kafka import KafkaConsumer
from kafka.structs import MemberState, OffsetAndMetadata, TopicPartition

from tests.conftest import eventually
from tests.factories import submitted
from tests.kafka_helpers import produce_event
from tests.shared.inbox_helpers import TOPIC, cases, make_consumer

pytestmark = pytest.mark.broker


def commit_the_end(bootstrap: str, group: str) -> None:
    """What a member that had applied everything on the topic would have committed."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        partitions = [TopicPartition(TOPIC, p) for p in sorted(consumer.partitions_for_topic(TOPIC))]
        consumer.assign(partitions)
        consumer.commit({tp: OffsetAndMetadata(end, "", -1) for tp, end in consumer.end_offsets(partitions).items()})
    finally:
        consumer.close(autocommit=False)


def leave_midway_through_a_join(bootstrap: str, group: str) -> None:
    """A plain kafka-python member (dynamic, as its defaults make it) closed while its group forms."""
    member = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, session_timeout_ms=6000,
                           heartbeat_interval_ms=1000)
    member.subscribe([TOPIC])
    deadline = time.monotonic() + 15
    while member._coordinator.state is not MemberState.REBALANCING:  # no public accessor
        assert time.monotonic() < deadline, "the member never started joining"
        member.poll(timeout_ms=50)
    member.close()


async def test_a_group_held_up_by_a_member_that_left_mid_join_is_formed_anew_where_it_was(verification_db, broker):
    sessions = verification_db
    for report_id in ("r-old-1", "r-old-2"):
        await produce_event(broker, submitted(report_id), key=report_id)
    await asyncio.to_thread(commit_the_end, broker, "verification")
    await asyncio.to_thread(leave_midway_through_a_join, broker, "verification")

    consumer, stop = make_consumer(sessions, broker), asyncio.Event()
    consumer._source.HELD_UP_JOIN_S = 5.0  # a minute in service; the join itself takes ~3 s
    task = asyncio.create_task(consumer.run(stop))
    try:
        await produce_event(broker, submitted("r-new"), key="r-new")
        await eventually(lambda: cases(sessions, "r-new"), timeout_s=60, what="an event through the held-up group")
    finally:
        stop.set()
        await task
    # The group started where the old one was: what it had committed was not read again.
    assert await cases(sessions, "r-old-1") == 0 and await cases(sessions, "r-old-2") == 0
