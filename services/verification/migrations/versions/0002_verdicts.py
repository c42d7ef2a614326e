"""verdicts: findings, assessments, due dates, triage signals, verdict records, corrections

Revision ID: verification_0002
Revises: verification_0001
Create Date: 2026-11-21
"""
import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = "verification_0002"
down_revision = "verification_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.drop_constraint("uq_cases_report_id", type_="unique")
        batch.add_column(sa.Column("linked_report_ids", sa.JSON(), nullable=False, server_default=sa.text("'[]'")))
        batch.add_column(sa.Column("signals", sa.JSON(), nullable=False, server_default=sa.text("'{}'")))
        batch.add_column(sa.Column("acceptance_notice_due", sa.Date(), nullable=True))
        batch.add_column(sa.Column("verification_due", sa.Date(), nullable=False,
                                   server_default=sa.text("'2099-12-31'")))
        batch.add_column(sa.Column("malice_assessment", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("fault_tolerance", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("verdict", sa.String(20), nullable=True))
        batch.add_column(sa.Column("fault_tolerance_exempted", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
        batch.add_column(sa.Column("finalized_at", UTCDateTime(), nullable=True))
        batch.add_column(sa.Column("supersedes_case_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("superseded_by_case_id", sa.String(36), nullable=True))
        batch.add_column(sa.Column("updated_at", UTCDateTime(), nullable=False,
                                   server_default=sa.text("CURRENT_TIMESTAMP")))
    with op.batch_alter_table("cases") as batch:
        for column in ("linked_report_ids", "signals", "verification_due", "fault_tolerance_exempted", "updated_at"):
            batch.alter_column(column, server_default=None)
    op.create_index("ix_cases_report_id", "cases", ["report_id"])
    op.create_index("ix_cases_verdict", "cases", ["verdict"])
    op.create_index("ix_cases_verification_due", "cases", ["verification_due"])
    op.create_index("uq_cases_current_report", "cases", ["report_id"], unique=True,
                    postgresql_where=sa.text("status != 'superseded'"),
                    sqlite_where=sa.text("status != 'superseded'"))
    with op.batch_alter_table("case_allegations") as batch:
        batch.add_column(sa.Column("finding", sa.String(30), nullable=True))
        batch.add_column(sa.Column("evidence_notes", sa.Text(), nullable=True))
        batch.add_column(sa.Column("finding_recorded_by", sa.String(200), nullable=True))
        batch.add_column(sa.Column("finding_recorded_at", UTCDateTime(), nullable=True))
    op.create_table(
        "verdicts",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("verdict", sa.String(20), nullable=False),
        sa.Column("fault_tolerance_exempted", sa.Boolean(), nullable=False),
        sa.Column("malice_kind", sa.String(30), nullable=True),
        sa.Column("severity", sa.String(20), nullable=True),
        sa.Column("refuted_allegation_ids", sa.JSON(), nullable=False),
        sa.Column("rationale", sa.JSON(), nullable=False),
        sa.Column("findings_snapshot", sa.JSON(), nullable=False),
        sa.Column("concluded_by", sa.String(200), nullable=False),
        sa.Column("concluded_at", UTCDateTime(), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_by_level", sa.String(20), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("supersedes_verdict_id", sa.String(36), nullable=True),
        sa.Column("correction_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_verdicts_case_id_cases", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_verdicts"),
        sa.UniqueConstraint("report_id", "version", name="uq_verdicts_report_id"),
    )
    op.create_index("ix_verdicts_case_id", "verdicts", ["case_id"])
    op.create_index("ix_verdicts_report_id", "verdicts", ["report_id"])
    op.create_index("ix_verdicts_state", "verdicts", ["state"])


def downgrade() -> None:
    op.drop_table("verdicts")
    with op.batch_alter_table("case_allegations") as batch:
        for column in ("finding_recorded_at", "finding_recorded_by", "evidence_notes", "finding"):
            batch.drop_column(column)
    op.drop_index("uq_cases_current_report", "cases")
    op.drop_index("ix_cases_verification_due", "cases")
    op.drop_index("ix_cases_verdict", "cases")
    op.drop_index("ix_cases_report_id", "cases")
    with op.batch_alter_table("cases") as batch:
        for column in ("updated_at", "superseded_by_case_id", "supersedes_case_id", "finalized_at",
                       "fault_tolerance_exempted", "verdict", "fault_tolerance", "malice_assessment",
                       "verification_due", "acceptance_notice_due", "signals", "linked_report_ids"):
            batch.drop_column(column)
        batch.create_unique_constraint("uq_cases_report_id", ["report_id"])
