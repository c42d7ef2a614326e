"""Outbox relay: publishes unsent outbox rows in order and marks them sent.

Only the relay talks to Kafka on the producing side. It reads rows in id order, sends them through
its publisher (shared/kafka_producer.py: the idempotent producer, `acks=all`), waits for every
acknowledgement, and only then marks them sent; a crash in between re-publishes them, which
consumers absorb through their inbox. On PostgreSQL a session advisory lock elects one active relay
per service, so two relays never interleave (which would break per-key order); the others wait as
hot standbys. The active relay also LISTENs on that connection for the `NOTIFY` a unit of work
sends with every commit that wrote outbox rows, so it publishes at once.

An idle relay reads nothing. Its own process's units of work wake it directly; rows written by other
processes wake it by `NOTIFY` on PostgreSQL, and on SQLite by a change of the database files
(checked every `poll_interval_s`, a `stat` away). Reading the outbox anyway every
`safety_interval_s` is the net under both; without either signal (PostgreSQL without LISTEN) the
relay reads every `poll_interval_s`, as it always did.

Per-key order also needs the rows of one key to be numbered in commit order: every transaction
that raises an event for a report first changes (and so locks) that report's row, and the
outbox rows are inserted at commit time, after those locks are held.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import zlib
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from shared.broker import PLAINTEXT, KafkaSecurity
from shared.db import session_factory, utcnow
from shared.faults import crash_point
from shared.kafka_producer import KafkaPublisher
from shared.models import OutboxMessage
from shared.observability import Metrics
from shared.uow import OUTBOX_CHANNEL

log = logging.getLogger("zhengming.relay")
_RELAY_LOCK_BASE = 7_245_100


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        *,
        bootstrap: str,
        service: str,
        metrics: Metrics | None = None,
        partitions: int = 3,
        batch_size: int = 200,
        poll_interval_s: float = 0.5,
        safety_interval_s: float = 10.0,
        linger_s: float = 0.01,
        wake: asyncio.Event | None = None,
        security: KafkaSecurity = PLAINTEXT,
    ) -> None:
        self._engine = engine
        self._sessions = session_factory(engine)
        self._leader: AsyncConnection | None = None
        self._listening = False  # the leader's connection hears the outbox channel
        self._service = service
        self._metrics = metrics
        self._batch_size = batch_size
        self._poll_interval_s = poll_interval_s
        self._safety_interval_s = max(safety_interval_s, poll_interval_s)
        # SQLite: the database's files, whose change shows a commit by another process.
        self._files = _database_files(engine)
        self._files_seen: object = None
        self.reads = 0  # reads of the outbox so far
        # Once woken, wait this long for more commits, so one round of reading, producing and
        # marking carries several rows rather than one: at a steady trickle that round, not the
        # rows, is most of the relay's CPU.
        self._linger_s = linger_s
        self._last_read = 0
        # Set by this process's units of work on commit, so a new event goes out at once; the
        # poll interval only bounds the delay for rows written by other processes.
        self._wake = wake or asyncio.Event()
        self._publisher = KafkaPublisher(bootstrap=bootstrap, client_id=f"{service}-relay", partitions=partitions,
                                         security=security)
        self._lock_key = _RELAY_LOCK_BASE + zlib.crc32(service.encode())

    async def _lead(self) -> bool:
        """On PostgreSQL, hold a session advisory lock so only one relay of this service publishes.

        The lock lives on a dedicated idle connection (no open transaction); if that connection
        dies, PostgreSQL releases the lock and another relay takes over.
        """
        if self._engine.dialect.name != "postgresql":
            return True  # SQLite is the single-machine setup: one relay per service
        if self._leader is not None:
            return True  # still alive? the outbox is read on this connection next, which tells
        conn = await self._engine.connect()
        try:
            # Autocommit: each read or mark of the outbox is one statement, one round trip, with no
            # BEGIN/COMMIT around it; and the connection never idles inside a transaction.
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            got = await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._lock_key})
            await conn.commit()
        except Exception:
            await conn.close()
            raise
        if got:
            # LISTEN before this relay's first read of the outbox: a row committed before it is in
            # that read, one committed after it notifies.
            await self._listen(conn)
            self._leader = conn
            log.info("relay is the active publisher for this service")
            return True
        await conn.close()
        return False

    async def _listen(self, conn: AsyncConnection) -> None:
        """Wake on the outbox channel; without it the relay still publishes, at its poll interval."""
        try:
            raw = await conn.get_raw_connection()
            driver = raw.driver_connection
            if driver is not None and hasattr(driver, "add_listener"):  # asyncpg
                await driver.add_listener(OUTBOX_CHANNEL, self._notified)
                self._listening = True
        except Exception as exc:
            log.warning("cannot LISTEN for outbox commits; polling only", extra={"error": repr(exc)})

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    async def _drop_leadership(self) -> None:
        self._listening = False
        if self._leader is not None:
            with contextlib.suppress(Exception):
                await self._leader.invalidate()
            with contextlib.suppress(Exception):
                await self._leader.close()
            self._leader = None

    async def publish_once(self) -> int:
        """Publish one batch of unsent rows; returns how many were marked sent.

        No transaction stays open while the broker is asked: rows are read in one short
        transaction and marked sent in another after the acknowledgements arrived.
        """
        if not await self._lead():
            return 0
        # Taken before the read: a commit after it changes the files again, and is seen next time.
        self._files_seen = self._files_now()
        self.reads += 1
        rows = await self._on_leader_connection(self._read_unsent)
        self._last_read = len(rows)
        if not rows:
            return 0
        acknowledged = await self._publisher.send([(topic, key, headers, payload)
                                                   for _, topic, key, headers, payload in rows])
        if acknowledged:
            crash_point("relay.after_publish")
            ids = [r[0] for r in rows[:acknowledged]]
            await self._on_leader_connection(self._mark_sent, ids)
            if self._metrics:
                self._metrics.outbox_published.labels(self._service).inc(acknowledged)
            # One line per batch, not per event: under load that is already a line every few
            # milliseconds. Each event is named (id, type, report, trace) by its consumers' lines.
            topics: dict[str, int] = {}
            for _, topic, *_ignored in rows[:acknowledged]:
                topics[topic] = topics.get(topic, 0) + 1
            log.info("outbox batch published", extra={
                "published": acknowledged, "left_unsent": len(rows) - acknowledged, "topics": topics})
        return acknowledged

    async def _on_leader_connection(self, work: Any, *args: Any) -> Any:
        """Run `work(connection, ...)`: one statement, committed when it returns.

        On PostgreSQL that is the leader's own (autocommit) connection: a pooled one would cost a
        checkout and a ping, and a failure here is also how a lost leadership (its connection
        gone) shows, after which this relay stands down until it holds the lock again.
        """
        if self._leader is None:
            async with self._engine.begin() as conn:
                return await work(conn, *args)
        try:
            result = await work(self._leader, *args)
            await self._leader.commit()
            return result
        except Exception:
            await self._drop_leadership()
            raise

    async def _read_unsent(self, conn: AsyncConnection) -> list[Any]:
        return list((await conn.execute(
            select(
                OutboxMessage.id, OutboxMessage.topic, OutboxMessage.message_key,
                OutboxMessage.headers, OutboxMessage.payload,
            )
            .where(OutboxMessage.sent_at.is_(None))
            .order_by(OutboxMessage.id)
            .limit(self._batch_size)
        )).all())

    async def _mark_sent(self, conn: AsyncConnection, ids: list[int]) -> None:
        await conn.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(sent_at=utcnow(), publish_count=OutboxMessage.publish_count + 1)
        )

    async def backlog(self) -> int:
        async with self._sessions() as session:
            return int(
                await session.scalar(select(func.count()).where(OutboxMessage.sent_at.is_(None))) or 0
            )

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until `stop` is set; backs off while the broker or database is away."""
        failures = 0
        while not stop.is_set():
            self._last_read = 0
            try:
                self._wake.clear()
                published = await self.publish_once()
                # The backlog gauge is counted in the table when scraped (shared/observability.py), not here.
                failures = 0
            except Exception:
                failures += 1
                log.exception("relay iteration failed")
                published = 0
            if published == 0 or published == self._last_read < self._batch_size:
                # Nothing to do, or everything unsent was published: the wake-up was cleared before
                # that read, so any commit since has set it again. Wait for one, not read again now.
                if failures:
                    await _first_of(stop, self._wake, timeout_s=min(5.0, 0.2 * 2**failures))
                else:
                    await self._wait_for_rows(stop)
                if self._wake.is_set() and self._linger_s > 0:
                    await _first_of(stop, timeout_s=self._linger_s)
        await self.close()

    async def _wait_for_rows(self, stop: asyncio.Event) -> None:
        """Until a commit may have written outbox rows: a wake-up (this process's units of work, or a
        NOTIFY), the database files changed (SQLite), or the safety interval passed. Without a way to
        hear of other processes' commits, one poll interval."""
        loop = asyncio.get_running_loop()
        if self._leader is not None and self._listening:
            await _first_of(stop, self._wake, timeout_s=self._safety_interval_s)
            return
        if self._files_seen is None:
            await _first_of(stop, self._wake, timeout_s=self._poll_interval_s)
            return
        until = loop.time() + self._safety_interval_s
        while not (stop.is_set() or self._wake.is_set()) and loop.time() < until:
            await _first_of(stop, self._wake, timeout_s=min(self._poll_interval_s, until - loop.time()))
            if self._files_now() != self._files_seen:
                return

    def _files_now(self) -> object:
        """What the database's files look like (size and modification time of each), or None where
        there are none to watch (PostgreSQL, an in-memory SQLite database)."""
        if not self._files:
            return None
        seen: list[tuple[int, int, int] | None] = []
        for path in self._files:
            try:
                st = os.stat(path)
            except FileNotFoundError:
                seen.append(None)
                continue
            seen.append((st.st_size, st.st_mtime_ns, st.st_ino))
        return tuple(seen)

    async def close(self) -> None:
        """Let go of the producer and of leadership (another relay takes over)."""
        await self._publisher.close()
        await self._drop_leadership()


def _database_files(engine: AsyncEngine) -> tuple[str, ...]:
    """A SQLite database's file and its write-ahead log; nothing for other databases."""
    if engine is None or engine.dialect.name != "sqlite":
        return ()
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return ()
    return (database, f"{database}-wal")


async def _first_of(*events: asyncio.Event, timeout_s: float) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()


async def mark_for_replay(
    session: AsyncSession,
    *,
    from_id: int | None = None,
    to_id: int | None = None,
    since: datetime | None = None,
) -> int:
    """Mark a range of sent rows unsent so the relay publishes them again, in order (and, on
    PostgreSQL, wake it when the caller commits)."""
    stmt = update(OutboxMessage).where(OutboxMessage.sent_at.is_not(None))
    if from_id is not None:
        stmt = stmt.where(OutboxMessage.id >= from_id)
    if to_id is not None:
        stmt = stmt.where(OutboxMessage.id <= to_id)
    if since is not None:
        stmt = stmt.where(OutboxMessage.created_at >= since)
    result = await session.execute(stmt.values(sent_at=None))
    marked = int(result.rowcount or 0)  # type: ignore[attr-defined]
    if marked and session.get_bind().dialect.name == "postgresql":
        await session.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
    return marked
