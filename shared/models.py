"""Kernel tables every service database has: outbox, inbox, dead letters, audit trail, trace links."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UTCDateTime, new_metadata, utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a bigint identity.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class KernelBase(DeclarativeBase):
    metadata = new_metadata()


class OutboxMessage(KernelBase):
    """An event written in the same transaction as the state change; the relay publishes it."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    event_type: Mapped[str] = mapped_column(String(200))
    topic: Mapped[str] = mapped_column(String(249))
    message_key: Mapped[str] = mapped_column(String(200))
    headers: Mapped[dict[str, str]] = mapped_column(JSON)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    publish_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        Index(
            "ix_outbox_unsent",
            "id",
            postgresql_where=sent_at.is_(None),
            sqlite_where=sent_at.is_(None),
        ),
    )


class InboxMark(KernelBase):
    """One row per event a subscriber has applied; written in the same transaction as the effect."""

    __tablename__ = "inbox"

    subscriber: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    topic: Mapped[str] = mapped_column(String(249))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    outcome: Mapped[str] = mapped_column(String(20))  # applied | dead_lettered
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeadLetter(KernelBase):
    """An event a subscriber gave up on, kept here and sent to `<topic>.DLT` through the outbox."""

    __tablename__ = "dead_letters"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscriber: Mapped[str] = mapped_column(String(100))
    event_id: Mapped[str] = mapped_column(String(200))
    event_type: Mapped[str | None] = mapped_column(String(200), nullable=True)
    topic: Mapped[str] = mapped_column(String(249))
    partition: Mapped[int] = mapped_column(Integer)
    offset: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer)
    # not_a_cloudevent, signature_invalid, untrusted_source, type_not_allowed, unknown_type,
    # invalid_data, rejected_by_handler or handler_failed (shared.events)
    reason: Mapped[str] = mapped_column(String(40), default="handler_failed")
    error: Mapped[str] = mapped_column(Text)
    failed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditRecord(KernelBase):
    """One link of the tamper-evident audit chain: it carries the MAC of the one before (`prev_hash`)
    and its own (`hash`), made with the key `key_id` names (none: a plain SHA-256 link, older records)."""

    __tablename__ = "audit_records"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    seq: Mapped[int] = mapped_column(BigInteger, unique=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    object_type: Mapped[str] = mapped_column(String(100))
    object_id: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(40), nullable=True)


class AuditAnchor(KernelBase):
    """A chain head some service published (`audit.anchored.v1`), kept here, outside its database."""

    __tablename__ = "audit_anchors"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(200), unique=True)
    service: Mapped[str] = mapped_column(String(100))
    seq: Mapped[int] = mapped_column(BigInteger)
    head_mac: Mapped[str] = mapped_column(String(64))
    anchored_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (Index("ix_audit_anchors_service_seq", "service", "seq"),)


class TraceLink(KernelBase):
    """The trace a report's journey started with, as this service first saw it (the submission's
    request at intake, the first event about the report elsewhere): events about the report raised
    in another trace continue this one (shared/uow.py). Written once; the first wins."""

    __tablename__ = "trace_links"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # the events' key: the report id
    traceparent: Mapped[str] = mapped_column(String(55))  # W3C version 00, as we write it
    tracestate: Mapped[str | None] = mapped_column(String(512), nullable=True)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
