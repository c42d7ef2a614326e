"""a bulletin clarification records its bulletin (通报): issued on, issuing body, scope, document number

Revision ID: clarification_0005
Revises: clarification_0004
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

revision = "clarification_0005"
down_revision = "clarification_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clarifications") as batch:
        batch.add_column(sa.Column("bulletin_issued_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("bulletin", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("clarifications") as batch:
        batch.drop_column("bulletin")
        batch.drop_column("bulletin_issued_on")
