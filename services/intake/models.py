from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import UTCDateTime, new_metadata, utcnow


class Base(DeclarativeBase):
    metadata = new_metadata()


class Report(Base):
    __tablename__ = "reports"
    # The acceptance notices still owed, by due date: the overdue list and its gauge (conversation, #20).
    __table_args__ = (Index("ix_reports_acceptance_notice_pending", "acceptance_notice_at", "acceptance_notice_due"),
                      # The concluded reports by conclusion, whose retention period may have ended (retention.py);
                      # partial, so a new report (never concluded) does not enter it.
                      Index("ix_reports_retention", "concluded_at", "id",
                            postgresql_where=text("concluded_at IS NOT NULL"),
                            sqlite_where=text("concluded_at IS NOT NULL")),
                      # Looked up by equality only (the repeat check): on PostgreSQL a hash index, a third
                      # of a b-tree's size, whose pages stay cached as reports accumulate.
                      Index("ix_reports_subject_key", "subject_key", postgresql_using="hash"),
                      # The flagged reports in the officers' list order; an unflagged report does not enter it.
                      Index("ix_reports_flagged", "received_at", "id", postgresql_where=text("flagged"),
                            sqlite_where=text("flagged")))

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20))
    subject_name: Mapped[str] = mapped_column(String(100))
    subject_position: Mapped[str] = mapped_column(String(100))
    subject_organization: Mapped[str] = mapped_column(String(200))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    status: Mapped[str] = mapped_column(String(20))
    anonymous: Mapped[bool] = mapped_column(Boolean)
    # Protected data: ciphertexts only (see shared.crypto); never logged, never in events.
    reporter_name_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    reporter_id_number_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    reporter_phone_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    reporter_address_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Not indexed: no query of intake's looks reports up by it (the repeat check compares it in memory).
    reporter_blind_index: Mapped[str | None] = mapped_column(String(64), nullable=True)
    receipt_code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    external_ref: Mapped[str | None] = mapped_column(String(100), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    submitted_by: Mapped[str] = mapped_column(String(200), default="")
    # Repeat and duplicate detection (see domain.py) compares a report only with earlier reports
    # about the same subject, found through this indexed key: never a scan of all reports.
    subject_key: Mapped[str] = mapped_column(String(64), default="")
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)  # see ix_reports_flagged
    linked_report_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    acceptance_notice_due: Mapped[date | None] = mapped_column(Date, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    verdict_version: Mapped[int] = mapped_column(Integer, default=0)
    concluded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The newest final verdict as a verified (signed) report.verified.v1 told it: what identity
    # custody releases the reporter to credit_blacklist on.
    verdict_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    verdict_approved_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    verdict_approver_level: Mapped[str | None] = mapped_column(String(20), nullable=True)
    # The newest final verdict's fault-tolerance exemption: a result notice says the official was cleared.
    fault_tolerance_exempted: Mapped[bool] = mapped_column(Boolean, default=False)
    # When the acceptance notice (受理告知) was posted to the reporter's conversation (notices.py).
    acceptance_notice_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When the retention period after the conclusion ended and the reporter's identity (and the blind index),
    # the evidence files' bytes and the messages' texts were purged (retention.py); the rest stays.
    personal_data_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    allegations: Mapped[list[Allegation]] = relationship(
        back_populates="report", lazy="raise", order_by="Allegation.position", cascade="all, delete-orphan"
    )


class Allegation(Base):
    __tablename__ = "allegations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text)
    occurred_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    place: Mapped[str | None] = mapped_column(String(200), nullable=True)

    report: Mapped[Report] = relationship(back_populates="allegations", lazy="raise")


class IdempotencyRecord(Base):
    """The first answer to a POST sent with an Idempotency-Key, replayed to retries of it.

    The answer holds the receipt code, so it is kept encrypted and only for a retention window.
    """

    __tablename__ = "idempotency_keys"

    principal: Mapped[str] = mapped_column(String(200), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    report_id: Mapped[str] = mapped_column(String(36))
    response_enc: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class IdentityAccessRequest(Base):
    """An officer's request to read one reporter's identity, decided by a custodian; read once.

    `status`: pending -> approved -> released, or pending -> refused. An approved request not read
    by `expires_at` is expired (shown so; nothing more can be done with it)."""

    __tablename__ = "identity_access_requests"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)  # the report's, for jurisdiction
    requested_by: Mapped[str] = mapped_column(String(200), index=True)
    requester_org_level: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    decider_org_level: Mapped[str | None] = mapped_column(String(20), nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    released_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Attachment(Base):
    """One evidence file of a report (DESIGN.md §4.6), its bytes encrypted in `attachment_chunks`.

    The file name is not kept: it can name the reporter, and nobody who reads reports may see who
    reported. The data key is random per file and stored wrapped by the field-encryption key (its key
    id inside, so a rotation still reads it). `part` "kept" is what officers download (identifying
    metadata removed); "original", when the reporter asked to keep it, is exactly what was received."""

    __tablename__ = "attachments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)  # the report's, for jurisdiction
    uploaded_via: Mapped[str] = mapped_column(String(20))  # receipt (the reporter) | officer
    uploaded_by: Mapped[str | None] = mapped_column(String(200), nullable=True)  # the officer; never the reporter
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    media_type: Mapped[str] = mapped_column(String(100))  # sniffed from the content
    received_size: Mapped[int] = mapped_column(Integer)
    received_sha256: Mapped[str] = mapped_column(String(64))  # what the uploader was given as proof
    stored_size: Mapped[int] = mapped_column(Integer)
    stored_sha256: Mapped[str] = mapped_column(String(64))  # of the kept part, metadata removed
    metadata_removed: Mapped[list[str]] = mapped_column(JSON, default=list)
    original_kept: Mapped[bool] = mapped_column(Boolean, default=False)
    data_key_enc: Mapped[str | None] = mapped_column(Text, nullable=True)  # None: purged with its pieces
    chunk_count: Mapped[int] = mapped_column(Integer)
    original_chunk_count: Mapped[int | None] = mapped_column(Integer, nullable=True)


class AttachmentChunk(Base):
    """A sealed piece of one part of an attachment: nonce, AES-GCM ciphertext and tag, its attachment,
    part, position and whether it is the last bound in the associated data."""

    __tablename__ = "attachment_chunks"

    attachment_id: Mapped[str] = mapped_column(ForeignKey("attachments.id", ondelete="CASCADE"), primary_key=True)
    part: Mapped[str] = mapped_column(String(10), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    sealed: Mapped[bytes] = mapped_column(LargeBinary)


class Message(Base):
    """One message of a report's conversation with its reporter (DESIGN.md §4.6), through the receipt code.

    The text is encrypted at rest (`body_enc`, bound to its column). A reporter's message carries no
    author beyond "reporter": nothing here says who they are. `notice_key` is set on the statutory
    notices only ("acceptance", "result:<verdict version>"), so each is posted once per report (and a
    corrected verdict's result notice once more)."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("report_id", "notice_key", name="uq_messages_notice"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)  # the report's, for jurisdiction and figures
    author: Mapped[str] = mapped_column(String(20))  # reporter | officer
    kind: Mapped[str] = mapped_column(String(20))  # supplement, answer | message, question, acceptance, result
    posted_by: Mapped[str | None] = mapped_column(String(200), nullable=True)  # the officer; never the reporter
    body_enc: Mapped[str | None] = mapped_column(Text, nullable=True)  # None: purged after the retention period
    in_reply_to: Mapped[str | None] = mapped_column(String(36), nullable=True)  # an answer's question
    notice_key: Mapped[str | None] = mapped_column(String(20), nullable=True)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    read_by_officer_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # a reporter's message
    read_by_reporter_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # an officer's
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # a question's first answer
