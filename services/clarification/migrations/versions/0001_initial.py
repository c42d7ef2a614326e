"""initial: kernel tables (outbox, inbox, dead letters, audit trail)

Revision ID: clarification_0001
Revises:
Create Date: 2026-11-21
"""
from alembic import op

from shared.migration_ops import create_kernel_tables_v1

revision = "clarification_0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_kernel_tables_v1()


def downgrade() -> None:
    for table in ("audit_records", "dead_letters", "inbox", "outbox"):
        op.drop_table(table)
