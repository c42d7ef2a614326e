from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import UTCDateTime, new_metadata, utcnow


class Base(DeclarativeBase):
    metadata = new_metadata()


class Case(Base):
    """One verification case per submitted report (the report id is unique here)."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    report_id: Mapped[str] = mapped_column(String(36), unique=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)
    channel: Mapped[str] = mapped_column(String(20))
    subject_name: Mapped[str] = mapped_column(String(100))
    subject_position: Mapped[str] = mapped_column(String(100))
    subject_organization: Mapped[str] = mapped_column(String(200))
    anonymous: Mapped[bool] = mapped_column(Boolean)
    reporter_blind_index: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    report_received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)

    allegations: Mapped[list[CaseAllegation]] = relationship(
        back_populates="case", lazy="raise", order_by="CaseAllegation.position", cascade="all, delete-orphan"
    )


class CaseAllegation(Base):
    __tablename__ = "case_allegations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    allegation_id: Mapped[str] = mapped_column(String(36))
    position: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(40))
    summary: Mapped[str] = mapped_column(Text)
    occurred_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    place: Mapped[str | None] = mapped_column(String(200), nullable=True)

    case: Mapped[Case] = relationship(back_populates="allegations", lazy="raise")
