"""The inbox: what a subscriber does with the messages it is given, knowing nothing of the broker.

Each message is decoded and its signature checked against the trust map. An event the inbox
already has (subscriber, event id) is skipped; any other is applied by the handler, and its inbox
mark written, in one transaction. Handler errors are retried with backoff a bounded number of
times and then dead-lettered: kept in `dead_letters` and queued for `<topic>.DLT` through the
outbox (the relay publishes it, as it does every event) with provenance headers. Infrastructure
outages (database or network away) are retried until they pass, never dead-lettered: the event is
not at fault. Committing the broker's offsets is the caller's business, after these return.

An event is applied in its own logging and tracing context: its id and type, its report, a child
span of the trace it carries (a new trace if it carries none; the events its handler raises continue
it), the request that trace started from and the one that took the step that raised it
(`by_request_id`, when another) are on every line logged meanwhile. Each event applied, skipped as a
duplicate, retried or dead-lettered is logged at INFO or above with them. The first event applied
about a report is remembered as the trace its journey started with (`trace_links`, in the same
transaction as its effect), so events this service later raises about the report, outside any
event, continue it (shared/uow.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import cast

import structlog
from sqlalchemy import select

from shared.db import is_transient, utcnow
from shared.events import (
    HANDLER_FAILED,
    NOT_A_CLOUDEVENT,
    TRUST_REASONS,
    PoisonEvent,
    ReceivedEvent,
    dead_letter_topic,
    decode,
)
from shared.faults import crash_point
from shared.logs import report_id_var
from shared.models import DeadLetter, InboxMark, OutboxMessage
from shared.observability import Metrics
from shared.signing import EventTrust
from shared.tracing import TraceContext, request_id, trace_context
from shared.uow import UnitOfWork

log = logging.getLogger("zhengming.consumer")

Handler = Callable[[ReceivedEvent, UnitOfWork], Awaitable[None]]
# Optional: applies the events of one poll (each partition's in order) in the same unit of work --
# as the handler would one after the other, in fewer queries. Used when a poll brings several.
BatchHandler = Callable[[list[ReceivedEvent], UnitOfWork], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Message:
    """One message as the broker delivered it. A header's value may be None (Java clients send
    null headers)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: list[tuple[str, bytes | None]]
    value: bytes | None


def dead_letter_headers(message: Message, *, subscriber: str, reason: str, error: str, attempts: int) -> dict[str, str]:
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


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less if `stop` is set meanwhile."""
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass


def span_of(event: ReceivedEvent) -> TraceContext:
    """The span applying `event` runs in: a child of the one that raised it, or a new trace."""
    return event.trace.child() if event.trace is not None else TraceContext.new()


def report_of(event: ReceivedEvent) -> str | None:
    """The report an event is about (`decode` has checked it is also the event's subject)."""
    report_id = getattr(event.data, "report_id", None)
    return report_id if isinstance(report_id, str) else None


@contextlib.contextmanager
def applying(event: ReceivedEvent, span: TraceContext) -> Iterator[None]:
    """Log lines and raised events, meanwhile, are `event`'s: its ids on every line, `span` the trace
    context of the events raised, the request the trace started from as the request id."""
    tokens = (report_id_var.set(report_of(event)), trace_context.set(span), request_id.set(span.request_id))
    step = {"by_request_id": span.by_request_id} if span.by_request_id else {}
    try:
        with structlog.contextvars.bound_contextvars(event_id=event.id, event_type=event.type, **step):
            yield
    finally:
        report_var_token, trace_token, request_token = tokens
        request_id.reset(request_token)
        trace_context.reset(trace_token)
        report_id_var.reset(report_var_token)


def _decode(message: Message, trust: EventTrust) -> ReceivedEvent:
    # A null header value is refused by `decode` like any other malformed header.
    headers = cast(list[tuple[str, bytes]], message.headers)
    return decode(headers, message.key, message.value, trust=trust)


class Inbox:
    """One subscriber's inbox for one topic: applies each event once in effect, or dead-letters it."""

    def __init__(
        self,
        *,
        subscriber: str,
        topic: str,
        handler: Handler,
        uow_factory: Callable[[], UnitOfWork],
        trust: EventTrust,
        metrics: Metrics | None = None,
        max_attempts: int = 5,
        backoff_s: float = 0.2,
        backoff_max_s: float = 5.0,
        handle_many: BatchHandler | None = None,
    ) -> None:
        self.subscriber = subscriber
        self.topic = topic
        self._handler = handler
        self._handle_many = handle_many
        self._uow_factory = uow_factory
        self._trust = trust
        self._metrics = metrics
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s

    async def apply_together(self, messages: list[Message], failed: dict[str, int]) -> bool:
        """Apply `messages` (each partition's in order) in one transaction; False if that failed
        and nothing of it was kept, and they are to be given to `handle` one at a time. A handler
        error that is the event's fault counts as that event's first attempt (noted in `failed`),
        so the one-at-a-time retries stay within `max_attempts`."""
        try:
            events = [_decode(m, self._trust) for m in messages]
        except Exception:
            return False  # a poison event among them: one at a time, so it alone is dead-lettered
        spans = {event.id: span_of(event) for event in events}
        try:
            outcomes = await self._apply(list(zip(events, messages, strict=True)), spans, failed)
        except Exception as exc:
            log.info("batch not applied together; one event at a time",
                     extra={"events": len(messages), "error": type(exc).__name__})
            return False
        for event, message, outcome in zip(events, messages, outcomes, strict=True):
            with applying(event, spans[event.id]):
                self._settled(message, outcome)
        return True

    async def handle(self, message: Message, stop: asyncio.Event, failed: dict[str, int] | None = None) -> bool:
        """Apply one message exactly once in effect, or dead-letter it; `failed` holds the attempts
        `apply_together` already spent on an event.

        Returns False only when asked to stop before the message was settled either way.
        """
        try:
            event = _decode(message, self._trust)
        except PoisonEvent as exc:
            return await self._dead_letter(message, None, None, exc.reason, f"{exc}", attempts=1, stop=stop)
        except Exception as exc:  # anything else a malformed message provokes
            return await self._dead_letter(message, None, None, NOT_A_CLOUDEVENT, f"{exc}", attempts=1, stop=stop)
        span = span_of(event)
        with applying(event, span):
            failed_attempts = (failed or {}).get(event.id, 0)
            outages = 0
            while True:
                try:
                    (outcome,) = await self._apply([(event, message)], {event.id: span})
                    self._settled(message, outcome)
                    return True
                except PoisonEvent as exc:
                    return await self._dead_letter(message, event.id, event.type, exc.reason, str(exc),
                                                   failed_attempts + 1, stop)
                except Exception as exc:
                    if is_transient(exc):
                        outages += 1
                        log.warning("infrastructure error; retrying", extra={
                            "error": type(exc).__name__, "outages": outages, **self._where(message)})
                        delay = self._backoff_s * 2 ** min(outages, 10)
                    else:
                        failed_attempts += 1
                        error = f"{type(exc).__name__}: {exc}"[:1000]
                        if failed_attempts >= self._max_attempts:
                            return await self._dead_letter(
                                message, event.id, event.type, HANDLER_FAILED, error, failed_attempts, stop)
                        log.warning("event failed; retrying", extra={
                            "attempt": failed_attempts, "max_attempts": self._max_attempts, "reason": HANDLER_FAILED,
                            "error": error[:300], **self._where(message)})
                        delay = self._backoff_s * 2 ** (failed_attempts - 1)
                    await pause(stop, min(self._backoff_max_s, delay))
                    if stop.is_set():
                        return False

    async def _apply(
        self, items: list[tuple[ReceivedEvent, Message]], spans: dict[str, TraceContext],
        failed: dict[str, int] | None = None,
    ) -> list[str]:
        """Apply (event, message) pairs in one transaction: each event the inbox does not have yet
        (nor has an earlier pair) is handled, in its span (`spans` by event id), and marked; the
        outcome of each, in order.

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
                # A report's journey started with the first event about it this service applies (the
                # first remembered wins). A trace a neighbour forged regroups lines; it changes no effect.
                if (report := report_of(event)) is not None:
                    uow.remember_traces({report: event.trace or spans[event.id]})
            if len(new) > 1 and self._handle_many is not None:
                # Each report's events raised by the batch continue the trace of its consumed event.
                uow.continue_traces({report: spans[event.id] for event in new
                                     if (report := report_of(event) or event.key) is not None})
                # A failure here is nobody's in particular: the one-at-a-time retry finds whose.
                await self._handle_many(new, uow)
            else:
                for event in new:
                    with applying(event, spans[event.id]):
                        # What it raises about its report continues its own trace, as it is applied.
                        if (report := report_of(event) or event.key) is not None:
                            uow.continue_traces({report: spans[event.id]})
                        await self._handle_one(event, uow, failed)
            crash_point("consumer.before_db_commit")
            await uow.commit()
        crash_point("consumer.after_db_commit")
        return outcomes

    async def _handle_one(self, event: ReceivedEvent, uow: UnitOfWork, failed: dict[str, int] | None) -> None:
        try:
            await self._handler(event, uow)
        except PoisonEvent:
            raise
        except Exception as exc:
            if failed is not None and not is_transient(exc):
                failed[event.id] = 1
            raise

    async def _dead_letter(
        self, message: Message, event_id: str | None, event_type: str | None, reason: str, error: str, attempts: int,
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
                # An event refused before it was trusted is named by its place on the topic only: what it
                # claims (its id, type, report, trace) is not to be believed, nor repeated in the log.
                log.error("event dead-lettered", extra={
                    "event_id": inbox_id, "event_type": event_type, "reason": reason, "attempts": attempts,
                    "error": error[:300], "already": seen is not None, **self._where(message)})
                return True
            except Exception as exc:
                log.warning("could not store dead letter; retrying", extra={"error": repr(exc)})
                await pause(stop, self._backoff_max_s)
                if stop.is_set():
                    return False

    def _settled(self, message: Message, outcome: str) -> None:
        """Count and log an event's outcome, in its context: applied, or a duplicate skipped."""
        self._count(outcome)
        if log.isEnabledFor(logging.INFO):
            log.info("event applied" if outcome == "applied" else "event already applied; skipped",
                     extra=self._where(message))

    def _where(self, message: Message) -> dict[str, object]:
        return {"subscriber": self.subscriber, "topic": message.topic, "partition": message.partition,
                "offset": message.offset}

    def _count(self, outcome: str) -> None:
        if self._metrics:
            self._metrics.events_consumed.labels(self.subscriber, self.topic, outcome).inc()
