"""a clarification covers the allegations exempted under fault tolerance as well as the refuted ones

Revision ID: clarification_0007
Revises: clarification_0006
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = "clarification_0007"
down_revision = "clarification_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("verdicts_seen", "clarifications"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("exempted_allegations", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in ("verdicts_seen", "clarifications"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("exempted_allegations")
