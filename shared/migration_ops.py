"""Frozen migration steps for the kernel tables, called from each service's first revision.

Never change a function here once released: add a new `*_v2` step instead, so old revisions
keep meaning what they meant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def create_kernel_tables_v1() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("message_key", sa.String(200), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("publish_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        sa.UniqueConstraint("event_id", name="uq_outbox_event_id"),
    )
    op.create_index(
        "ix_outbox_unsent", "outbox", ["id"],
        postgresql_where=sa.text("sent_at IS NULL"), sqlite_where=sa.text("sent_at IS NULL"),
    )
    op.create_table(
        "inbox",
        sa.Column("subscriber", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("subscriber", "event_id", name="pk_inbox"),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("subscriber", sa.String(100), nullable=False),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=True),
        sa.Column("topic", sa.String(249), nullable=False),
        sa.Column("partition", sa.Integer(), nullable=False),
        sa.Column("offset", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("failed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_dead_letters"),
    )
    op.create_table(
        "audit_records",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("object_type", sa.String(100), nullable=False),
        sa.Column("object_id", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_records"),
        sa.UniqueConstraint("seq", name="uq_audit_records_seq"),
    )


def add_dead_letter_reason_v2() -> None:
    """Why each dead letter was given up, as a code (earlier rows: `handler_failed`)."""
    with op.batch_alter_table("dead_letters") as batch:
        batch.add_column(sa.Column("reason", sa.String(40), nullable=False, server_default="handler_failed"))
    with op.batch_alter_table("dead_letters") as batch:
        batch.alter_column("reason", server_default=None)


def drop_dead_letter_reason_v2() -> None:
    with op.batch_alter_table("dead_letters") as batch:
        batch.drop_column("reason")


def add_audit_macs_and_anchors_v3() -> None:
    """Audit records name the MAC key that sealed them; anchors other services published are kept."""
    with op.batch_alter_table("audit_records") as batch:
        batch.add_column(sa.Column("key_id", sa.String(40), nullable=True))
    op.create_table(
        "audit_anchors",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(200), nullable=False),
        sa.Column("service", sa.String(100), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head_mac", sa.String(64), nullable=False),
        sa.Column("anchored_at", UTCDateTime(), nullable=False),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_anchors"),
        sa.UniqueConstraint("event_id", name="uq_audit_anchors_event_id"),
    )
    op.create_index("ix_audit_anchors_service_seq", "audit_anchors", ["service", "seq"])


def drop_audit_macs_and_anchors_v3() -> None:
    op.drop_table("audit_anchors")
    with op.batch_alter_table("audit_records") as batch:
        batch.drop_column("key_id")


def create_trace_links_v4() -> None:
    """The trace each report's journey started with, as the service first saw it (#19, item 3)."""
    op.create_table(
        "trace_links",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("traceparent", sa.String(55), nullable=False),
        sa.Column("tracestate", sa.String(512), nullable=True),
        sa.Column("first_seen_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_trace_links"),
    )


def drop_trace_links_v4() -> None:
    op.drop_table("trace_links")
