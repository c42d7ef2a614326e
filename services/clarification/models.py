from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, Time
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from services.clarification import domain
from shared.db import UTCDateTime, new_metadata, utcnow


class Base(DeclarativeBase):
    metadata = new_metadata()


class VerdictSeen(Base):
    """The latest final verdict per report, so officers can open clarifications for partially true ones."""

    __tablename__ = "verdicts_seen"

    report_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    verdict_id: Mapped[str] = mapped_column(String(36))
    case_id: Mapped[str] = mapped_column(String(36))
    version: Mapped[int] = mapped_column(Integer)
    verdict: Mapped[str] = mapped_column(String(20))
    fault_tolerance_exempted: Mapped[bool] = mapped_column(Boolean)
    region_code: Mapped[str] = mapped_column(String(6))
    subject: Mapped[dict[str, Any]] = mapped_column(JSON)
    refuted_allegations: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # Found true, but exempted under fault tolerance: each with the conditions that held (null before 0007).
    exempted_allegations: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    grounds: Mapped[list[str]] = mapped_column(JSON)
    concluded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Clarification(Base):
    __tablename__ = "clarifications"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    report_id: Mapped[str] = mapped_column(String(36), index=True)
    case_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    verdict_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    verdict: Mapped[str] = mapped_column(String(20))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    subject_name: Mapped[str] = mapped_column(String(100))
    subject_position: Mapped[str] = mapped_column(String(100))
    subject_organization: Mapped[str] = mapped_column(String(200))
    official_key: Mapped[str] = mapped_column(String(64), index=True)
    refuted_allegations: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    # Found true, but exempted under fault tolerance: each with the conditions that held (null before 0007).
    exempted_allegations: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)
    grounds: Mapped[list[str]] = mapped_column(JSON)
    mandatory: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(20), index=True)
    opened_by: Mapped[str] = mapped_column(String(200))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    deadline: Mapped[date] = mapped_column(Date)
    consent: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    consent_recorded_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    consent_given_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    methods: Mapped[list[str]] = mapped_column(JSON, default=list)
    scope: Mapped[str | None] = mapped_column(String(30), nullable=True)
    written_issued_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    written_reference: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # A bulletin clarification's bulletin: when it was issued, and by whom, where and under which number.
    bulletin_issued_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    bulletin: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    follow_up_due: Mapped[date | None] = mapped_column(Date, nullable=True, index=True)
    follow_up_done_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    follow_up_notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    follow_up_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    meetings: Mapped[list[Meeting]] = relationship(back_populates="clarification", lazy="raise",
                                                   order_by="Meeting.starts_at")

    @property
    def basis(self) -> list[str]:
        """What the official is cleared of: refuted allegations, exempted conduct, or both."""
        return domain.basis(refuted=bool(self.refuted_allegations), exempted=bool(self.exempted_allegations))

    @property
    def statement(self) -> list[str]:
        """The sentences the written clarification and the bulletin carry, one per allegation."""
        return domain.statement(self.refuted_allegations, self.exempted_allegations or [])

    @property
    def required_methods(self) -> list[str]:
        """The methods chosen with those they require (a written clarification with any other)."""
        return sorted(m.value for m in domain.required_methods({domain.Method(m) for m in self.methods}))

    __table_args__ = (
        # One clarification per report is open or done at a time; a cancelled one makes room for another.
        Index("uq_clarifications_live_report", "report_id", unique=True,
              postgresql_where=outcome.is_distinct_from("cancelled"),
              sqlite_where=outcome.is_distinct_from("cancelled")),
    )


class Meeting(Base):
    __tablename__ = "meetings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    clarification_id: Mapped[str] = mapped_column(ForeignKey("clarifications.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20))  # scheduled | held | cancelled
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    venue_id: Mapped[str] = mapped_column(String(100))
    # The venue's name and address as they were when the meeting was booked or moved there (None before
    # the venue register existed): the meeting's record and its .ics keep them.
    venue_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    venue_address: Mapped[str | None] = mapped_column(String(200), nullable=True)
    official_key: Mapped[str] = mapped_column(String(64))
    host_organization: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(30))
    invitees: Mapped[list[str]] = mapped_column(JSON)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    attendance: Mapped[int | None] = mapped_column(Integer, nullable=True)
    minutes_summary: Mapped[str | None] = mapped_column(Text, nullable=True)
    bulletin_issued: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    held_recorded_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    held_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sequence: Mapped[int] = mapped_column(Integer, default=0)  # iCalendar SEQUENCE: bumps on every change
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    clarification: Mapped[Clarification] = relationship(back_populates="meetings", lazy="raise")

    __table_args__ = (
        Index("ix_meetings_venue_time", "venue_id", "starts_at"),
        Index("ix_meetings_official_time", "official_key", "starts_at"),
    )


class TypicalCaseBulletin(Base):
    """A typical false-accusation case bulletin (通报典型案例), issued for a final malicious verdict.
    The accuser appears only as a surname and asterisks; no identity reaches this service."""

    __tablename__ = "typical_case_bulletins"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    report_id: Mapped[str] = mapped_column(String(36), unique=True)
    verdict_id: Mapped[str] = mapped_column(String(36))
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    issued_on: Mapped[date] = mapped_column(Date, index=True)
    issuing_body: Mapped[str] = mapped_column(String(200))
    scope: Mapped[str] = mapped_column(String(30))
    document_number: Mapped[str] = mapped_column(String(100))
    accuser_shown: Mapped[str] = mapped_column(String(10))
    summary: Mapped[str] = mapped_column(Text)
    issued_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)



class Venue(Base):
    """A room clarification meetings are held in, kept per region: its name, address and the hours it
    can be booked (Asia/Shanghai). A retired venue keeps its past meetings but takes no new ones."""

    __tablename__ = "venues"

    id: Mapped[str] = mapped_column(String(100), primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    name: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(200))
    opens_at: Mapped[time] = mapped_column(Time)
    closes_at: Mapped[time] = mapped_column(Time)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
