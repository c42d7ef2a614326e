"""identity custody: access requests, the verified verdict's id and approver; dead-letter reasons

Revision ID: intake_0003
Revises: intake_0002
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime
from shared.migration_ops import add_dead_letter_reason_v2, drop_dead_letter_reason_v2

revision = "intake_0003"
down_revision = "intake_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_dead_letter_reason_v2()
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("verdict_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("verdict_approved_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("verdict_approver_level", sa.String(20), nullable=True))
    op.create_table(
        "identity_access_requests",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requester_org_level", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decider_org_level", sa.String(20), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("released_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], ondelete="CASCADE",
                                name="fk_identity_access_requests_report_id_reports"),
        sa.PrimaryKeyConstraint("id", name="pk_identity_access_requests"),
    )
    for column in ("report_id", "region_code", "requested_by", "requested_at", "status", "decided_by"):
        op.create_index(f"ix_identity_access_requests_{column}", "identity_access_requests", [column])


def downgrade() -> None:
    op.drop_table("identity_access_requests")
    with op.batch_alter_table("reports") as batch:
        for column in ("verdict_approver_level", "verdict_approved_by", "verdict_id"):
            batch.drop_column(column)
    drop_dead_letter_reason_v2()
