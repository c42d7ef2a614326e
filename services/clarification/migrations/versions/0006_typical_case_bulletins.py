"""typical false-accusation case bulletins (通报典型案例), issued for final malicious verdicts

Revision ID: clarification_0006
Revises: clarification_0005
Create Date: 2026-11-30
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = "clarification_0006"
down_revision = "clarification_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "typical_case_bulletins",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("verdict_id", sa.String(36), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False, index=True),
        sa.Column("issued_on", sa.Date(), nullable=False, index=True),
        sa.Column("issuing_body", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(30), nullable=False),
        sa.Column("document_number", sa.String(100), nullable=False),
        sa.Column("accuser_shown", sa.String(10), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("issued_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("report_id", name="uq_typical_case_bulletins_report_id"),  # one bulletin per case
    )


def downgrade() -> None:
    op.drop_table("typical_case_bulletins")
