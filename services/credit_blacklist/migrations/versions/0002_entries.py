"""entries, objections and the verdicts applied per report

Revision ID: credit_blacklist_0002
Revises: credit_blacklist_0001
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = "credit_blacklist_0002"
down_revision = "credit_blacklist_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "entries",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("verdict_id", sa.String(36), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("status_before_review", sa.String(20), nullable=True),
        sa.Column("severity", sa.String(20), nullable=False),
        sa.Column("reason_code", sa.String(40), nullable=False),
        sa.Column("legal_basis_ref", sa.String(200), nullable=False),
        sa.Column("legal_basis_text", sa.Text(), nullable=False),
        sa.Column("repeat_offender", sa.Boolean(), nullable=False),
        sa.Column("publication", sa.String(10), nullable=False),
        sa.Column("period_months", sa.Integer(), nullable=False),
        sa.Column("minimum_months", sa.Integer(), nullable=False),
        sa.Column("period_basis", sa.String(200), nullable=False),
        sa.Column("name_enc", sa.Text(), nullable=False),
        sa.Column("id_number_enc", sa.Text(), nullable=False),
        sa.Column("phone_enc", sa.Text(), nullable=True),
        sa.Column("address_enc", sa.Text(), nullable=True),
        sa.Column("blind_index", sa.String(64), nullable=False),
        sa.Column("notified_at", UTCDateTime(), nullable=False),
        sa.Column("objection_deadline", sa.Date(), nullable=False),
        sa.Column("listed_from", sa.Date(), nullable=True),
        sa.Column("listed_until", sa.Date(), nullable=True),
        sa.Column("removed_at", UTCDateTime(), nullable=True),
        sa.Column("removal_reason", sa.String(40), nullable=True),
        sa.Column("removed_by", sa.String(200), nullable=True),
        sa.Column("removal_note", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_entries"),
        sa.UniqueConstraint("verdict_id", name="uq_entries_verdict_id"),
    )
    op.create_index("ix_entries_report_id", "entries", ["report_id"])
    op.create_index("ix_entries_region_code", "entries", ["region_code"])
    op.create_index("ix_entries_blind_index", "entries", ["blind_index"])
    op.create_index("ix_entries_created_at", "entries", ["created_at"])
    op.create_index("ix_entries_status_objection_deadline", "entries", ["status", "objection_deadline"])
    op.create_index("ix_entries_status_listed_until", "entries", ["status", "listed_until"])
    op.create_table(
        "objections",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("entry_id", sa.String(36), nullable=False),
        sa.Column("grounds", sa.Text(), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("status_before", sa.String(20), nullable=False),
        sa.Column("filed_by", sa.String(200), nullable=False),
        sa.Column("filed_at", UTCDateTime(), nullable=False),
        sa.Column("decision", sa.String(20), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["entry_id"], ["entries.id"], name="fk_objections_entry_id_entries",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_objections"),
    )
    op.create_index("ix_objections_entry_id", "objections", ["entry_id"])
    op.create_table(
        "report_verdicts",
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("verdict_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("outcome", sa.String(20), nullable=False),
        sa.Column("entry_id", sa.String(36), nullable=True),
        sa.Column("applied_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("report_id", name="pk_report_verdicts"),
    )
    op.create_index("ix_report_verdicts_region_code", "report_verdicts", ["region_code"])
    op.create_index("ix_report_verdicts_outcome", "report_verdicts", ["outcome"])


def downgrade() -> None:
    op.drop_table("report_verdicts")
    op.drop_table("objections")
    op.drop_table("entries")
