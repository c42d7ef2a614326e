"""Keyset cursors, with plain values (issue #24's harness found these unheld): a cursor says where the
last page ended and nothing else; anything a client makes up is a 422 naming the field, never a query; a
page is cut after exactly `limit` rows and the next cursor points at its last row."""

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest
from sqlalchemy import Column, DateTime, MetaData, String, Table

from shared.pagination import InvalidCursor, cursor_filter, decode_cursor, encode_cursor, page_after

AT = datetime(2026, 11, 2, 9, 0, tzinfo=timezone(timedelta(hours=8)))


def made_up(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def test_a_cursor_round_trips_its_moment_and_id_exactly():
    for ident in ("r-1", "x" * 200, "报告-7"):
        cursor = encode_cursor(AT, ident)
        assert "=" not in cursor and decode_cursor(cursor) == (AT, ident)
        assert decode_cursor(cursor)[0].utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize("value", [
    ["2026-11-02T09:00:00", "r-1"],  # no offset: not a moment
    ["2026-11-02T09:00:00+08:00", 7],  # the id is not text
    ["2026-11-02T09:00:00+08:00", "a\x00b"],  # NUL
    ["2026-11-02T09:00:00+08:00", "x" * 201],  # longer than any id
    ["1899-12-31T23:00:00+00:00", "r-1"],  # before the columns' calendar
    ["9999-01-01T00:00:00+00:00", "r-1"],  # after it
    ["2026-11-02T09:00:00+08:00"],  # not a pair
    {"at": "2026-11-02T09:00:00+08:00"},
    "just text",
])
def test_a_made_up_cursor_is_a_422_naming_the_field(value):
    with pytest.raises(InvalidCursor) as refused:
        decode_cursor(made_up(value))
    assert refused.value.status == 422 and refused.value.code == "invalid_cursor"
    [error] = refused.value.extra["errors"]
    assert error["field"] == "cursor" and error["type"] == "invalid_cursor"
    assert str(error["message"]) == "not a cursor from a previous page"
    assert str(refused.value) == "the cursor was not issued by this service"


def test_the_calendars_first_and_last_years_are_still_cursors():
    for moment in ("1900-01-01T00:00:00+00:00", "9998-12-31T23:59:59+00:00"):
        assert decode_cursor(made_up([moment, "r-1"]))[0] == datetime.fromisoformat(moment)


@pytest.mark.parametrize("cursor", ["", "%%%", "bm90IGpzb24", made_up(["x", "r-1"])])
def test_a_cursor_that_is_not_ours_at_all_is_a_422(cursor):
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)


def rows(n):
    return [SimpleNamespace(at=AT + timedelta(minutes=i), ident=f"r-{i}") for i in range(n)]


def test_a_page_is_cut_after_limit_rows_and_its_cursor_points_at_the_last_one_shown():
    page, cursor = page_after(rows(4), 3, at="at", ident="ident")
    assert [r.ident for r in page] == ["r-0", "r-1", "r-2"]
    assert decode_cursor(cursor) == (AT + timedelta(minutes=2), "r-2")


def test_the_last_page_has_no_cursor():
    for n in (0, 2, 3):
        page, cursor = page_after(rows(n), 3, at="at", ident="ident")
        assert len(page) == n and cursor is None


def test_the_cursor_filter_continues_after_the_moment_and_breaks_ties_by_id():
    table = Table("t", MetaData(), Column("at", DateTime(timezone=True)), Column("id", String))
    assert cursor_filter(table.c.at, table.c.id, None) is None
    where = cursor_filter(table.c.at, table.c.id, encode_cursor(AT.astimezone(UTC), "r-2"))
    sql = str(where.compile(compile_kwargs={"literal_binds": False}))
    assert sql == "t.at > :at_1 OR t.at = :at_2 AND t.id > :id_1"
    params = where.compile().params
    assert params == {"at_1": AT, "at_2": AT, "id_1": "r-2"}


def test_on_days_bounds_a_calendar_day_column_with_both_ends_included():
    from datetime import date

    from shared.queries import on_days

    table = Table("d", MetaData(), Column("day", String))
    first, last = date(2026, 11, 1), date(2026, 11, 30)
    assert [str(c.compile()) for c in on_days(table.c.day, first, last)] == ["d.day >= :day_1", "d.day <= :day_1"]
    assert [c.compile().params for c in on_days(table.c.day, first, last)] == [{"day_1": first}, {"day_1": last}]
    assert [str(c.compile()) for c in on_days(table.c.day, None, last)] == ["d.day <= :day_1"]
    assert [str(c.compile()) for c in on_days(table.c.day, first, None)] == ["d.day >= :day_1"]
    assert on_days(table.c.day, None, None) == []


def test_cursors_of_every_length_round_trip():
    lengths = set()
    for n in range(40):
        for tail in ("", "a", "ab"):
            ident = "x" * n + tail
            cursor = encode_cursor(AT, ident)
            lengths.add(len(cursor) % 20)
            assert decode_cursor(cursor) == (AT, ident)
    assert {len_ % 4 for len_ in lengths} == {0, 2, 3}  # every length unpadded base64 can have
    assert 10 in lengths  # a length where padding to a multiple of 5 instead of 4 would drop what is needed


class Recording:
    """A stand-in session that keeps the statement keyset_page sends and answers with given rows."""

    def __init__(self, rows):
        self.rows, self.sent = rows, []

    async def scalars(self, stmt):
        self.sent.append(stmt)
        return SimpleNamespace(all=lambda: self.rows)


async def test_a_keyset_page_asks_the_database_for_one_row_more_than_the_page_in_at_then_id_order():
    from sqlalchemy import select

    from shared.queries import keyset_page

    table = Table("k", MetaData(), Column("at", DateTime(timezone=True)), Column("id", String))
    session = Recording([SimpleNamespace(at=r.at, id=r.ident) for r in rows(4)])
    page, cursor = await keyset_page(session, select(table), at=table.c.at, ident=table.c.id, cursor=None, limit=3)
    assert len(page) == 3 and cursor is not None
    [stmt] = session.sent
    compiled = stmt.compile()
    assert str(compiled).endswith("ORDER BY k.at, k.id\n LIMIT :param_1") and compiled.params["param_1"] == 4
    after = encode_cursor(AT, "r-2")
    await keyset_page(session, select(table), at=table.c.at, ident=table.c.id, cursor=after, limit=3)
    assert "WHERE k.at > :at_1 OR k.at = :at_2 AND k.id > :id_1" in str(session.sent[-1].compile())


def test_a_period_of_days_includes_its_first_midnight_and_stops_before_the_next_days():
    from datetime import date

    from shared.calendar import CHINA_TZ
    from shared.queries import within_days

    table = Table("w", MetaData(), Column("at", DateTime(timezone=True)))
    since, until = within_days(table.c.at, date(2026, 11, 2), date(2026, 11, 3))
    assert str(since.compile()) == "w.at >= :at_1" and str(until.compile()) == "w.at < :at_1"
    assert since.compile().params["at_1"] == datetime(2026, 11, 2, tzinfo=CHINA_TZ)
    assert until.compile().params["at_1"] == datetime(2026, 11, 4, tzinfo=CHINA_TZ)
