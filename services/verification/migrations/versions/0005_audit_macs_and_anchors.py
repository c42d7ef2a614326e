"""audit records name their MAC key; anchors of the other services' audit chains are kept

Revision ID: verification_0005
Revises: verification_0004
Create Date: 2026-11-30
"""
from shared.migration_ops import add_audit_macs_and_anchors_v3, drop_audit_macs_and_anchors_v3

revision = "verification_0005"
down_revision = "verification_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    add_audit_macs_and_anchors_v3()


def downgrade() -> None:
    drop_audit_macs_and_anchors_v3()
