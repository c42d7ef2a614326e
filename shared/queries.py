"""Read queries every service writes the same way: one row in the reader's jurisdiction, one keyset
page of a list, the rows that belong to each of a page's items, and a period of China-local days on
a timestamp column."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, Protocol, TypeVar

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from shared.auth import Principal
from shared.calendar import local_day_bounds
from shared.errors import DomainError
from shared.pagination import cursor_filter, page_after

T = TypeVar("T")


class Regional(Protocol):
    @property
    def region_code(self) -> str: ...


R = TypeVar("R", bound=Regional)


async def served(session: AsyncSession, stmt: Select[R], principal: Principal, missing: DomainError) -> R:
    """The row `stmt` selects when it lies in the principal's jurisdiction; `missing` (a 404) when
    there is none or it lies elsewhere, so a row outside the jurisdiction is never revealed."""
    row = await session.scalar(stmt)
    if row is None or not principal.serves(row.region_code):
        raise missing
    return row


async def keyset_page(session: AsyncSession, stmt: Select[T], *, at: InstrumentedAttribute[Any],
                      ident: InstrumentedAttribute[Any], cursor: str | None, limit: int
                      ) -> tuple[list[T], str | None]:
    """Up to `limit` rows of `stmt` ordered by (`at`, `ident`), after `cursor`, and the cursor of the
    next page (None on the last). 422 for a cursor this service did not issue."""
    stmt = stmt.order_by(at, ident).limit(limit + 1)
    after = cursor_filter(at, ident, cursor)
    if after is not None:
        stmt = stmt.where(after)
    rows = list((await session.scalars(stmt)).all())
    return page_after(rows, limit, at=at.key, ident=ident.key)


async def rows_by(session: AsyncSession, entity: type[T], parent: InstrumentedAttribute[str], keys: list[str],
                  *order_by: InstrumentedAttribute[Any] | ColumnElement[Any]) -> dict[str, list[T]]:
    """For each key, the rows of `entity` whose `parent` column holds it, in `order_by` order (one query;
    none for no keys)."""
    out: dict[str, list[T]] = {key: [] for key in keys}
    if keys:
        for row in await session.scalars(select(entity).where(parent.in_(keys)).order_by(*order_by)):
            out[getattr(row, parent.key)].append(row)
    return out


def within_days(column: InstrumentedAttribute[Any], first: date | None, last: date | None
                ) -> Iterable[ColumnElement[bool]]:
    """SQL for "`column` falls on a China-local day from `first` to `last`, both included" (either
    end may be open)."""
    start, end = local_day_bounds(first, last)
    if start is not None:
        yield column >= start
    if end is not None:
        yield column < end


def on_days(column: InstrumentedAttribute[Any], first: date | None, last: date | None
            ) -> list[ColumnElement[bool]]:
    """SQL for "the calendar-date `column` lies from `first` to `last`, both included" (either end
    may be open): `within_days` for a column that holds a day, not a moment."""
    return [*([column >= first] if first else []), *([column <= last] if last else [])]

