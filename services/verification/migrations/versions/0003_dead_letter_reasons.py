"""dead letters carry their reason code (signature_invalid, untrusted_source, ...)

Revision ID: verification_0003
Revises: verification_0002
Create Date: 2026-11-30
"""
from shared.migration_ops import add_dead_letter_reason_v2, drop_dead_letter_reason_v2

revision = "verification_0003"
down_revision = "verification_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_dead_letter_reason_v2()


def downgrade() -> None:
    drop_dead_letter_reason_v2()
