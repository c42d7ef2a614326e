"""Unit of work: owns one transaction and writes the events raised in it to the outbox."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Unpack

from sqlalchemy import insert, select, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import audit
from shared.db import utcnow
from shared.events import AuditAnchoredV1, EventData, encode
from shared.models import OutboxMessage, TraceLink
from shared.signing import ServiceKey
from shared.tracing import TraceContext, current_trace

# PostgreSQL channel on which a commit that wrote outbox rows wakes the relay. NOTIFY is scoped to
# one database and every service has its own, so one name serves every service.
OUTBOX_CHANNEL = "zm_outbox"
# The first trace remembered for a report wins: one already there (an earlier event, another consumer)
# is left as it is. Core statements on the table, built once: the ORM's bulk insert took half as long again
# (about 0.7 ms against 0.45 ms a statement, measured on SQLite and PostgreSQL), on the submission path.
_REMEMBER_LINKS = {
    name: insert_(TraceLink.metadata.tables[TraceLink.__tablename__]).on_conflict_do_nothing(index_elements=["key"])
    for name, insert_ in (("postgresql", postgresql_insert), ("sqlite", sqlite_insert))
}


class UnitOfWork:
    """`async with uow:` opens a transaction that rolls back unless `commit()` is awaited.

    Events raised with `raise_event` become outbox rows in the same commit, so a state change
    and the news of it are stored together or not at all. They are signed with the service's key
    (`signer`) as they are written, so an outbox replay re-publishes the same signature; a unit of
    work without a signer writes unsigned events, which every consumer refuses.

    Each event carries the W3C trace context it was raised in (shared/tracing.py): the request's, or
    that of the event being applied; a unit of work running in neither (a sweeper's) starts a trace.
    But an event about a report whose journey this service remembers (`trace_links`: the trace the
    report first came with, `remember_traces`) is raised in a new span of that trace instead, naming
    the request that raised it as the one that took the step: an officer's verdict continues the
    submission's trace, so every service's lines about the report share one trace and origin request.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        source: str | None = None,
        signer: ServiceKey | None = None,
        audit_keys: audit.AuditKeys | None = None,
        on_events_committed: Callable[[], None] | None = None,
    ) -> None:
        if source is None and signer is None:
            raise ValueError("a unit of work needs the service's signing key (or, unsigned, a source)")
        self._sessions = sessions
        self._signer = signer
        self._audit_keys = audit_keys
        self._anchor = False
        self._source = signer.source if signer is not None else str(source)
        self._on_events_committed = on_events_committed
        self._pending: list[tuple[EventData, str, str | None, TraceContext]] = []
        self._traces: dict[str, TraceContext] = {}
        self._own_trace: TraceContext | None = None
        self._links: dict[str, TraceContext | None] = {}  # a report's remembered trace, once read (None: none)
        self._new_links: dict[str, TraceContext] = {}  # to remember with this commit, unless one is already
        self._audit: list[audit.AuditEntry] = []
        self._session: AsyncSession | None = None
        self._wrote_outbox = False
        self.committed = False

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            raise RuntimeError("unit of work used outside `async with`")
        return self._session

    async def __aenter__(self) -> UnitOfWork:
        self._session = self._sessions()
        self._pending = []
        self._traces = {}
        self._own_trace = None
        self._links = {}
        self._new_links = {}
        self._audit = []
        self._anchor = False
        self._wrote_outbox = False
        self.committed = False
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        session = self.session
        try:
            if not self.committed:
                await session.rollback()
        finally:
            await session.close()
            self._session = None

    def raise_event(self, data: EventData, *, key: str, subject: str | None = None) -> None:
        """Record that `data` happened; it is published only if this unit of work commits, with the
        trace context of the moment it was raised."""
        trace = self._traces.get(key) or current_trace()
        if trace is None:
            if self._own_trace is None:
                self._own_trace = TraceContext.new()
            trace = self._own_trace
        self._pending.append((data, key, subject, trace))

    def continue_traces(self, by_key: Mapping[str, TraceContext]) -> None:
        """Events raised from now on for a key in `by_key` continue that trace, whatever context they
        are raised in: several consumed events applied by one handler call in one unit of work."""
        self._traces.update(by_key)

    def remember_traces(self, by_key: Mapping[str, TraceContext]) -> None:
        """Each key's journey (a report's) started with its trace, unless this service remembers one
        already: the first remembered wins, and is never replaced. Written with this unit's commit, in
        one statement, or not at all."""
        for key, trace in by_key.items():
            self._new_links.setdefault(key, trace.origin)

    def record_audit(self, **entry: Unpack[audit.AuditEntry]) -> None:
        """Record who did what; appended to the audit chain in this unit's commit, or not at all."""
        self._audit.append(entry)

    def anchor_audit(self) -> None:
        """Publish the audit chain's head with this commit (after an identity release, say), so the
        other services hold it before anyone could cut the record off."""
        self._anchor = True

    async def flush_events(self) -> list[str]:
        """Write the events raised so far as outbox rows (one statement for all), each in its report's
        remembered trace when it was raised in another, and the traces to remember; their event ids."""
        await self._read_links()
        rows: list[dict[str, Any]] = []
        for data, key, subject, trace in self._pending:
            if key not in self._traces and (link := self._links.get(key)) is not None \
                    and link.trace_id != trace.trace_id:
                trace = link.step(by_request_id=trace.by_request_id or trace.request_id)
            event_id, record = encode(data, key=key, source=self._source, subject=subject, signer=self._signer,
                                      trace=trace)
            rows.append({"event_id": event_id, "event_type": data.event_type, "topic": record.topic,
                         "message_key": record.key, "headers": record.headers, "payload": record.value})
        self._pending = []
        if rows:
            # Core, not ORM objects: a batch of submissions writes dozens at a time.
            await self.session.execute(insert(OutboxMessage), rows)
            self._wrote_outbox = True
        await self._write_links()
        return [row["event_id"] for row in rows]

    async def _read_links(self) -> None:
        """The remembered traces of the reports the pending events are about, in one query; none for
        a key whose trace was given (`continue_traces`: a consumed event's, a submission's) or for an
        event about no report (an audit anchor)."""
        keys = {key for data, key, _, _ in self._pending
                if key not in self._traces and key not in self._links and getattr(data, "report_id", None) == key}
        if not keys:
            return
        found = {link.key: TraceContext.parse(link.traceparent, link.tracestate)
                 for link in await self.session.scalars(select(TraceLink).where(TraceLink.key.in_(sorted(keys))))}
        for key in keys:
            self._links[key] = found.get(key) or self._new_links.get(key)

    async def _write_links(self) -> None:
        if not self._new_links:
            return
        now = utcnow()
        rows = [{"key": key, "traceparent": trace.traceparent, "tracestate": trace.tracestate, "first_seen_at": now}
                for key, trace in self._new_links.items()]
        self._new_links = {}
        dialect = self.session.get_bind().dialect.name
        await self.session.execute(_REMEMBER_LINKS["postgresql" if dialect == "postgresql" else "sqlite"], rows)

    def add_outbox_messages(self, rows: list[OutboxMessage]) -> None:
        """Add ready-made outbox rows (a dead letter's copy, say) to this unit's commit."""
        if rows:
            self.session.add_all(rows)
            self._wrote_outbox = True

    async def commit(self) -> None:
        """Commit the change, its outbox rows and its audit records; then wake the relay.

        On PostgreSQL a `NOTIFY` joins the transaction when outbox rows were written: it is
        delivered only if, and when, the commit succeeds, so a relay in another process publishes
        at once instead of at its next poll.
        """
        await self.flush_events()
        postgresql = self.session.get_bind().dialect.name == "postgresql"
        if self._wrote_outbox and postgresql:
            # Before the audit records: the audit chain lock serializes every audited commit of the
            # service, so nothing that can go before it may lengthen the time it is held.
            await self.session.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
        # Audit last: its chain lock is then taken after every row lock of the change and held
        # only until this commit, so it cannot deadlock with another unit of work.
        last = None
        if self._audit and self._audit_keys is None:
            raise RuntimeError("this unit of work records audit entries but has no audit keys")
        for entry in self._audit:
            assert self._audit_keys is not None
            last = await audit.append(self.session, keys=self._audit_keys, **entry)
        self._audit = []
        if self._anchor and last is not None and self._signer is not None:
            notified = self._wrote_outbox
            self.raise_event(AuditAnchoredV1(service=self._signer.service, seq=last.seq, head_mac=last.hash,
                                             anchored_at=utcnow()), key=self._signer.service)
            await self.flush_events()
            if postgresql and not notified:
                await self.session.execute(text(f"NOTIFY {OUTBOX_CHANNEL}"))
        await self.session.commit()
        self.committed = True
        if self._wrote_outbox and self._on_events_committed is not None:
            self._on_events_committed()
