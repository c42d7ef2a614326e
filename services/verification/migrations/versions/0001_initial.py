"""initial: kernel tables, cases and their allegations

Revision ID: verification_0001
Revises:
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime
from shared.migration_ops import create_kernel_tables_v1

revision = "verification_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_kernel_tables_v1()
    op.create_table(
        "cases",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("channel", sa.String(20), nullable=False),
        sa.Column("subject_name", sa.String(100), nullable=False),
        sa.Column("subject_position", sa.String(100), nullable=False),
        sa.Column("subject_organization", sa.String(200), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("reporter_blind_index", sa.String(64), nullable=True),
        sa.Column("report_received_at", UTCDateTime(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_cases"),
        sa.UniqueConstraint("report_id", name="uq_cases_report_id"),
    )
    op.create_index("ix_cases_status", "cases", ["status"])
    op.create_index("ix_cases_region_code", "cases", ["region_code"])
    op.create_index("ix_cases_reporter_blind_index", "cases", ["reporter_blind_index"])
    op.create_index("ix_cases_opened_at", "cases", ["opened_at"])
    op.create_table(
        "case_allegations",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("allegation_id", sa.String(36), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("occurred_on", sa.Date(), nullable=True),
        sa.Column("place", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_allegations_case_id_cases",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_case_allegations"),
    )
    op.create_index("ix_case_allegations_case_id", "case_allegations", ["case_id"])


def downgrade() -> None:
    op.drop_table("case_allegations")
    op.drop_table("cases")
    for table in ("audit_records", "dead_letters", "inbox", "outbox"):
        op.drop_table(table)
