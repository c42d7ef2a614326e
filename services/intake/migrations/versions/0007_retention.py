"""retention: a report's personal data purged after the retention period (#20, item 4)

Revision ID: intake_0007
Revises: intake_0006
Create Date: 2026-12-08
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = "intake_0007"
down_revision = "intake_0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("reports") as batch:
        batch.add_column(sa.Column("personal_data_purged_at", UTCDateTime(), nullable=True))
    op.create_index("ix_reports_retention", "reports", ["personal_data_purged_at", "concluded_at"])
    # A purged file keeps its sizes and hashes but not its key; a purged message keeps its place, not its text.
    with op.batch_alter_table("attachments") as batch:
        batch.alter_column("data_key_enc", existing_type=sa.Text(), nullable=True)
    with op.batch_alter_table("messages") as batch:
        batch.alter_column("body_enc", existing_type=sa.Text(), nullable=True)


def downgrade() -> None:
    # Purged rows cannot get their keys or texts back; they keep an empty marker so the columns hold again.
    op.execute(sa.text("UPDATE messages SET body_enc = '' WHERE body_enc IS NULL"))
    op.execute(sa.text("UPDATE attachments SET data_key_enc = '' WHERE data_key_enc IS NULL"))
    with op.batch_alter_table("messages") as batch:
        batch.alter_column("body_enc", existing_type=sa.Text(), nullable=False)
    with op.batch_alter_table("attachments") as batch:
        batch.alter_column("data_key_enc", existing_type=sa.Text(), nullable=False)
    op.drop_index("ix_reports_retention", table_name="reports")
    with op.batch_alter_table("reports") as batch:
        batch.drop_column("personal_data_purged_at")
