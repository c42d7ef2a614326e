"""A service's background work: the outbox relay, its event consumers, the audit anchorer and any
sweeper of its own, started with the process and stopped with it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from shared import anchors
from shared.inbox import BatchHandler, Handler, Inbox
from shared.runtime import Runtime

log = logging.getLogger("zhengming.app")


@dataclass(frozen=True)
class ConsumerSpec:
    """A topic this service consumes and the handler applied to each event."""

    topic: str
    handler: Handler
    handle_many: BatchHandler | None = None  # the same for several events in one unit of work
    subscriber_suffix: str = ""  # a consumer group of its own: `<service><suffix>`
    # The longest the broker holds an empty fetch once the topic has been quiet a while (see
    # shared/kafka_source.py): up to this much delay for the first event after a lull.
    idle_fetch_wait_ms: int = 1000


@dataclass(frozen=True)
class Sweeper:
    """A loop of the service's own that runs beside its consumers until the runtime stops."""

    name: str
    run: Callable[[], Awaitable[None]]


# Every service keeps the audit anchors the others publish (shared/anchors.py). They come every few
# minutes and no one waits for them, so an idle anchor consumer asks the broker rarely.
ANCHOR_CONSUMER = ConsumerSpec(topic=anchors.ANCHORS_TOPIC, handler=anchors.keep_anchor,
                               subscriber_suffix=anchors.ANCHOR_SUBSCRIBER_SUFFIX, idle_fetch_wait_ms=5000)


def start_workers(runtime: Runtime, consumers: Sequence[ConsumerSpec], sweepers: Sequence[Sweeper] = ()) -> None:
    """The relay in the `all` and `relay` roles; the consumers, the anchorer and the sweepers in the
    `all` and `consumer` roles (API replicas do no background work)."""
    s = runtime.settings

    def spawn(name: str, work: Awaitable[None]) -> None:
        runtime.tasks.append(asyncio.create_task(work, name=f"{s.service_name}-{name}"))  # type: ignore[arg-type]

    if s.run_relay and s.role in ("all", "relay"):
        from shared.relay import OutboxRelay  # with kafka-python, which API processes never load

        relay = OutboxRelay(
            runtime.engine, bootstrap=s.kafka_bootstrap, service=s.service_name, metrics=runtime.metrics,
            partitions=s.kafka_partitions, batch_size=s.relay_batch_size, poll_interval_s=s.relay_poll_interval_s,
            wake=runtime.outbox_written, security=runtime.kafka_security,
        )
        spawn("relay", relay.run(runtime.stop))
    if s.role in ("all", "consumer"):
        for sweeper in sweepers:
            spawn(sweeper.name, sweeper.run())
    topics: list[str] = []
    if s.run_consumer and s.role in ("all", "consumer"):
        from shared.consumer import EventConsumer, KafkaSource

        spawn("anchorer", anchors.run_anchorer(runtime))
        for spec in [*consumers, ANCHOR_CONSUMER]:
            topics.append(spec.topic)
            subscriber = f"{s.service_name}{spec.subscriber_suffix}"
            inbox = Inbox(subscriber=subscriber, topic=spec.topic, handler=spec.handler, handle_many=spec.handle_many,
                          uow_factory=runtime.uow, trust=runtime.trust, metrics=runtime.metrics,
                          max_attempts=s.consumer_max_attempts, backoff_s=s.consumer_backoff_s,
                          backoff_max_s=s.consumer_backoff_max_s)
            source = KafkaSource(subscriber=subscriber, topic=spec.topic, bootstrap=s.kafka_bootstrap,
                                 security=runtime.kafka_security, partitions=s.kafka_partitions,
                                 session_timeout_ms=s.consumer_session_timeout_ms,
                                 idle_fetch_wait_ms=spec.idle_fetch_wait_ms)
            consumer = EventConsumer(inbox, source, metrics=runtime.metrics, backoff_max_s=s.consumer_backoff_max_s)
            spawn("consumer", consumer.run(runtime.stop))
    log.info("background work started", extra={
        "role": s.role, "relay": bool(s.run_relay and s.role in ("all", "relay")), "consumes": topics,
        "sweepers": [sweeper.name for sweeper in sweepers] if s.role in ("all", "consumer") else []})


async def stop_workers(runtime: Runtime, timeout_s: float = 10.0) -> None:
    runtime.stop.set()
    if runtime.tasks:
        done, pending = await asyncio.wait(runtime.tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                log.error("worker ended with an error", extra={"worker": task.get_name()}, exc_info=task.exception())
