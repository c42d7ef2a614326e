"""a verdict keeps the concluding officer's notes

Revision ID: verification_0006
Revises: verification_0005
Create Date: 2026-12-02

Verdicts concluded before this revision had their notes dropped; they stay null.
"""
import sqlalchemy as sa
from alembic import op

revision = "verification_0006"
down_revision = "verification_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("verdicts") as batch:
        batch.add_column(sa.Column("notes", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("verdicts") as batch:
        batch.drop_column("notes")
