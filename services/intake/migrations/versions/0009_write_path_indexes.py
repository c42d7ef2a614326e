"""reports: the indexes no query needs are dropped, and the retention index holds concluded reports only (#22, item 2)

`ix_reports_reporter_blind_index` served no query of intake's (the repeat check finds earlier reports
through the subject key and compares blind indexes in memory; verification keeps its own index on its
copy); `ix_reports_flagged` indexed a boolean of every report: the officers' list of flagged reports is
served instead by a partial index of the flagged ones in the list's order (receipt time, id), which an
unflagged report (most) never enters. The retention sweep looks for concluded reports
by conclusion time and id: a partial index of the concluded ones serves it, and a new report (never
concluded) no longer enters it. Three index entries fewer per unflagged submission.

The subject key (a SHA-256, random) is only ever looked up by equality, by the repeat check: on
PostgreSQL a hash index serves it at a third of the b-tree's size, so the pages a new report's key
lands on stay in memory far longer as reports accumulate (#22, item 3).

Revision ID: intake_0009
Revises: intake_0008
Create Date: 2026-12-10
"""
import sqlalchemy as sa
from alembic import op

revision = "intake_0009"
down_revision = "intake_0008"
branch_labels = None
depends_on = None

CONCLUDED = sa.text("concluded_at IS NOT NULL")
FLAGGED = sa.text("flagged")


def upgrade() -> None:
    op.drop_index("ix_reports_subject_key", table_name="reports")
    op.create_index("ix_reports_subject_key", "reports", ["subject_key"], postgresql_using="hash")
    op.drop_index("ix_reports_reporter_blind_index", table_name="reports")
    op.drop_index("ix_reports_flagged", table_name="reports")
    op.create_index("ix_reports_flagged", "reports", ["received_at", "id"],
                    postgresql_where=FLAGGED, sqlite_where=FLAGGED)
    op.drop_index("ix_reports_retention", table_name="reports")
    op.create_index("ix_reports_retention", "reports", ["concluded_at", "id"],
                    postgresql_where=CONCLUDED, sqlite_where=CONCLUDED)


def downgrade() -> None:
    op.drop_index("ix_reports_retention", table_name="reports")
    op.create_index("ix_reports_retention", "reports", ["personal_data_purged_at", "concluded_at"])
    op.drop_index("ix_reports_flagged", table_name="reports")
    op.create_index("ix_reports_flagged", "reports", ["flagged"])
    op.create_index("ix_reports_reporter_blind_index", "reports", ["reporter_blind_index"])
    op.drop_index("ix_reports_subject_key", table_name="reports")
    op.create_index("ix_reports_subject_key", "reports", ["subject_key"])
