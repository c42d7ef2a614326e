"""Unit of work: owns one transaction and writes the events raised in it to the outbox."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Unpack

from sqlalchemy import insert, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared import audit
from shared.db import utcnow
from shared.events import AuditAnchoredV1, EventData, encode
from shared.models import OutboxMessage
from shared.signing import ServiceKey
from shared.tracing import TraceContext, current_trace

# PostgreSQL channel on which a commit that wrote outbox rows wakes the relay. NOTIFY is scoped to
# one database and every service has its own, so one name serves every service.
OUTBOX_CHANNEL = "zm_outbox"


class UnitOfWork:
    """`async with uow:` opens a transaction that rolls back unless `commit()` is awaited.

    Events raised with `raise_event` become outbox rows in the same commit, so a state change
    and the news of it are stored together or not at all. They are signed with the service's key
    (`signer`) as they are written, so an outbox replay re-publishes the same signature; a unit of
    work without a signer writes unsigned events, which every consumer refuses.

    Each event carries the W3C trace context it was raised in (shared/tracing.py): the request's, or
    that of the event being applied; a unit of work running in neither (a sweeper's) starts a trace.
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

    def record_audit(self, **entry: Unpack[audit.AuditEntry]) -> None:
        """Record who did what; appended to the audit chain in this unit's commit, or not at all."""
        self._audit.append(entry)

    def anchor_audit(self) -> None:
        """Publish the audit chain's head with this commit (after an identity release, say), so the
        other services hold it before anyone could cut the record off."""
        self._anchor = True

    async def flush_events(self) -> list[str]:
        """Write the events raised so far as outbox rows (one statement for all); their event ids."""
        rows: list[dict[str, Any]] = []
        for data, key, subject, trace in self._pending:
            event_id, record = encode(data, key=key, source=self._source, subject=subject, signer=self._signer,
                                      trace=trace)
            rows.append({"event_id": event_id, "event_type": data.event_type, "topic": record.topic,
                         "message_key": record.key, "headers": record.headers, "payload": record.value})
        self._pending = []
        if rows:
            # Core, not ORM objects: a batch of submissions writes dozens at a time.
            await self.session.execute(insert(OutboxMessage), rows)
            self._wrote_outbox = True
        return [row["event_id"] for row in rows]

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
