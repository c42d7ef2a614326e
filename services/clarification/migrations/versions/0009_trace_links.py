"""trace links: the trace each report's journey started with, as this service first saw it (#19, item 3)

Revision ID: clarification_0009
Revises: clarification_0008
Create Date: 2026-12-09
"""
from shared.migration_ops import create_trace_links_v4, drop_trace_links_v4

revision = "clarification_0009"
down_revision = "clarification_0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_trace_links_v4()


def downgrade() -> None:
    drop_trace_links_v4()
