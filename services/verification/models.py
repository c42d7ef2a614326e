from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from shared.db import UTCDateTime, new_metadata, utcnow


class Base(DeclarativeBase):
    metadata = new_metadata()


class Case(Base):
    """The verification of one report. A correction supersedes the case and opens a successor,
    so only one case per report is ever current (not superseded)."""

    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    report_id: Mapped[str] = mapped_column(String(36), index=True)
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
    linked_report_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    signals: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    acceptance_notice_due: Mapped[date | None] = mapped_column(Date, nullable=True)
    verification_due: Mapped[date] = mapped_column(Date, index=True)
    malice_assessment: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    fault_tolerance: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    verdict: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)
    fault_tolerance_exempted: Mapped[bool] = mapped_column(Boolean, default=False)
    finalized_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    supersedes_case_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    superseded_by_case_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    allegations: Mapped[list[CaseAllegation]] = relationship(
        back_populates="case", lazy="raise", order_by="CaseAllegation.position", cascade="all, delete-orphan"
    )

    __table_args__ = (
        Index("uq_cases_current_report", "report_id", unique=True,
              postgresql_where=status != "superseded", sqlite_where=status != "superseded"),
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
    finding: Mapped[str | None] = mapped_column(String(30), nullable=True)
    evidence_notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    finding_recorded_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    finding_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    case: Mapped[Case] = relationship(back_populates="allegations", lazy="raise")


class VerdictRecord(Base):
    """One conclusion of a case, with what it rested on. Its content never changes; only its
    state moves: pending_approval -> final | rejected."""

    __tablename__ = "verdicts"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    report_id: Mapped[str] = mapped_column(String(36), index=True)
    version: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20), index=True)
    verdict: Mapped[str] = mapped_column(String(20))
    fault_tolerance_exempted: Mapped[bool] = mapped_column(Boolean)
    malice_kind: Mapped[str | None] = mapped_column(String(30), nullable=True)
    severity: Mapped[str | None] = mapped_column(String(20), nullable=True)
    refuted_allegation_ids: Mapped[list[str]] = mapped_column(JSON)
    rationale: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    findings_snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    notes: Mapped[str | None] = mapped_column(Text, nullable=True)  # the concluding officer's
    concluded_by: Mapped[str] = mapped_column(String(200))
    concluded_at: Mapped[datetime] = mapped_column(UTCDateTime)
    concluded_by_level: Mapped[str | None] = mapped_column(String(20), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_by_level: Mapped[str | None] = mapped_column(String(20), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    supersedes_verdict_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    correction_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    # How many confirmed prior risk filings the rationale names (FT-PRIOR-FILING): the figures count
    # exemptions that cited one.
    prior_filings_cited: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    __table_args__ = (UniqueConstraint("report_id", "version", name="uq_verdicts_report_id"),)


class CaseRecording(Base):
    """Who recorded what on a case: each findings, assessment and conclusion, kept when the thing
    recorded is later replaced, so that separation of duties sees everyone who had a hand in it."""

    __tablename__ = "case_recordings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    act: Mapped[str] = mapped_column(String(30))  # findings, malice_assessment, fault_tolerance, conclusion
    recorded_by: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Correction(Base):
    """A request to correct a case's final verdict, and its decision by a second officer. Only an
    approved one supersedes the case; at most one per case is pending at a time."""

    __tablename__ = "corrections"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    report_id: Mapped[str] = mapped_column(String(36), index=True)
    region_code: Mapped[str] = mapped_column(String(6))
    verdict_id: Mapped[str] = mapped_column(String(36))  # the final verdict to be corrected
    status: Mapped[str] = mapped_column(String(20), index=True)  # pending, approved, rejected
    reason: Mapped[str] = mapped_column(Text)
    requested_by: Mapped[str] = mapped_column(String(200))
    requested_by_level: Mapped[str] = mapped_column(String(20))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    min_approver_level: Mapped[str] = mapped_column(String(20))
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_by_level: Mapped[str | None] = mapped_column(String(20), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    decision_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    successor_case_id: Mapped[str | None] = mapped_column(String(36), nullable=True)

    __table_args__ = (
        Index("uq_corrections_pending_case", "case_id", unique=True,
              postgresql_where=status == "pending", sqlite_where=status == "pending"),
    )


class RiskFiling(Base):
    """A risky decision filed before acting (风险报备), on behalf of an official or their unit, and
    each step of its chain: acceptance, risk assessment, review, feedback, outcome. Each step is
    recorded once, by whom and at what level; only the assessment may be recorded again until the
    review."""

    __tablename__ = "risk_filings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    region_code: Mapped[str] = mapped_column(String(6), index=True)  # the official's
    official_name: Mapped[str] = mapped_column(String(100))
    official_position: Mapped[str] = mapped_column(String(100))
    official_organization: Mapped[str] = mapped_column(String(200))
    official_level: Mapped[str] = mapped_column(String(20))  # the level of the official's organization
    official_key: Mapped[str] = mapped_column(String(64), index=True)  # risk_filing_domain.official_key
    filed_for: Mapped[str] = mapped_column(String(20))  # official, unit
    matter_title: Mapped[str] = mapped_column(String(200))
    matter_description: Mapped[str] = mapped_column(Text)
    matter_starts_on: Mapped[date] = mapped_column(Date)
    matter_ends_on: Mapped[date] = mapped_column(Date)
    matter_reach: Mapped[str] = mapped_column(String(20))
    amount_yuan: Mapped[int] = mapped_column(BigInteger)
    policy_basis: Mapped[str] = mapped_column(Text)
    foreseeable_risks: Mapped[str] = mapped_column(Text)
    safeguards: Mapped[str] = mapped_column(Text)
    public_benefit: Mapped[str] = mapped_column(Text)
    acceptance_level: Mapped[str] = mapped_column(String(20), index=True)
    filed_by: Mapped[str] = mapped_column(String(200))
    filed_by_level: Mapped[str] = mapped_column(String(20))
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    acceptance_decision: Mapped[str | None] = mapped_column(String(20), nullable=True)  # accepted, returned
    acceptance_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    accepted_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    accepted_by_level: Mapped[str | None] = mapped_column(String(20), nullable=True)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    risk_level: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)
    conditions: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    assessment_notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    assessed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    assessed_by_level: Mapped[str | None] = mapped_column(String(20), nullable=True)
    assessed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    review_decision: Mapped[str | None] = mapped_column(String(20), nullable=True)  # filed, not_filed
    review_opinions: Mapped[str | None] = mapped_column(Text, nullable=True)
    reviewed_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    reviewed_by_level: Mapped[str | None] = mapped_column(String(20), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Everyone who accepted or assessed it, kept when the assessment is recorded again: none of them reviews it.
    handled_by: Mapped[list[str]] = mapped_column(JSON, default=list)
    feedback: Mapped[str | None] = mapped_column(Text, nullable=True)
    feedback_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    feedback_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(20), nullable=True)  # as_planned, deviated
    deviation: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome_notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    completed_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    outcome_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RiskFilingLink(Base):
    """A risk filing a report may be about: found when its first case opened (a candidate), then
    confirmed or dismissed by the investigator with the reason. It belongs to the report, so a
    successor case opened by a correction sees the same links."""

    __tablename__ = "risk_filing_links"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    report_id: Mapped[str] = mapped_column(String(36), index=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)  # opened with it
    filing_id: Mapped[str] = mapped_column(ForeignKey("risk_filings.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)  # candidate, confirmed, dismissed
    covered_allegation_ids: Mapped[list[str]] = mapped_column(JSON)  # whose dates the matter period covers
    linked_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (UniqueConstraint("report_id", "filing_id", name="uq_risk_filing_links_report_id"),)
