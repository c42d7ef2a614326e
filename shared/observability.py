"""Prometheus metrics per app, and the ASGI types the middleware shares (logs are in shared/logs.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """The metrics one service exposes at /metrics; a registry per app keeps test apps apart."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.request_latency = Histogram(
            "zm_http_request_duration_seconds", "HTTP request latency", ["service", "method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.outbox_backlog = Gauge(
            "zm_outbox_backlog", "Outbox rows not yet published", ["service"], registry=self.registry
        )
        self.outbox_published = Counter(
            "zm_outbox_published_total", "Outbox rows published", ["service"], registry=self.registry
        )
        self.consumer_lag = Gauge(
            "zm_consumer_lag", "Messages behind the end of the partition", ["service", "topic", "partition"],
            registry=self.registry,
        )
        self.events_consumed = Counter(
            "zm_events_consumed_total", "Events handled by outcome", ["service", "topic", "outcome"],
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "zm_dlt_events_total", "Events sent to a dead-letter topic", ["service", "topic"], registry=self.registry
        )
        self.events_rejected = Counter(
            "zm_events_rejected_total", "Events refused by the trust check (signature, source, type); dead-lettered",
            ["service", "topic", "reason"], registry=self.registry,
        )
        self.service = service


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
