"""Idempotent consumer: inbox in the effect's transaction, offsets committed after the DB commit.

For the messages one poll returned (each partition's in order):
1. decode the CloudEvents; a message that can never be applied goes straight to the dead letters;
2. in one transaction: skip each event the inbox already has (subscriber, event id), else run the
   handler and write the inbox mark, then commit -- all of the poll's messages together, or, if
   anything in that fails, one message per transaction;
3. commit the Kafka offsets only after that (all the poll's partitions in one request).
A crash between 2 and 3 redelivers the messages, and the inbox marks make the second delivery a
no-op. Handler errors are retried with backoff a bounded number of times and then dead-lettered
(kept in `dead_letters` and sent to `<topic>.DLT` through the outbox with provenance headers),
so the partition moves on. Infrastructure outages (database or network away) are retried until
they pass, never dead-lettered: the event is not at fault.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaConsumer
from kafka.errors import CommitFailedError, KafkaConnectionError
from kafka.structs import MemberState, OffsetAndMetadata, TopicPartition
from sqlalchemy import select

from shared.broker import PLAINTEXT, KafkaSecurity, ensure_topics, reachable
from shared.db import is_transient, utcnow
from shared.events import (
    HANDLER_FAILED,
    TRUST_REASONS,
    PoisonEvent,
    ReceivedEvent,
    dead_letter_topic,
    decode,
)
from shared.faults import crash_point
from shared.models import DeadLetter, InboxMark, OutboxMessage
from shared.observability import Metrics, report_id_var
from shared.signing import EventTrust
from shared.uow import UnitOfWork

log = logging.getLogger("zhengming.consumer")

Handler = Callable[[ReceivedEvent, UnitOfWork], Awaitable[None]]
# Optional: applies the events of one poll (each partition's in order) in the same unit of work --
# as the handler would one after the other, in fewer queries. Used when a poll brings several.
BatchHandler = Callable[[list[ReceivedEvent], UnitOfWork], Awaitable[None]]


class _Reassigned(ConsumerRebalanceListener):
    """Marks the consumer for a position resync; the callbacks run on kafka-python's IO loop, so
    they only set a flag and the poll loop does the (blocking) work."""

    def __init__(self, owner: EventConsumer) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: Any) -> None:
        pass

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.owner.reassigned = True

    def on_partitions_lost(self, lost: Any) -> None:
        self.owner.reassigned = True


def dead_letter_headers(message: Any, *, subscriber: str, reason: str, error: str, attempts: int) -> dict[str, str]:
    """The original headers plus provenance: where the event came from and why it was given up."""
    headers = {str(name): (raw or b"").decode("utf-8", "replace") for name, raw in (message.headers or [])}
    headers.update({
        "dlt_original_topic": message.topic,
        "dlt_original_partition": str(message.partition),
        "dlt_original_offset": str(message.offset),
        "dlt_subscriber": subscriber,
        "dlt_attempts": str(attempts),
        "dlt_reason": reason,
        "dlt_error": error[:1000],
        "dlt_failed_at": utcnow().isoformat(),
    })
    return headers


class EventConsumer:
    REOPEN_AFTER_FAILURES = 30  # in a row, about two minutes with the backoff below
    # kafka-python waits for the group coordinator without limit when fetching or committing
    # offsets; a broker that lost its groups could then hold the consumer silently for ever. A
    # timeout makes it a failure like any other: retried from the committed offsets, and logged.
    COORDINATOR_TIMEOUT_MS = 10_000
    REOPEN_WITHOUT_COORDINATOR_S = 60.0

    def __init__(
        self,
        *,
        subscriber: str,
        topic: str,
        handler: Handler,
        uow_factory: Callable[[], UnitOfWork],
        bootstrap: str,
        trust: EventTrust,
        metrics: Metrics | None = None,
        partitions: int = 3,
        max_attempts: int = 5,
        backoff_s: float = 0.2,
        backoff_max_s: float = 5.0,
        session_timeout_ms: int = 6000,
        handle_many: BatchHandler | None = None,
        security: KafkaSecurity = PLAINTEXT,
    ) -> None:
        self.subscriber = subscriber
        self._trust = trust
        self._security = security
        self.topic = topic
        self._handler = handler
        self._handle_many = handle_many
        self._uow_factory = uow_factory
        self._bootstrap = bootstrap
        self._metrics = metrics
        self._partitions = partitions
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s
        self._session_timeout_ms = session_timeout_ms
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"consumer-{subscriber}")
        self._consumer: KafkaConsumer | None = None
        self.assigned = asyncio.Event()
        self.reassigned = False
        # The topic's identity (KIP-516 topic id) as this consumer last polled it. The id changes
        # when the topic is recreated -- the in-memory broker restarted and lost its log and the
        # outbox replay refilled a new one, or an operator deleted and made it again -- and a
        # position in the old log means nothing in the new one.
        self._topic_id: str = ""
        # Set when the topic was recreated: the client is replaced, and its first assignment reads
        # every partition from the start instead of from committed offsets, which may be numbers
        # from the old log (the old client can commit, in the seconds before its metadata shows the
        # new id, what it fetched at old positions) and mean nothing in the new one.
        self._replace_client = False
        self._from_start = False
        self._lag_labels: set[int] = set()

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def _open_sync(self) -> KafkaConsumer:
        if not reachable(self._bootstrap):
            raise KafkaConnectionError(f"broker unreachable at {self._bootstrap}")
        ensure_topics(self._bootstrap, [self.topic, dead_letter_topic(self.topic)], partitions=self._partitions,
                      security=self._security)
        consumer = KafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=self.subscriber,
            client_id=f"{self.subscriber}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(500, self._session_timeout_ms // 6),
            max_poll_records=100,
            # How long the broker holds a fetch that found nothing (default 500 ms). On the Tansu
            # broker a message produced meanwhile waits out the rest of it, so this bounds the
            # added latency; polling costs an idle consumer ~2% of a core at 100 ms (~8% at 20).
            fetch_max_wait_ms=100,
            max_poll_interval_ms=300_000,
            # Refreshed often enough that a recreated topic (its id changed) is noticed within
            # seconds even when no error or rebalance says so; see `_poll_sync`.
            metadata_max_age_ms=10_000,
            # Topics are made by `ensure_topics` with the configured partitions, never on the side
            # by a metadata request after the broker lost them: the broker's default count would
            # change the partitions under a running group, which kafka-python 3.0.12 does not
            # always rebalance onto (a member kept three of four partitions for good).
            allow_auto_create_topics=False,
            **self._security.client_options(),
        )
        consumer.subscribe([self.topic], listener=_Reassigned(self))
        return consumer

    def _current_topic_id(self) -> str:
        assert self._consumer is not None
        topic_id = self._consumer._client.cluster.topic_id(self.topic)  # no public accessor
        return str(topic_id) if topic_id is not None else ""

    def _poll_sync(self) -> dict[TopicPartition, list[Any]]:
        assert self._consumer is not None
        records: dict[TopicPartition, list[Any]] = self._consumer.poll(timeout_ms=300)
        current = self._current_topic_id()
        recreated = bool(self._topic_id and current and current != self._topic_id)
        if current:
            self._topic_id = current
        if recreated:
            # Positions in memory belong to the old log: what was just polled may come from the
            # middle of the new one. Drop it, and replace the client: kafka-python does not reliably
            # rebalance a running group onto a topic whose partitions changed under it. The new
            # client reads every partition from its start; the inbox absorbs what was applied.
            log.warning("topic %s was recreated; replacing the client to reread it from the beginning", self.topic)
            self._replace_client = self._from_start = True
            return {}
        if self.reassigned:
            # After any (re)assignment, resume every partition from the group's committed offset,
            # never from a position remembered in memory. What was polled with the old positions
            # is dropped here and fetched again.
            self.reassigned = False
            assignment = self._consumer.assignment()
            for tp in assignment:
                committed = None
                if not self._from_start:
                    committed = self._consumer.committed(tp, timeout_ms=self.COORDINATOR_TIMEOUT_MS)
                if committed is None:
                    self._consumer.seek_to_beginning(tp)
                else:
                    self._consumer.seek(tp, committed)
            if assignment:
                self._from_start = False
            return {}
        beyond = self._beyond_the_end()
        if beyond:
            # A position past the end of its log belongs to a log that no longer exists: the broker
            # lost its data and this client's metadata does not show the new topic id yet (it
            # refreshes every 10 s). Tansu waits at such a position instead of answering out of
            # range, so nothing would arrive meanwhile. Reread; the id change replaces the client.
            log.warning("position past the end of the log; rereading from the beginning",
                        extra={"partitions": sorted(tp.partition for tp in beyond)})
            for tp in beyond:
                self._consumer.seek_to_beginning(tp)
            return {}
        return records

    def _beyond_the_end(self) -> list[TopicPartition]:
        assert self._consumer is not None
        beyond = []
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            state = self._consumer._subscription.assignment.get(tp)  # no public accessor
            if high is None or state is None or not state.has_valid_position:
                continue
            if self._consumer.position(tp, timeout_ms=0) > high:
                beyond.append(tp)
        return beyond

    def _coordinator_unknown(self) -> bool:
        coordinator = getattr(self._consumer, "_coordinator", None)  # no public accessor
        return coordinator is not None and bool(coordinator.coordinator_unknown())

    def _lag_sync(self) -> dict[int, int]:
        assert self._consumer is not None
        lags = {}
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            if high is not None:
                lags[tp.partition] = max(0, high - self._consumer.position(tp))
        return lags

    def _commit_sync(self, offsets: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        self._consumer.commit({tp: OffsetAndMetadata(offset, "", -1) for tp, offset in offsets.items()},
                              timeout_ms=self.COORDINATOR_TIMEOUT_MS)

    async def _commit_offsets(self, offsets: dict[TopicPartition, int]) -> None:
        await self._call(self._commit_sync, offsets)

    def _close_sync(self) -> None:
        if self._consumer is not None:
            self._finish_joining()
            self._consumer.close(autocommit=False)
            self._consumer = None

    def _finish_joining(self, limit_s: float = 10.0) -> None:
        """Let a group join in progress complete before leaving. On the Tansu broker a member that
        leaves while the group is forming stays its awaited leader, and the group takes no one else
        for many minutes. Records polled meanwhile are dropped and their offsets not committed."""
        assert self._consumer is not None
        coordinator = getattr(self._consumer, "_coordinator", None)
        deadline = time.monotonic() + limit_s
        while getattr(coordinator, "state", None) is MemberState.REBALANCING and time.monotonic() < deadline:
            try:
                self._consumer.poll(timeout_ms=200)
            except Exception:  # leaving anyway; the broker may be the reason
                return

    def _seek_sync(self, tp: TopicPartition, offset: int) -> None:
        assert self._consumer is not None
        if tp in self._consumer.assignment():
            self._consumer.seek(tp, offset)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set, reopening after any broker or client failure.

        A BaseException (a crash, or cancellation) ends the loop with offsets left uncommitted.
        """
        failures = 0
        loop = asyncio.get_running_loop()
        coordinator_found = loop.time()  # when the client last knew its group coordinator
        try:
            while not stop.is_set():
                try:
                    if self._consumer is None:
                        self._consumer = await self._call(self._open_sync)
                        coordinator_found = loop.time()
                    batch = await self._call(self._poll_sync)
                    if self._replace_client:
                        self._replace_client = False
                        await self._call(self._close_sync)
                        continue
                    if self._consumer.assignment():
                        self.assigned.set()
                    if not await self._call(self._coordinator_unknown):
                        coordinator_found = loop.time()
                    elif loop.time() - coordinator_found > self.REOPEN_WITHOUT_COORDINATOR_S:
                        # Seen after a broker restart on Tansu: the client polls without error but
                        # never finds its group's coordinator again. A new client does.
                        log.warning("no group coordinator for %.0f s; reopening the client",
                                    loop.time() - coordinator_found)
                        await self._call(self._close_sync)
                        continue
                    if not await self._process(batch, stop):
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
                                extra={"error": type(exc).__name__, "detail": str(exc)[:200]})
                    if reopen:
                        failures = 0
                        await self._call(self._close_sync)
                    else:
                        self.reassigned = True
                    await self._sleep(stop, min(self._backoff_max_s, 0.5 * 2 ** min(failures, 6)))
        finally:
            await self._call(self._close_sync)
            self._executor.shutdown(wait=False)

    async def _process(self, batch: dict[TopicPartition, list[Any]], stop: asyncio.Event) -> bool:
        """Apply a polled batch in partition order. False when asked to stop part-way.

        A partition's messages are first tried together: one transaction, one inbox lookup and
        one offset commit for all of them. If anything in that goes wrong -- a poison event, a
        handler error, the database away -- nothing of it is kept and the messages are applied
        one at a time instead, where each gets its own retries and, if it must, dead letter.
        """
        if stop.is_set():
            return False
        partitions = sorted(batch, key=lambda t: t.partition)
        failed: dict[str, int] = {}  # event id -> attempts the batch already spent on it
        if sum(len(batch[tp]) for tp in partitions) > 1 and await self._apply_together(
                [(tp, batch[tp]) for tp in partitions], failed):
            return True
        for tp in partitions:
            for message in batch[tp]:
                if stop.is_set() or not await self._handle(message, stop, failed):
                    return False  # stopping: leave this offset uncommitted for the next owner
                if not await self._commit_or_seek({tp: message.offset + 1}):
                    break  # the rest of this batch is stale
        return True

    async def _commit_or_seek(self, offsets: dict[TopicPartition, int]) -> bool:
        """Commit the offsets after what was applied; False if a rebalance took the commit away.

        Then, for each partition still ours, carry on from its offset; a partition that is not
        resumes with its new owner from the last commit, and the inbox absorbs what we applied.
        """
        try:
            await self._commit_offsets(offsets)
            return True
        except CommitFailedError:
            log.info("offset commit lost to a rebalance", extra={"partitions": sorted(tp.partition for tp in offsets)})
            for tp, offset in offsets.items():
                await self._call(self._seek_sync, tp, offset)
            return False

    async def _apply_together(self, polled: list[tuple[TopicPartition, list[Any]]], failed: dict[str, int]) -> bool:
        """Apply what one poll returned (each partition's messages in order) in one transaction,
        then commit every partition's offset at once; False if that failed and nothing of it was
        kept. A handler error that is the event's fault counts as that event's first attempt (in
        `failed`), so the one-at-a-time retries stay within `max_attempts`."""
        messages = [m for _, partition_messages in polled for m in partition_messages]
        try:
            events = [decode(m.headers, m.key, m.value, trust=self._trust) for m in messages]
        except Exception:
            return False  # a poison event among them: one at a time, so it alone is dead-lettered
        try:
            outcomes = await self._apply(list(zip(events, messages, strict=True)), failed)
        except Exception as exc:
            log.info("batch not applied together; one event at a time",
                     extra={"events": len(messages), "error": type(exc).__name__})
            return False
        for outcome in outcomes:
            self._count(outcome)
        await self._commit_or_seek({tp: partition_messages[-1].offset + 1 for tp, partition_messages in polled})
        return True

    async def _update_lag(self) -> None:
        if not self._metrics:
            return
        lags = await self._call(self._lag_sync)
        gauge = self._metrics.consumer_lag
        for partition, lag in lags.items():
            gauge.labels(self.subscriber, self.topic, str(partition)).set(lag)
        for labels in list(self._lag_labels - set(lags)):
            # A revoked partition is another member's to report; a stale value here would double-count.
            gauge.remove(self.subscriber, self.topic, str(labels))
        self._lag_labels = set(lags)

    async def _sleep(self, stop: asyncio.Event, seconds: float) -> None:
        try:
            await asyncio.wait_for(stop.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _handle(self, message: Any, stop: asyncio.Event, failed: dict[str, int] | None = None) -> bool:
        """Apply one message exactly once in effect, or dead-letter it.

        Returns False only when asked to stop before the message was settled either way.
        """
        try:
            event = decode(message.headers, message.key, message.value, trust=self._trust)
        except PoisonEvent as exc:
            return await self._dead_letter(message, None, None, exc.reason, f"{exc}", attempts=1, stop=stop)
        except Exception as exc:  # anything else a malformed message provokes
            return await self._dead_letter(message, None, None, "not_a_cloudevent", f"{exc}", attempts=1, stop=stop)
        token = report_id_var.set(event.key)
        try:
            failed_attempts = (failed or {}).get(event.id, 0)
            outages = 0
            while True:
                try:
                    (outcome,) = await self._apply([(event, message)])
                    self._count(outcome)
                    return True
                except PoisonEvent as exc:
                    return await self._dead_letter(message, event.id, event.type, exc.reason, str(exc),
                                                   failed_attempts + 1, stop)
                except Exception as exc:
                    if is_transient(exc):
                        outages += 1
                        log.warning("infrastructure error; retrying", extra={"error": type(exc).__name__})
                        delay = self._backoff_s * 2 ** min(outages, 10)
                    else:
                        failed_attempts += 1
                        error = f"{type(exc).__name__}: {exc}"[:1000]
                        if failed_attempts >= self._max_attempts:
                            log.error("giving up on event", extra={"event_id": event.id, "error": error})
                            return await self._dead_letter(
                                message, event.id, event.type, HANDLER_FAILED, error, failed_attempts, stop)
                        log.warning("handler failed; retrying",
                                    extra={"attempt": failed_attempts, "error": error})
                        delay = self._backoff_s * 2 ** (failed_attempts - 1)
                    await self._sleep(stop, min(self._backoff_max_s, delay))
                    if stop.is_set():
                        return False
        finally:
            report_id_var.reset(token)

    async def _apply(self, items: list[tuple[ReceivedEvent, Any]], failed: dict[str, int] | None = None) -> list[str]:
        """Apply (event, message) pairs in one transaction: each event the inbox does not have yet
        (nor has an earlier pair) is handled and marked; the outcome of each, in order.

        A handler error that is the event's fault is noted in `failed` (event id -> 1) before it
        propagates and rolls everything back.
        """
        outcomes: list[str] = []
        async with self._uow_factory() as uow:
            seen = set(await uow.session.scalars(
                select(InboxMark.event_id).where(
                    InboxMark.subscriber == self.subscriber,
                    InboxMark.event_id.in_({event.id for event, _ in items}),
                )
            ))
            new: list[ReceivedEvent] = []
            for event, message in items:
                if event.id in seen:
                    outcomes.append("duplicate")
                    continue
                seen.add(event.id)
                new.append(event)
                uow.session.add(
                    InboxMark(
                        subscriber=self.subscriber, event_id=event.id, topic=message.topic,
                        partition=message.partition, offset=message.offset, outcome="applied",
                    )
                )
                outcomes.append("applied")
            if len(new) > 1 and self._handle_many is not None:
                # A failure here is nobody's in particular: the one-at-a-time retry finds whose.
                await self._handle_many(new, uow)
            else:
                for event in new:
                    token = report_id_var.set(event.key)
                    try:
                        await self._handler(event, uow)
                    except PoisonEvent:
                        raise
                    except Exception as exc:
                        if failed is not None and not is_transient(exc):
                            failed[event.id] = 1
                        raise
                    finally:
                        report_id_var.reset(token)
            crash_point("consumer.before_db_commit")
            await uow.commit()
        crash_point("consumer.after_db_commit")
        return outcomes

    async def _dead_letter(
        self, message: Any, event_id: str | None, event_type: str | None, reason: str, error: str, attempts: int,
        stop: asyncio.Event,
    ) -> bool:
        """Keep the event and its reason, and queue it for `<topic>.DLT`; retried until stored.

        An event that could not be decoded and trusted (no `event_id`) is kept by its place on the
        topic, not by the id it claims: a forged event must not take the id of a genuine one."""
        inbox_id = event_id or f"{message.topic}:{message.partition}:{message.offset}"
        headers = dead_letter_headers(message, subscriber=self.subscriber, reason=reason, error=error,
                                      attempts=attempts)
        while True:
            try:
                async with self._uow_factory() as uow:
                    seen = await uow.session.scalar(
                        select(InboxMark.event_id).where(
                            InboxMark.subscriber == self.subscriber, InboxMark.event_id == inbox_id
                        )
                    )
                    if seen is None:
                        uow.session.add_all([
                            InboxMark(subscriber=self.subscriber, event_id=inbox_id, topic=message.topic,
                                      partition=message.partition, offset=message.offset, outcome="dead_lettered"),
                            DeadLetter(subscriber=self.subscriber, event_id=inbox_id, event_type=event_type,
                                       topic=message.topic, partition=message.partition, offset=message.offset,
                                       attempts=attempts, reason=reason, error=error[:4000]),
                        ])
                        uow.add_outbox_messages([OutboxMessage(
                            event_id=f"dlt:{self.subscriber}:{inbox_id}", event_type=event_type or "unknown",
                            topic=dead_letter_topic(message.topic),
                            message_key=(message.key or b"").decode("utf-8", "replace")[:200],
                            headers=headers, payload=message.value or b"",
                        )])
                        await uow.commit()
                if self._metrics and seen is None:
                    self._metrics.dead_lettered.labels(self.subscriber, message.topic).inc()
                    if reason in TRUST_REASONS:
                        self._metrics.events_rejected.labels(self.subscriber, message.topic, reason).inc()
                log.error("event dead-lettered", extra={"event_id": inbox_id, "reason": reason, "error": error[:300]})
                return True
            except Exception as exc:
                log.warning("could not store dead letter; retrying", extra={"error": repr(exc)})
                await self._sleep(stop, self._backoff_max_s)
                if stop.is_set():
                    return False

    def _count(self, outcome: str) -> None:
        if self._metrics:
            self._metrics.events_consumed.labels(self.subscriber, self.topic, outcome).inc()
