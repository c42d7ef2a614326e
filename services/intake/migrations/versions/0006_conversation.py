"""the reporter's conversation: messages by receipt code, the statutory notices (#20, items 2 and 3)

Revision ID: intake_0006
Revises: intake_0005
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = "intake_0006"
down_revision = "intake_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("fault_tolerance_exempted", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("acceptance_notice_at", UTCDateTime(), nullable=True))
    # The default was only for rows that existed before (their exemption was not kept: false); new
    # rows always set it.
    with op.batch_alter_table("reports") as batch:
        batch.alter_column("fault_tolerance_exempted", server_default=None)
    op.create_index("ix_reports_acceptance_notice_pending", "reports",
                    ["acceptance_notice_at", "acceptance_notice_due"])
    op.create_table(
        "messages",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("author", sa.String(20), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("posted_by", sa.String(200), nullable=True),
        sa.Column("body_enc", sa.Text(), nullable=False),
        sa.Column("in_reply_to", sa.String(36), nullable=True),
        sa.Column("notice_key", sa.String(20), nullable=True),
        sa.Column("posted_at", UTCDateTime(), nullable=False),
        sa.Column("read_by_officer_at", UTCDateTime(), nullable=True),
        sa.Column("read_by_reporter_at", UTCDateTime(), nullable=True),
        sa.Column("answered_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], ondelete="CASCADE",
                                name="fk_messages_report_id_reports"),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        sa.UniqueConstraint("report_id", "notice_key", name="uq_messages_notice"),
    )
    for column in ("report_id", "region_code", "posted_at"):
        op.create_index(f"ix_messages_{column}", "messages", [column])


def downgrade() -> None:
    op.drop_table("messages")
    op.drop_index("ix_reports_acceptance_notice_pending", table_name="reports")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("acceptance_notice_at")
        batch.drop_column("fault_tolerance_exempted")
