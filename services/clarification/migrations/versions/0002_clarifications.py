"""clarifications, meetings and the verdicts they come from

Revision ID: clarification_0002
Revises: clarification_0001
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = "clarification_0002"
down_revision = "clarification_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verdicts_seen",
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("verdict_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("fault_tolerance_exempted", sa.Boolean(), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("subject", sa.JSON(), nullable=False),
        sa.Column("refuted_allegations", sa.JSON(), nullable=False),
        sa.Column("grounds", sa.JSON(), nullable=False),
        sa.Column("concluded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("report_id", name="pk_verdicts_seen"),
    )
    op.create_table(
        "clarifications",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=True),
        sa.Column("verdict_id", sa.String(36), nullable=True),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("subject_name", sa.String(100), nullable=False),
        sa.Column("subject_position", sa.String(100), nullable=False),
        sa.Column("subject_organization", sa.String(200), nullable=False),
        sa.Column("official_key", sa.String(64), nullable=False),
        sa.Column("refuted_allegations", sa.JSON(), nullable=False),
        sa.Column("grounds", sa.JSON(), nullable=False),
        sa.Column("mandatory", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("opened_by", sa.String(200), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("deadline", sa.Date(), nullable=False),
        sa.Column("consent", sa.Boolean(), nullable=True),
        sa.Column("consent_recorded_by", sa.String(200), nullable=True),
        sa.Column("consent_given_at", UTCDateTime(), nullable=True),
        sa.Column("methods", sa.JSON(), nullable=False),
        sa.Column("scope", sa.String(30), nullable=True),
        sa.Column("written_issued_on", sa.Date(), nullable=True),
        sa.Column("written_reference", sa.String(200), nullable=True),
        sa.Column("outcome", sa.String(20), nullable=True),
        sa.Column("closed_at", UTCDateTime(), nullable=True),
        sa.Column("follow_up_due", sa.Date(), nullable=True),
        sa.Column("follow_up_done_on", sa.Date(), nullable=True),
        sa.Column("follow_up_notes", sa.Text(), nullable=True),
        sa.Column("follow_up_by", sa.String(200), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_clarifications"),
    )
    for column in ("report_id", "region_code", "official_key", "status", "opened_at", "follow_up_due"):
        op.create_index(f"ix_clarifications_{column}", "clarifications", [column])
    op.create_index("uq_clarifications_live_report", "clarifications", ["report_id"], unique=True,
                    postgresql_where=sa.text("outcome IS DISTINCT FROM 'cancelled'"),
                    sqlite_where=sa.text("outcome IS NOT 'cancelled'"))
    op.create_table(
        "meetings",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("clarification_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("starts_at", UTCDateTime(), nullable=False),
        sa.Column("ends_at", UTCDateTime(), nullable=False),
        sa.Column("venue_id", sa.String(100), nullable=False),
        sa.Column("official_key", sa.String(64), nullable=False),
        sa.Column("host_organization", sa.String(200), nullable=False),
        sa.Column("scope", sa.String(30), nullable=False),
        sa.Column("invitees", sa.JSON(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.Column("attendance", sa.Integer(), nullable=True),
        sa.Column("minutes_summary", sa.Text(), nullable=True),
        sa.Column("bulletin_issued", sa.Boolean(), nullable=True),
        sa.Column("held_recorded_by", sa.String(200), nullable=True),
        sa.Column("held_recorded_at", UTCDateTime(), nullable=True),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["clarification_id"], ["clarifications.id"],
                                name="fk_meetings_clarification_id_clarifications", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_meetings"),
    )
    op.create_index("ix_meetings_clarification_id", "meetings", ["clarification_id"])
    op.create_index("ix_meetings_venue_time", "meetings", ["venue_id", "starts_at"])
    op.create_index("ix_meetings_official_time", "meetings", ["official_key", "starts_at"])


def downgrade() -> None:
    op.drop_table("meetings")
    op.drop_table("clarifications")
    op.drop_table("verdicts_seen")
