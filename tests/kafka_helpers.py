"""Reading and writing the real broker from tests (kafka-python is blocking: run in a thread)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition

from shared.events import EventData, encode
from shared.kafka_admin import ensure_topics
from shared.signing import ServiceKey
from tests.keys import signer_of


def _produce(bootstrap: str, records: list[tuple[str, bytes | None, list[tuple[str, bytes]], bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    for topic, key, headers, value in records:
        producer.send(topic, key=key, value=value, headers=headers).get(timeout=10)
    producer.close()


async def produce_raw(bootstrap: str, topic: str, *, key: bytes | None, value: bytes,
                      headers: list[tuple[str, bytes]] | None = None) -> None:
    await asyncio.to_thread(ensure_topics, bootstrap, [topic], partitions=3)
    await asyncio.to_thread(_produce, bootstrap, [(topic, key, headers or [], value)])


async def produce_event(bootstrap: str, data: EventData, *, key: str, signer: ServiceKey | None = None) -> str:
    """`data` as its producer publishes it: signed with that service's key (or `signer`'s)."""
    signer = signer or signer_of(data)
    event_id, record = encode(data, key=key, source=signer.source, subject=getattr(data, "report_id", None),
                              signer=signer)
    await produce_raw(bootstrap, record.topic, key=key.encode(), value=record.value,
                      headers=[(k, v.encode()) for k, v in record.headers.items()])
    return event_id


def _read_all(bootstrap: str, topic: str, expect: int, timeout_s: float) -> list[Any]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                             auto_offset_reset="earliest")
    deadline = time.monotonic() + timeout_s
    partitions: set[int] | None = None
    while not partitions and time.monotonic() < deadline:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            time.sleep(0.1)
    if not partitions:
        consumer.close()
        return []
    consumer.assign([TopicPartition(topic, p) for p in partitions])
    consumer.seek_to_beginning()
    out: list[Any] = []
    while len(out) < expect and time.monotonic() < deadline:
        for msgs in consumer.poll(timeout_ms=200).values():
            out.extend(msgs)
    # Drain briefly so a test that expects N also sees an unwanted N+1.
    drain_until = time.monotonic() + 0.5
    while time.monotonic() < drain_until:
        for msgs in consumer.poll(timeout_ms=100).values():
            out.extend(msgs)
    consumer.close()
    return out


async def read_topic(bootstrap: str, topic: str, *, expect: int, timeout_s: float = 20) -> list[Any]:
    """Every message on `topic` (waiting until at least `expect` arrived or the deadline)."""
    return await asyncio.to_thread(_read_all, bootstrap, topic, expect, timeout_s)
