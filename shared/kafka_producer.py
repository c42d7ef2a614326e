"""The producing side of the broker: the relay's kafka-python producer and its quirks, in one place."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from shared.broker import PLAINTEXT, KafkaSecurity, reachable
from shared.kafka_admin import ensure_topics

log = logging.getLogger("zhengming.relay")

# What the relay hands over: (topic, key, headers, payload), in the order they must arrive.
Outgoing = tuple[str, str, dict[str, str], bytes]


class PublishFailed(Exception):
    pass


class KafkaPublisher:
    """Sends records in order with the idempotent producer (`acks=all`) and says how many the
    broker acknowledged. A failed send replaces the producer, so the next one starts clean."""

    def __init__(self, *, bootstrap: str, client_id: str, partitions: int = 3,
                 security: KafkaSecurity = PLAINTEXT) -> None:
        self._bootstrap = bootstrap
        self._client_id = client_id
        self._partitions = partitions
        self._security = security
        # kafka-python clients are not thread-safe: every producer call runs on this one thread.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=client_id)
        self._producer: KafkaProducer | None = None
        self._known_topics: set[str] = set()

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def send(self, records: Sequence[Outgoing]) -> int:
        """Send `records` in order; how many from the front the broker acknowledged (none while it
        is away). What was not acknowledged may still arrive later: the caller sends it again."""
        try:
            acknowledged: int = await self._call(self._send_sync, records)
        except Exception as exc:
            log.warning("broker unavailable; will retry", extra={"error": type(exc).__name__, "detail": str(exc)[:200]})
            acknowledged = 0
        if acknowledged < len(records):
            # Start the next attempt on a fresh producer, from the first unacknowledged record.
            await self.reset()
        return acknowledged

    async def reset(self) -> None:
        """Let go of the producer; the next send makes a new one."""
        await self._call(self._reset_sync)

    async def close(self) -> None:
        """Let go of the producer and stop the publisher's thread."""
        await self.reset()
        self._executor.shutdown(wait=False)

    def _producer_sync(self) -> KafkaProducer:
        if self._producer is None:
            self._producer = KafkaProducer(
                bootstrap_servers=self._bootstrap,
                client_id=self._client_id,
                acks="all",
                enable_idempotence=True,
                linger_ms=2,
                request_timeout_ms=10_000,
                max_block_ms=10_000,
                # A missing topic is made by `ensure_topics` with the configured partitions (on the
                # first send after a failed one), not by a metadata request at the broker's default
                # count. (Tansu still creates a topic a produce request names; consumers cope.)
                allow_auto_create_topics=False,
                **self._security.client_options(),
            )
        return self._producer

    def _send_sync(self, records: Sequence[Outgoing]) -> int:
        if self._producer is None and not reachable(self._bootstrap):
            raise PublishFailed(f"broker unreachable at {self._bootstrap}")
        producer = self._producer_sync()
        missing = {topic for topic, *_ in records} - self._known_topics
        if missing:
            ensure_topics(self._bootstrap, missing, partitions=self._partitions, security=self._security)
            self._known_topics |= missing
        futures = [
            producer.send(
                topic,
                key=key.encode(),
                value=payload,
                headers=[(name, value.encode()) for name, value in headers.items()],
            )
            for topic, key, headers, payload in records
        ]
        producer.flush(timeout=15)
        acknowledged = 0
        for fut in futures:
            try:
                fut.get(timeout=0)
            except Exception as exc:
                log.warning("publish failed; will retry", extra={"error": repr(exc)})
                break
            acknowledged += 1
        return acknowledged

    def _reset_sync(self) -> None:
        """What the producer could not deliver stays unsent in the outbox."""
        producer, self._producer = self._producer, None
        self._known_topics.clear()
        if producer is None:
            return
        try:
            producer.close(timeout=2)
        except KafkaError as exc:
            # kafka-python's close raises when its flush times out (batches stuck on a broker that
            # lost its data, say) before it stops the sender thread; stop it here, aborting them.
            log.warning("producer closed with undelivered batches", extra={"error": type(exc).__name__})
            sender = getattr(producer, "_sender", None)  # no public accessor
            if sender is not None:
                sender.force_close()
