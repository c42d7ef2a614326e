"""separation of duties: who recorded what on a case, correction requests, the concluding officer's level

Revision ID: verification_0004
Revises: verification_0003
Create Date: 2026-12-01

The ledger of recordings is filled from what the cases already show (each allegation's finding,
the assessments, the verdicts' concluding officers) and from the audit trail, which also names
those whose findings or assessments were later replaced.
"""
import uuid
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = "verification_0004"
down_revision = "verification_0003"
branch_labels = None
depends_on = None

AUDITED_ACTS = {"findings.recorded": "findings", "malice_assessment.recorded": "malice_assessment",
                "fault_tolerance.recorded": "fault_tolerance", "case.concluded": "conclusion"}


def upgrade() -> None:
    recordings = op.create_table(
        "case_recordings",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("act", sa.String(30), nullable=False),
        sa.Column("recorded_by", sa.String(200), nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_case_recordings_case_id_cases",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_case_recordings"),
    )
    op.create_index("ix_case_recordings_case_id", "case_recordings", ["case_id"])
    op.create_table(
        "corrections",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("report_id", sa.String(36), nullable=False),
        sa.Column("region_code", sa.String(6), nullable=False),
        sa.Column("verdict_id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("requested_by", sa.String(200), nullable=False),
        sa.Column("requested_by_level", sa.String(20), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("min_approver_level", sa.String(20), nullable=False),
        sa.Column("decided_by", sa.String(200), nullable=True),
        sa.Column("decided_by_level", sa.String(20), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("decision_reason", sa.Text(), nullable=True),
        sa.Column("successor_case_id", sa.String(36), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name="fk_corrections_case_id_cases", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_corrections"),
    )
    op.create_index("ix_corrections_case_id", "corrections", ["case_id"])
    op.create_index("ix_corrections_report_id", "corrections", ["report_id"])
    op.create_index("ix_corrections_status", "corrections", ["status"])
    op.create_index("uq_corrections_pending_case", "corrections", ["case_id"], unique=True,
                    postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'"))
    with op.batch_alter_table("verdicts") as batch:
        batch.add_column(sa.Column("concluded_by_level", sa.String(20), nullable=True))
    op.bulk_insert(recordings, _recorded_so_far())


def _recorded_so_far() -> list[dict[str, Any]]:
    """One row per (case, act, officer) the cases and the audit trail show, at its earliest known time."""
    conn = op.get_bind()
    cases = sa.table("cases", sa.column("id"), sa.column("malice_assessment", sa.JSON()),
                     sa.column("fault_tolerance", sa.JSON()), sa.column("updated_at", UTCDateTime()))
    allegations = sa.table("case_allegations", sa.column("case_id"), sa.column("finding_recorded_by"),
                           sa.column("finding_recorded_at", UTCDateTime()))
    verdicts = sa.table("verdicts", sa.column("case_id"), sa.column("concluded_by"),
                        sa.column("concluded_at", UTCDateTime()))
    audit = sa.table("audit_records", sa.column("actor"), sa.column("action"), sa.column("object_type"),
                     sa.column("object_id"), sa.column("at", UTCDateTime()))
    seen: dict[tuple[str, str, str], datetime] = {}

    def saw(case_id: str, act: str, officer: str | None, at: datetime | None) -> None:
        if officer:
            key = (case_id, act, officer)
            at = at or datetime.now(UTC)
            seen[key] = min(seen.get(key, at), at)

    case_ids = set()
    for case_id, malice, fault_tolerance, updated_at in conn.execute(sa.select(
            cases.c.id, cases.c.malice_assessment, cases.c.fault_tolerance, cases.c.updated_at)):
        case_ids.add(case_id)
        for act, assessment in (("malice_assessment", malice), ("fault_tolerance", fault_tolerance)):
            if isinstance(assessment, dict):
                saw(case_id, act, assessment.get("recorded_by"), updated_at)
    for case_id, officer, at in conn.execute(sa.select(
            allegations.c.case_id, allegations.c.finding_recorded_by, allegations.c.finding_recorded_at)):
        saw(case_id, "findings", officer, at)
    for case_id, officer, at in conn.execute(sa.select(
            verdicts.c.case_id, verdicts.c.concluded_by, verdicts.c.concluded_at)):
        saw(case_id, "conclusion", officer, at)
    for officer, action, case_id, at in conn.execute(sa.select(
            audit.c.actor, audit.c.action, audit.c.object_id, audit.c.at).where(
            audit.c.object_type == "case", audit.c.action.in_(list(AUDITED_ACTS)))):
        if case_id in case_ids:
            saw(case_id, AUDITED_ACTS[action], officer, at)
    return [{"id": str(uuid.uuid4()), "case_id": case_id, "act": act, "recorded_by": officer, "recorded_at": at}
            for (case_id, act, officer), at in sorted(seen.items())]


def downgrade() -> None:
    with op.batch_alter_table("verdicts") as batch:
        batch.drop_column("concluded_by_level")
    op.drop_table("corrections")
    op.drop_table("case_recordings")
