from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import UTCDateTime, new_metadata, utcnow


class Base(DeclarativeBase):
    metadata = new_metadata()


class Entry(Base):
    """One listing of one person for one final malicious verdict.

    The identity is kept encrypted (shared.crypto, the same scheme as intake); the person is
    matched only through `blind_index`. Dates are China-local calendar days, `listed_until`
    inclusive.
    """

    __tablename__ = "entries"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    report_id: Mapped[str] = mapped_column(String(36), index=True)
    case_id: Mapped[str] = mapped_column(String(36))
    verdict_id: Mapped[str] = mapped_column(String(36), unique=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    status: Mapped[str] = mapped_column(String(20))
    status_before_review: Mapped[str | None] = mapped_column(String(20), nullable=True)
    severity: Mapped[str] = mapped_column(String(20))
    reason_code: Mapped[str] = mapped_column(String(40))
    legal_basis_ref: Mapped[str] = mapped_column(String(200))
    legal_basis_text: Mapped[str] = mapped_column(Text)
    repeat_offender: Mapped[bool] = mapped_column(Boolean)
    publication: Mapped[str] = mapped_column(String(10))
    period_months: Mapped[int] = mapped_column(Integer)
    minimum_months: Mapped[int] = mapped_column(Integer)
    period_basis: Mapped[str] = mapped_column(String(200))
    # Protected data: ciphertexts only; never logged, never in events.
    name_enc: Mapped[str] = mapped_column(Text)
    id_number_enc: Mapped[str] = mapped_column(Text)
    phone_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    address_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    blind_index: Mapped[str] = mapped_column(String(64), index=True)
    notified_at: Mapped[datetime] = mapped_column(UTCDateTime)
    objection_deadline: Mapped[date] = mapped_column(Date)
    listed_from: Mapped[date | None] = mapped_column(Date, nullable=True)
    listed_until: Mapped[date | None] = mapped_column(Date, nullable=True)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    removal_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    removed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    removal_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    __table_args__ = (
        # The sweep finds what the date made due without scanning every entry.
        Index("ix_entries_status_objection_deadline", "status", "objection_deadline"),
        Index("ix_entries_status_listed_until", "status", "listed_until"),
    )


class Objection(Base):
    """The listed person's objection (异议), recorded by an officer, and its decision."""

    __tablename__ = "objections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), index=True)
    grounds: Mapped[str] = mapped_column(Text)
    received_on: Mapped[date] = mapped_column(Date)
    status_before: Mapped[str] = mapped_column(String(20))
    filed_by: Mapped[str] = mapped_column(String(200))
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decision: Mapped[str | None] = mapped_column(String(20), nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RemovalRequest(Base):
    """An officer's request to take an entry off the list early -- credit repair (信用修复) or
    revocation (撤销) -- with its reason, and another officer's decision with theirs. One table for
    both: they differ only in the rule checked and the status a granted request leaves the entry in."""

    __tablename__ = "removal_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("entries.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # repair | revocation
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(20))  # pending | granted | refused
    decision_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        # One request at a time per entry: decide it before asking for another.
        Index("uq_removal_requests_pending_entry", "entry_id", unique=True,
              postgresql_where=status == "pending", sqlite_where=status == "pending"),
        # The deciders' queue: pending repairs (or revocations), oldest first.
        Index("ix_removal_requests_kind_status_requested_at", "kind", "status", "requested_at"),
    )


class ReportVerdict(Base):
    """The newest verdict applied per report and what came of it: `listed`, `unidentified`
    (anonymous reporter: recorded, never listed) or `not_listed` (not malicious)."""

    __tablename__ = "report_verdicts"

    report_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(String(36))
    verdict_id: Mapped[str] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[str] = mapped_column(String(20))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    outcome: Mapped[str] = mapped_column(String(20), index=True)
    entry_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CheckGeneration(Base):
    """One row: a counter a trigger on `entries` moves on whenever a blind index comes to stand under
    an entry that may be listed (migration 0007), in the transaction that makes the change. The
    check's negative cache is current when it has seen the counter's latest value (lookup.py)."""

    __tablename__ = "check_generation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger)


class CheckListable(Base):
    """The blind index each generation of `check_generation` was moved on for (written by the trigger)."""

    __tablename__ = "check_listable"

    generation: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    blind_index: Mapped[str] = mapped_column(String(64))
