"""shared.queries on a real database (SQLite, or PostgreSQL with ZM_TEST_DATABASE=postgresql): pages
follow their cursor to the end, a parent's rows come grouped and ordered, a row elsewhere is a 404,
and a period of China-local days includes both ends."""

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import String, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.auth import Principal
from shared.calendar import CHINA_TZ
from shared.db import UTCDateTime, session_factory
from shared.errors import NotFound
from shared.pagination import InvalidCursor
from shared.queries import keyset_page, rows_by, served, within_days


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "query_items"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    parent_id: Mapped[str] = mapped_column(String(36))
    region_code: Mapped[str] = mapped_column(String(6))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


START = datetime(2026, 11, 2, 9, 0, tzinfo=CHINA_TZ)


@pytest.fixture
async def sessions(new_database, engine_for):
    engine = engine_for(await new_database("clarification"))
    async with engine.begin() as conn:
        await conn.run_sync(Base.metadata.create_all)
    factory = session_factory(engine)
    async with factory() as s, s.begin():
        # Two items share each moment, so the id breaks the tie; parents p0..p2, regions 330502 and 330102.
        s.add_all(Item(id=f"i{n:02}", parent_id=f"p{n % 3}", region_code="330502" if n % 2 else "330102",
                       at=START + timedelta(hours=n // 2)) for n in range(11))
    return factory


async def test_keyset_pages_follow_the_cursor_through_every_row_once_in_order(sessions):
    seen, cursor = [], None
    async with sessions() as s:
        while True:
            page, cursor = await keyset_page(s, select(Item), at=Item.at, ident=Item.id, cursor=cursor, limit=3)
            seen.append([i.id for i in page])
            if cursor is None:
                break
    assert seen == [["i00", "i01", "i02"], ["i03", "i04", "i05"], ["i06", "i07", "i08"], ["i09", "i10"]]


async def test_keyset_pages_keep_the_callers_filters_and_refuse_a_foreign_cursor(sessions):
    async with sessions() as s:
        page, cursor = await keyset_page(s, select(Item).where(Item.parent_id == "p1"), at=Item.at, ident=Item.id,
                                         cursor=None, limit=10)
        assert [i.id for i in page] == ["i01", "i04", "i07", "i10"] and cursor is None
        with pytest.raises(InvalidCursor):
            await keyset_page(s, select(Item), at=Item.at, ident=Item.id, cursor="not-ours", limit=3)


async def test_rows_by_groups_each_parents_rows_in_order_and_keeps_parents_without_rows(sessions):
    async with sessions() as s:
        grouped = await rows_by(s, Item, Item.parent_id, ["p2", "p0", "nobody"], Item.at.desc(), Item.id)
        assert {k: [i.id for i in v] for k, v in grouped.items()} == {
            "p2": ["i08", "i05", "i02"], "p0": ["i09", "i06", "i03", "i00"], "nobody": []}
        assert await rows_by(s, Item, Item.parent_id, []) == {}


async def test_served_answers_a_row_in_the_jurisdiction_and_the_404_for_one_elsewhere_or_none(sessions):
    missing = NotFound("no such item in your jurisdiction")
    officer = Principal(subject="officer", scopes=frozenset(), region="3305", org_level="county")
    async with sessions() as s:
        assert (await served(s, select(Item).where(Item.id == "i01"), officer, missing)).id == "i01"
        for ident in ("i00", "nothing"):  # i00 lies in 330102, outside 3305
            with pytest.raises(NotFound) as raised:
                await served(s, select(Item).where(Item.id == ident), officer, missing)
            assert raised.value is missing


async def test_within_days_includes_both_china_local_days_whole(sessions):
    async def between(first, last):
        async with sessions() as s:
            return [i.id for i in await s.scalars(select(Item).where(*within_days(Item.at, first, last))
                                                 .order_by(Item.id))]

    # Items i00..i10 stand at 09:00..14:00 China time on 2 November: 01:00..06:00 UTC the same day.
    day = START.date()
    assert await between(day, day) == [f"i{n:02}" for n in range(11)]
    assert await between(None, day - timedelta(days=1)) == []
    assert await between(day + timedelta(days=1), None) == []
    assert len(await between(None, None)) == 11
    async with sessions() as s, s.begin():  # 23:30 China time on 2 November is 15:30 UTC: still that day
        s.add(Item(id="late", parent_id="p9", region_code="330502",
                   at=datetime(2026, 11, 2, 15, 30, tzinfo=UTC)))
    assert "late" in await between(date(2026, 11, 2), date(2026, 11, 2))
    assert "late" not in await between(date(2026, 11, 3), None)
