"""trace links: the trace each report's journey started with, as this service first saw it (#19, item 3)

Revision ID: credit_blacklist_0006
Revises: credit_blacklist_0005
Create Date: 2026-12-09
"""
from shared.migration_ops import create_trace_links_v4, drop_trace_links_v4

revision = "credit_blacklist_0006"
down_revision = "credit_blacklist_0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_trace_links_v4()


def downgrade() -> None:
    drop_trace_links_v4()
