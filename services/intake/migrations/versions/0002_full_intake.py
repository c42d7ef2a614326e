"""full intake: status and outcome, repeat detection, acceptance deadline, idempotency keys

Revision ID: intake_0002
Revises: intake_0001
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = "intake_0002"
down_revision = "intake_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("submitted_by", sa.String(200), nullable=False, server_default=""))
        batch.add_column(sa.Column("subject_key", sa.String(64), nullable=False, server_default=""))
        batch.add_column(sa.Column("flags", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch.add_column(sa.Column("flagged", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column("linked_report_ids", sa.JSON(), nullable=False,
                                   server_default=sa.text("'[]'")))
        batch.add_column(sa.Column("acceptance_notice_due", sa.Date(), nullable=True))
        batch.add_column(sa.Column("outcome", sa.String(20), nullable=True))
        batch.add_column(sa.Column("verdict_version", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("concluded_at", UTCDateTime(), nullable=True))
    # Defaults were only for rows that existed before; new rows always set these.
    with op.batch_alter_table("reports") as batch:
        for column in ("submitted_by", "subject_key", "flags", "flagged",
                       "linked_report_ids", "verdict_version"):
            batch.alter_column(column, server_default=None)
    op.create_index("ix_reports_subject_key", "reports", ["subject_key"])
    op.create_index("ix_reports_flagged", "reports", ["flagged"])
    op.create_table(
        "idempotency_keys",
        sa.Column("principal", sa.String(200), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("response_enc", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("principal", "key", name="pk_idempotency_keys"),
    )
    op.create_index("ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"])


def downgrade() -> None:
    op.drop_table("idempotency_keys")
    op.drop_index("ix_reports_flagged", "reports")
    op.drop_index("ix_reports_subject_key", "reports")
    with op.batch_alter_table("reports") as batch:
        for column in ("concluded_at", "verdict_version", "outcome", "acceptance_notice_due",
                       "linked_report_ids", "flagged", "flags", "subject_key",
                       "submitted_by"):
            batch.drop_column(column)
