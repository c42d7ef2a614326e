"""removal requests: credit repair and revocation, asked by one officer and decided by another

Revision ID: credit_blacklist_0004
Revises: credit_blacklist_0003
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = "credit_blacklist_0004"
down_revision = "credit_blacklist_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "removal_requests",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("entry_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["entry_id"], ["entries.id"], name="fk_removal_requests_entry_id_entries",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_removal_requests"),
    )
    op.create_index("ix_removal_requests_entry_id", "removal_requests", ["entry_id"])
    op.create_index("uq_removal_requests_pending_entry", "removal_requests", ["entry_id"], unique=True,
                    postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
    op.create_index("ix_removal_requests_kind_status_requested_at", "removal_requests",
                    ["kind", "status", "requested_at"])


def downgrade() -> None:
    op.drop_table("removal_requests")
