"""the venue register: a name, an address and bookable hours per venue and region; meetings keep the
venue's name and address as booked

Venues already used by meetings are registered with their id as name, the region of the first
clarification that met there, the default working hours and an address saying it was not recorded,
so every meeting's venue is in the register and officers can complete the entries.

Revision ID: clarification_0008
Revises: clarification_0007
Create Date: 2026-12-01
"""
from datetime import UTC, datetime, time

import sqlalchemy as sa
from alembic import op

from shared.db import UTCDateTime

revision = "clarification_0008"
down_revision = "clarification_0007"
branch_labels = None
depends_on = None

UNRECORDED = "（场所登记前的会议，地址未登记）"


def upgrade() -> None:
    venues = op.create_table(
        "venues",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("region_code", sa.String(6), nullable=False, index=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("address", sa.String(200), nullable=False),
        sa.Column("opens_at", sa.Time(), nullable=False),
        sa.Column("closes_at", sa.Time(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("venue_name", sa.String(100), nullable=True))
        batch.add_column(sa.Column("venue_address", sa.String(200), nullable=True))
    used = op.get_bind().execute(sa.text(
        "SELECT m.venue_id, MIN(c.region_code) FROM meetings m JOIN clarifications c ON c.id = m.clarification_id "
        "GROUP BY m.venue_id")).all()
    now = datetime.now(UTC)
    if used:
        op.bulk_insert(venues, [
            {"id": venue_id, "region_code": region, "name": venue_id, "address": UNRECORDED,
             "opens_at": time(8, 30), "closes_at": time(17, 30), "active": True,
             "updated_by": "migration:clarification_0008", "created_at": now, "updated_at": now}
            for venue_id, region in used])


def downgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("venue_address")
        batch.drop_column("venue_name")
    op.drop_table("venues")
