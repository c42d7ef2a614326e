"""risk filing (风险报备): filings and their chain, their links to reports, the filings a verdict cites (#21)

Revision ID: verification_0008
Revises: verification_0007
Create Date: 2026-12-10

Verdicts concluded before this revision cited no filing: their count is 0.
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = "verification_0008"
down_revision = "verification_0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "risk_filings",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("official_name", sa.String(100), nullable=False),
        sa.Column("official_position", sa.String(100), nullable=False),
        sa.Column("official_organization", sa.String(200), nullable=False),
        sa.Column("official_level", sa.String(20), nullable=False),
        sa.Column("official_key", sa.String(64), nullable=False),
        sa.Column("filed_for", sa.String(20), nullable=False),
        sa.Column("matter_title", sa.String(200), nullable=False),
        sa.Column("matter_description", sa.Text(), nullable=False),
        sa.Column("matter_starts_on", sa.Date(), nullable=False),
        sa.Column("matter_ends_on", sa.Date(), nullable=False),
        sa.Column("matter_reach", sa.String(20), nullable=False),
        sa.Column("amount_yuan", sa.BigInteger(), nullable=False),
        sa.Column("policy_basis", sa.Text(), nullable=False),
        sa.Column("foreseeable_risks", sa.Text(), nullable=False),
        sa.Column("safeguards", sa.Text(), nullable=False),
        sa.Column("public_benefit", sa.Text(), nullable=False),
        sa.Column("acceptance_level", sa.String(20), nullable=False),
        sa.Column("filed_by", sa.String(200), nullable=False),
        sa.Column("filed_by_level", sa.String(20), nullable=False),
        sa.Column("submitted_at", UTCDateTime(), nullable=False),
        sa.Column("acceptance_decision", sa.String(20), nullable=True),
        sa.Column("acceptance_reason", sa.Text(), nullable=True),
        sa.Column("accepted_by", sa.String(200), nullable=True),
        sa.Column("accepted_by_level", sa.String(20), nullable=True),
        sa.Column("accepted_at", UTCDateTime(), nullable=True),
        sa.Column("risk_level", sa.String(20), nullable=True),
        sa.Column("conditions", sa.JSON(), nullable=True),
        sa.Column("assessment_notes", sa.Text(), nullable=True),
        sa.Column("assessed_by", sa.String(200), nullable=True),
        sa.Column("assessed_by_level", sa.String(20), nullable=True),
        sa.Column("assessed_at", UTCDateTime(), nullable=True),
        sa.Column("review_decision", sa.String(20), nullable=True),
        sa.Column("review_opinions", sa.Text(), nullable=True),
        sa.Column("reviewed_by", sa.String(200), nullable=True),
        sa.Column("reviewed_by_level", sa.String(20), nullable=True),
        sa.Column("reviewed_at", UTCDateTime(), nullable=True),
        sa.Column("handled_by", sa.JSON(), nullable=False),
        sa.Column("feedback", sa.Text(), nullable=True),
        sa.Column("feedback_by", sa.String(200), nullable=True),
        sa.Column("feedback_at", UTCDateTime(), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("deviation", sa.Text(), nullable=True),
        sa.Column("outcome_notes", sa.Text(), nullable=True),
        sa.Column("completed_on", sa.Date(), nullable=True),
        sa.Column("outcome_by", sa.String(200), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_risk_filings"),
    )
    for column in ("status", "region_code", "official_key", "acceptance_level", "submitted_at", "risk_level"):
        op.create_index(f"ix_risk_filings_{column}", "risk_filings", [column])
    op.create_table(
        "risk_filing_links",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("filing_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("covered_allegation_ids", sa.JSON(), nullable=False),
        sa.Column("linked_at", UTCDateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_risk_filing_links_case_id_cases",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["filing_id"], ["risk_filings.id"], name="fk_risk_filing_links_filing_id_risk_filings",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_risk_filing_links"),
        sa.UniqueConstraint("report_id", "filing_id", name="uq_risk_filing_links_report_id"),
    )
    for column in ("report_id", "case_id", "filing_id", "status"):
        op.create_index(f"ix_risk_filing_links_{column}", "risk_filing_links", [column])
    with op.batch_alter_table("verdicts") as batch:
        batch.add_column(sa.Column("prior_filings_cited", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("verdicts") as batch:
        batch.drop_column("prior_filings_cited")
    op.drop_table("risk_filing_links")
    op.drop_table("risk_filings")
