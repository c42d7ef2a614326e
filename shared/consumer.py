"""Idempotent consumer: inbox in the effect's transaction, offsets committed after the DB commit.

For the messages one poll returned (each partition's in order):
1. the inbox (shared/inbox.py) applies them in one transaction -- skipping each event it already
   has, running the handler and writing the inbox mark for the others -- or, if anything in that
   fails, one message per transaction, where a message that can never be applied, or fails every
   retry, is dead-lettered;
2. the broker source (shared/kafka_source.py) commits the Kafka offsets only after that (all the
   poll's partitions in one request, or each message's after it when applied one at a time).
A crash between 1 and 2 redelivers the messages, and the inbox marks make the second delivery a
no-op. This module only joins the two; neither knows the other.
"""

from __future__ import annotations

import asyncio
import logging

from shared.inbox import BatchHandler, Handler, Inbox, Message, dead_letter_headers, pause
from shared.kafka_source import KafkaSource
from shared.observability import Metrics

__all__ = ["BatchHandler", "EventConsumer", "Handler", "Inbox", "KafkaSource", "dead_letter_headers"]

log = logging.getLogger("zhengming.consumer")


class EventConsumer:
    """One subscriber reading one topic: polls the broker source, has the inbox apply what came,
    and commits the offsets of what the inbox settled."""

    REOPEN_AFTER_FAILURES = 30  # in a row, about two minutes with the backoff below

    def __init__(self, inbox: Inbox, source: KafkaSource, *, metrics: Metrics | None = None,
                 backoff_max_s: float = 5.0) -> None:
        """`inbox` and `source` are one subscriber's on one topic (the same in both)."""
        if (inbox.subscriber, inbox.topic) != (source.subscriber, source.topic):
            raise ValueError("the inbox and the source must be one subscriber's on one topic")
        self.subscriber = inbox.subscriber
        self.topic = inbox.topic
        self._metrics = metrics
        self._backoff_max_s = backoff_max_s  # the longest pause between reopening attempts
        self._inbox = inbox
        self._source = source
        self._lag_labels: set[int] = set()

    @property
    def assigned(self) -> asyncio.Event:
        """Set once the group gave this consumer partitions."""
        return self._source.assigned

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, reopening after any broker or client failure.

        A BaseException (a crash, or cancellation) ends the loop with offsets left uncommitted.
        """
        failures = 0
        try:
            while not stop.is_set():
                try:
                    polled = await self._source.poll()
                    if not await self._process(polled, stop):
                        return
                    await self._update_lag()
                    failures = 0
                except Exception as exc:
                    # Broker gone, coordinator moved, a rebalance mid-commit: start over from the
                    # committed offsets; the inbox absorbs anything applied but not yet committed.
                    # The client is kept -- it reconnects by itself -- and only replaced after a
                    # long run of failures: a member that leaves while its group is forming can
                    # hold that group up for minutes on the Tansu broker.
                    failures += 1
                    reopen = failures >= self.REOPEN_AFTER_FAILURES
                    log.warning("consumer failed; %s", "reopening" if reopen else "resuming from committed offsets",
                                extra={"subscriber": self.subscriber, "topic": self.topic, "failures": failures,
                                       "error": type(exc).__name__, "detail": str(exc)[:200]})
                    if reopen:
                        failures = 0
                        await self._source.close()
                    else:
                        self._source.resume_from_committed()
                    await pause(stop, min(self._backoff_max_s, 0.5 * 2 ** min(failures, 6)))
        finally:
            await self._source.shutdown()

    async def _process(self, polled: dict[int, list[Message]], stop: asyncio.Event) -> bool:
        """Apply a poll's messages, each partition's in order; False when asked to stop part-way.

        All of the poll's messages are first tried together: one transaction, one inbox lookup and
        one offset commit for every partition. If anything in that goes wrong -- a poison event, a
        handler error, the database away -- nothing of it is kept and the messages are applied one
        at a time instead, each committed after it is settled, with its own retries and, if it
        must, dead letter.
        """
        if stop.is_set():
            return False
        partitions = sorted(polled)
        failed: dict[str, int] = {}  # event id -> attempts the batch already spent on it
        together = [message for partition in partitions for message in polled[partition]]
        if len(together) > 1 and await self._inbox.apply_together(together, failed):
            await self._source.commit({partition: polled[partition][-1].offset + 1 for partition in partitions})
            return True
        for partition in partitions:
            for message in polled[partition]:
                if stop.is_set() or not await self._inbox.handle(message, stop, failed):
                    return False  # stopping: leave this offset uncommitted for the next owner
                if not await self._source.commit({partition: message.offset + 1}):
                    break  # the partition's messages after this one will come again (or to another member)
        return True

    async def _update_lag(self) -> None:
        if not self._metrics:
            return
        lags = await self._source.lag()
        gauge = self._metrics.consumer_lag
        for partition, lag in lags.items():
            gauge.labels(self.subscriber, self.topic, str(partition)).set(lag)
        for labels in list(self._lag_labels - set(lags)):
            # A revoked partition is another member's to report; a stale value here would double-count.
            gauge.remove(self.subscriber, self.topic, str(labels))
        self._lag_labels = set(lags)
