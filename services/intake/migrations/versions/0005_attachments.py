"""evidence attachments: files of a report, encrypted in chunks (#20, item 1)

Revision ID: intake_0005
Revises: intake_0004
Create Date: 2026-12-01
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = "intake_0005"
down_revision = "intake_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("uploaded_via", sa.String(20), nullable=False),
        sa.Column("uploaded_by", sa.String(200), nullable=True),
        sa.Column("uploaded_at", UTCDateTime(), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("received_size", sa.Integer(), nullable=False),
        sa.Column("received_sha256", sa.String(64), nullable=False),
        sa.Column("stored_size", sa.Integer(), nullable=False),
        sa.Column("stored_sha256", sa.String(64), nullable=False),
        sa.Column("metadata_removed", sa.JSON(), nullable=False),
        sa.Column("original_kept", sa.Boolean(), nullable=False),
        sa.Column("data_key_enc", sa.Text(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("original_chunk_count", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["report_id"], ["reports.id"], ondelete="CASCADE",
                                name="fk_attachments_report_id_reports"),
        sa.PrimaryKeyConstraint("id", name="pk_attachments"),
    )
    for column in ("report_id", "region_code", "uploaded_at"):
        op.create_index(f"ix_attachments_{column}", "attachments", [column])
    op.create_table(
        "attachment_chunks",
        sa.Column("attachment_id", sa.String(36), nullable=False),
        sa.Column("part", sa.String(10), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["attachment_id"], ["attachments.id"], ondelete="CASCADE",
                                name="fk_attachment_chunks_attachment_id_attachments"),
        sa.PrimaryKeyConstraint("attachment_id", "part", "seq", name="pk_attachment_chunks"),
    )


def downgrade() -> None:
    op.drop_table("attachment_chunks")
    op.drop_table("attachments")
