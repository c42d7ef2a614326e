"""An idle consumer costs little: the broker holds its empty fetches longer as the quiet lasts, and
its loop comes round about once per held fetch, not several times a second."""

import asyncio
import time

import pytest

from shared.kafka_admin import ensure_topics
from shared.kafka_source import KafkaSource
from tests.factories import submitted
from tests.kafka_helpers import produce_event

TOPIC = "reports.submitted"
pytestmark = pytest.mark.broker


async def _assigned(source: KafkaSource) -> None:
    deadline = time.monotonic() + 45
    while not source.assignment():
        assert time.monotonic() < deadline, "the source was never given partitions"
        await source.poll()


async def _quiet_until_waiting(source: KafkaSource, wait_ms: int) -> None:
    deadline = time.monotonic() + 30
    while source.fetch_wait_ms < wait_ms:
        assert time.monotonic() < deadline, f"the fetch wait stayed at {source.fetch_wait_ms} ms"
        assert await source.poll() == {}


async def test_an_idle_consumer_lengthens_its_fetch_wait_and_the_next_message_shortens_it(broker):
    await asyncio.to_thread(ensure_topics, broker, [TOPIC], partitions=3)
    source = KafkaSource(subscriber="verification", topic=TOPIC, bootstrap=broker,
                         fetch_wait_ms=100, idle_fetch_wait_ms=400, quiet_before_longer_s=1.0)
    try:
        await _assigned(source)
        await _quiet_until_waiting(source, 400)
        assert source.fetch_wait_ms == 400
        assert source._consumer._fetcher.config["fetch_max_wait_ms"] == 400  # what the broker is asked for

        await produce_event(broker, submitted("r-1"), key="r-1")
        deadline = time.monotonic() + 20
        while not (polled := await source.poll()):
            assert time.monotonic() < deadline, "the message never came"
        assert [m.key for messages in polled.values() for m in messages] == [b"r-1"]
        await source.poll()  # the round after a message: the topic is busy again
        assert source.fetch_wait_ms == 100
        assert source._consumer._fetcher.config["fetch_max_wait_ms"] == 100
    finally:
        await source.shutdown()


async def test_an_idle_consumer_comes_round_about_once_per_held_fetch(broker):
    """Busy polling (the loop round every 300 ms with the broker holding fetches 100 ms) would come
    round 13 times in these 4 seconds; idle at a 1 s wait it is 4 or 5. A slow machine only lowers it."""
    await asyncio.to_thread(ensure_topics, broker, [TOPIC], partitions=3)
    source = KafkaSource(subscriber="verification", topic=TOPIC, bootstrap=broker,
                         fetch_wait_ms=100, idle_fetch_wait_ms=1000, quiet_before_longer_s=1.0)
    try:
        await _assigned(source)
        await _quiet_until_waiting(source, 1000)
        before, started = source.polls, time.monotonic()
        while time.monotonic() - started < 4:
            assert await source.poll() == {}
        assert source.polls - before <= 6
    finally:
        await source.shutdown()
