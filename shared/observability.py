"""Prometheus metrics per app, and the ASGI types the middleware shares (logs are in shared/logs.py).

One process (the usual case, and every test): a registry per app, so apps built side by side in one
process never share a count. Several API workers of one service (`zhengming run <service> --role api
--workers N`): prometheus_client's multiprocess mode, which the parent turns on by starting the
workers with PROMETHEUS_MULTIPROC_DIR set to a fresh directory (services/supervisor.py,
WorkerMetrics); each worker writes its values there, and /metrics on any worker answers for all.

Names follow Prometheus conventions: a unit suffix in the plural (`_seconds`, `_bytes`, `_events`,
`_messages`), `_total` on counters, `_info` on a constant 1 carrying labels.
"""

from __future__ import annotations

import asyncio
import copy
import functools
import glob
import importlib.metadata
import logging
import os
import re
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    values,
)
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.models import DeadLetter, OutboxMessage

log = logging.getLogger("zhengming.metrics")
# No `<name>_created` series beside every counter and histogram: in the text format each is one more
# gauge per label set, without a unit, and nothing here reads when a series began.
disable_created_metrics()

MULTIPROCESS_DIR_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"  # read by prometheus_client when it is imported
TABLE_READ_TIMEOUT_S = 2.0  # well inside Prometheus's default 10 s scrape timeout


def _version() -> str:
    try:
        return importlib.metadata.version("zhengming")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def multiprocess_directory() -> str | None:
    """The directory this process shares its metrics through, or None when it keeps them to itself.

    prometheus_client decides once, when it is imported, from PROMETHEUS_MULTIPROC_DIR; this answers
    what it decided, not what the variable says now.
    """
    if not getattr(values.ValueClass, "_multiprocess", False):
        return None
    return os.environ.get(MULTIPROCESS_DIR_VARIABLE)


class Metrics:
    """The metrics one service exposes at /metrics; a registry per app keeps test apps apart."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.registry = CollectorRegistry()
        self.request_latency = Histogram(
            "zm_http_request_duration_seconds", "HTTP request latency", ["service", "method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.outbox_published = Counter(
            "zm_outbox_published_total", "Outbox rows published", ["service"], registry=self.registry
        )
        # Each partition is reported by the one consumer holding it; livemax drops a stopped process's.
        self.consumer_lag = Gauge(
            "zm_consumer_lag_messages", "Messages behind the end of the partition", ["service", "topic", "partition"],
            registry=self.registry, multiprocess_mode="livemax",
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
        # A live gauge: under multiprocess mode its file is also how a worker is known to be running.
        self.build_info = Gauge(
            "zm_build_info", "1, labelled with the service and the running version", ["service", "version"],
            registry=self.registry, multiprocess_mode="livemax",
        )
        self.build_info.labels(service, _version()).set(1)
        self.backlogs = TableBacklogs(service)
        self.registry.register(self.backlogs)
        shared_dir = multiprocess_directory()
        if shared_dir is None:
            self.registry.register(_Labelled(ProcessCollector(registry=None), {"service": service}))
            PlatformCollector(registry=self.registry)
            self._scraped = self.registry
        else:
            # Every worker's values from the shared files; the registry above is not read (it holds
            # only this worker's, which the files already count).
            self._scraped = CollectorRegistry()
            MultiProcessCollector(self._scraped, path=shared_dir)
            self._scraped.register(WorkerProcesses(shared_dir, service))
            self._scraped.register(self.backlogs)
            PlatformCollector(registry=self._scraped)

    async def exposition(self, engine: AsyncEngine) -> bytes:
        """The text /metrics answers: every metric, with the backlogs read from `engine` now (left out,
        and the rest answered, when the database does not answer in time)."""
        await self.backlogs.read(engine)
        return generate_latest(self._scraped)


# A count a service reads from its own tables when scraped (intake's late acceptance notices, say).
TableCount = Callable[[AsyncConnection], Awaitable[int]]


class TableBacklogs(Collector):
    """Gauges read from the service's tables when scraped, so they survive a restart (a counter in
    memory starts again at 0) and agree between processes: unsent outbox rows, dead letters by
    subscriber, topic and reason, and the service's own (`count_when_scraped`)."""

    def __init__(self, service: str) -> None:
        self._service = service
        self._outbox: int | None = None
        self._dead_letters: list[tuple[str, str, str, int]] = []
        self._counts: dict[str, tuple[str, TableCount]] = {}
        self._counted: dict[str, int] = {}
        self._failing = False

    def count_when_scraped(self, name: str, documentation: str, count: TableCount) -> None:
        """Report `name`, a gauge labelled with the service, as `count` finds it in the tables at each
        scrape (left out with the backlogs while the database does not answer)."""
        self._counts[name] = (documentation, count)

    async def read(self, engine: AsyncEngine) -> None:
        """Count the rows now; on failure or timeout the gauges are left out until a read succeeds.
        The first failure is logged, not every scrape of an outage."""
        try:
            self._outbox, self._dead_letters, self._counted = await asyncio.wait_for(
                self._count(engine), TABLE_READ_TIMEOUT_S)
        except Exception as exc:
            self._outbox, self._dead_letters, self._counted = None, [], {}
            if not self._failing:
                log.warning("metrics: cannot read the outbox and dead-letter backlogs; left out until the "
                            "database answers", extra={"error": type(exc).__name__, "detail": str(exc)[:200]})
            self._failing = True
            return
        if self._failing:
            log.info("metrics: the outbox and dead-letter backlogs are read again")
        self._failing = False

    async def _count(self, engine: AsyncEngine) -> tuple[int, list[tuple[str, str, str, int]], dict[str, int]]:
        async with engine.connect() as conn:
            # Served by the partial index on unsent rows (ix_outbox_unsent); dead letters are few.
            unsent = await conn.scalar(
                select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None)))
            grouped = (await conn.execute(
                select(DeadLetter.subscriber, DeadLetter.topic, DeadLetter.reason, func.count())
                .group_by(DeadLetter.subscriber, DeadLetter.topic, DeadLetter.reason))).all()
            counted = {name: int(await count(conn)) for name, (_, count) in self._counts.items()}
        return int(unsent or 0), [(s, t, r, int(n)) for s, t, r, n in grouped], counted

    def describe(self) -> Iterable[Metric]:
        return self._families(include_values=False)

    def collect(self) -> Iterable[Metric]:
        return self._families(include_values=True)

    def _families(self, *, include_values: bool) -> list[Metric]:
        outbox = GaugeMetricFamily("zm_outbox_backlog_events", "Outbox rows not yet published, counted in the "
                                   "table when scraped", labels=["service"])
        dead = GaugeMetricFamily("zm_dead_letter_backlog_events", "Dead letters kept in the table (service is "
                                 "the subscriber), counted when scraped", labels=["service", "topic", "reason"])
        own = {name: GaugeMetricFamily(name, documentation, labels=["service"])
               for name, (documentation, _) in self._counts.items()}
        if include_values:
            if self._outbox is None:
                return []  # the database did not answer: no value rather than a stale one
            outbox.add_metric([self._service], self._outbox)
            for subscriber, topic, reason, count in self._dead_letters:
                dead.add_metric([subscriber, topic, reason], count)
            for name, family in own.items():
                if name in self._counted:  # registered since the last read: no value yet, rather than 0
                    family.add_metric([self._service], self._counted[name])
        return [outbox, dead, *own.values()]


class _Labelled(Collector):
    """Another collector's metrics with labels added (the process collector has none of its own)."""

    def __init__(self, collector: Collector, labels: dict[str, str]) -> None:
        self._collector = collector
        self._labels = labels

    def collect(self) -> Iterable[Metric]:
        return [_with_labels(family, self._labels) for family in self._collector.collect()]


def _with_labels(family: Metric, labels: dict[str, str]) -> Metric:
    labelled = copy.copy(family)
    labelled.samples = [sample._replace(labels={**labels, **sample.labels}) for sample in family.samples]
    return labelled


class WorkerProcesses(Collector):
    """CPU, memory, file descriptors and start time of every running worker sharing `directory`,
    each labelled with its pid: whichever worker answers the scrape, all are reported, and one
    worker's CPU counter never follows another's."""

    _LIVE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db$")

    def __init__(self, directory: str, service: str) -> None:
        self._directory = directory
        self._service = service
        self._collectors: dict[int, ProcessCollector] = {}

    def running(self) -> list[int]:
        """The workers with live gauge files (the parent removes them when a worker exits) and a process."""
        pids = {int(m.group(1)) for path in glob.glob(os.path.join(self._directory, "gauge_live*_*.db"))
                if (m := self._LIVE_FILE.search(path))}
        return sorted(pid for pid in pids if os.path.exists(f"/proc/{pid}"))

    def collect(self) -> Iterable[Metric]:
        pids = self.running()
        for gone in set(self._collectors) - set(pids):
            del self._collectors[gone]
        merged: dict[str, Metric] = {}
        for pid in pids:
            collector = self._collectors.get(pid)
            if collector is None:
                collector = self._collectors[pid] = ProcessCollector(pid=functools.partial(int, pid), registry=None)
            for family in collector.collect():
                labelled = _with_labels(family, {"service": self._service, "pid": str(pid)})
                if family.name in merged:
                    merged[family.name].samples.extend(labelled.samples)
                else:
                    merged[family.name] = labelled
        return list(merged.values())


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
