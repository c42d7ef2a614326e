"""initial: kernel tables, reports and allegations

Revision ID: intake_0001
Revises:
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime
from shared.migration_ops import create_kernel_tables_v1

revision = "intake_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_kernel_tables_v1()
    op.create_table(
        "reports",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("subject_name", sa.String(100), nullable=False),
        sa.Column("subject_position", sa.String(100), nullable=False),
        sa.Column("subject_organization", sa.String(200), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("reporter_name_enc", sa.Text(), nullable=True),
        sa.Column("reporter_id_number_enc", sa.Text(), nullable=True),
        sa.Column("reporter_phone_enc", sa.Text(), nullable=True),
        sa.Column("reporter_address_enc", sa.Text(), nullable=True),
        sa.Column("reporter_blind_index", sa.String(64), nullable=True),
        sa.Column("receipt_code_hash", sa.String(64), nullable=False),
        sa.Column("external_ref", sa.String(100), nullable=True),
        sa.Column("received_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reports"),
        sa.UniqueConstraint("receipt_code_hash", name="uq_reports_receipt_code_hash"),
    )
    op.create_index("ix_reports_region_code", "reports", ["region_code"])
    op.create_index("ix_reports_reporter_blind_index", "reports", ["reporter_blind_index"])
    op.create_index("ix_reports_received_at", "reports", ["received_at"])
    op.create_table(
        "allegations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=True),
        sa.Column("place", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], name="fk_allegations_report_id_reports",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_allegations"),
    )
    op.create_index("ix_allegations_report_id", "allegations", ["report_id"])


def downgrade() -> None:
    op.drop_table("allegations")
    op.drop_table("reports")
    for table in ("audit_records", "dead_letters", "inbox", "outbox"):
        op.drop_table(table)
