"""The officer paths' data access on Core statements (#22): a clarification with its meetings, a
meeting's clarification, a venue and the live bookings around a slot are read, and what a step
changed is written, with statements built once, without a Session's identity map, unit of work or
loader strategies.

The rows come back as the mapped classes (Clarification, Meeting, Venue) filled straight from the
row and detached from any Session: the use cases and the response schemas read and set the same
attributes as before, and the instrumentation keeps what a step changed (`committed_state`), so
`save` writes exactly those columns, one UPDATE per changed row and one INSERT per new one.

Reading to change takes two statements on PostgreSQL, not one: the clarification row locked, then
its meetings. Under READ COMMITTED a statement reads from the snapshot it started with, so meetings
joined into the locking statement would be those from before a concurrent change it waited for
(a meeting recorded as held, a new booking) -- the lock would hold, the children would be stale. Every
change to a meeting is made under its clarification's lock, so meetings read after the lock are
current. A plain read (no lock) is one statement with the meetings joined.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Table, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import attributes, configure_mappers

from services.clarification.models import Clarification, Meeting, Venue
from shared.db import dialect_name
from shared.uow import UnitOfWork

T = TypeVar("T", Clarification, Meeting, Venue)
# Instances made with new_instance() skip the constructor, which is what configures the mappers on
# first use: without this, a process whose first request took these paths could not set an attribute.
configure_mappers()

CLARIFICATIONS: Table = Clarification.__table__  # type: ignore[assignment]
MEETINGS: Table = Meeting.__table__  # type: ignore[assignment]
VENUES: Table = Venue.__table__  # type: ignore[assignment]
_C = [c.key for c in CLARIFICATIONS.c]
_M = [c.key for c in MEETINGS.c]
_V = [c.key for c in VENUES.c]
_MEETING_COLUMNS = [MEETINGS.c[k].label(f"m_{k}") for k in _M]
_JOINED = CLARIFICATIONS.outerjoin(MEETINGS, MEETINGS.c.clarification_id == CLARIFICATIONS.c.id)
_OF_MEETING = select(MEETINGS.c.clarification_id).where(MEETINGS.c.id == bindparam("meeting_id")).scalar_subquery()

# A plain read: the clarification and its meetings in one statement (one snapshot).
READ = select(CLARIFICATIONS, *_MEETING_COLUMNS).select_from(_JOINED).where(
    CLARIFICATIONS.c.id == bindparam("id")).order_by(MEETINGS.c.starts_at)
READ_OF_MEETING = select(CLARIFICATIONS, *_MEETING_COLUMNS).select_from(_JOINED).where(
    CLARIFICATIONS.c.id == _OF_MEETING).order_by(MEETINGS.c.starts_at)
# To change: the clarification locked (by its id, or by one of its meetings' ids), then its meetings.
LOCK = select(CLARIFICATIONS).where(CLARIFICATIONS.c.id == bindparam("id")).with_for_update()
LOCK_OF_MEETING = select(CLARIFICATIONS).where(CLARIFICATIONS.c.id == _OF_MEETING).with_for_update()
MEETINGS_OF = select(MEETINGS).where(MEETINGS.c.clarification_id == bindparam("id")).order_by(MEETINGS.c.starts_at)
VENUE = select(VENUES).where(VENUES.c.id == bindparam("id"))
BOOKING_COLUMNS = (MEETINGS.c.id, MEETINGS.c.starts_at, MEETINGS.c.ends_at, MEETINGS.c.venue_id,
                   MEETINGS.c.official_key)
_UPDATE = {table.name: update(table).where(table.c.id == bindparam("_key")) for table in (CLARIFICATIONS, MEETINGS)}
_INSERT = {table.name: insert(table) for table in (CLARIFICATIONS, MEETINGS)}
_COLUMNS = {table.name: frozenset(c.key for c in table.c) for table in (CLARIFICATIONS, MEETINGS, VENUES)}


def _detached(cls: type[T], values: dict[str, Any]) -> T:
    """An instance of the mapped class holding `values` as loaded (nothing changed yet), in no Session."""
    manager = attributes.manager_of_class(cls)
    obj: T = manager.new_instance()
    state = attributes.instance_state(obj)
    state.dict.update(values)
    state.key = (cls, (values["id"],), None)
    return obj


def _clarification(values: dict[str, Any], meetings: list[Meeting]) -> Clarification:
    values["meetings"] = meetings
    return _detached(Clarification, values)


async def _rows(uow: UnitOfWork, stmt: Any, params: dict[str, Any]) -> Sequence[Any]:
    conn = await uow.session.connection()
    return (await conn.execute(stmt, params)).all()


async def clarification(uow: UnitOfWork, *, clarification_id: str | None = None, meeting_id: str | None = None,
                        for_update: bool = False) -> Clarification | None:
    """The clarification (by its id, or the one `meeting_id` belongs to) with its meetings, oldest
    first; locked until commit `for_update`. None when there is none."""
    params = {"id": clarification_id} if meeting_id is None else {"meeting_id": meeting_id}
    if for_update:
        rows = await _rows(uow, LOCK if meeting_id is None else LOCK_OF_MEETING, params)
        if not rows:
            return None
        values = dict(zip(_C, rows[0], strict=True))
        children = await _rows(uow, MEETINGS_OF, {"id": values["id"]})
        return _clarification(values, [_detached(Meeting, dict(zip(_M, r, strict=True))) for r in children])
    rows = await _rows(uow, READ if meeting_id is None else READ_OF_MEETING, params)
    if not rows:
        return None
    width = len(_C)
    meetings = [_detached(Meeting, dict(zip(_M, r[width:], strict=True))) for r in rows if r[width] is not None]
    return _clarification(dict(zip(_C, rows[0][:width], strict=True)), meetings)


async def venue(uow: UnitOfWork, venue_id: str) -> Venue | None:
    rows = await _rows(uow, VENUE, {"id": venue_id})
    return _detached(Venue, dict(zip(_V, rows[0], strict=True))) if rows else None


def _lock_key(name: str) -> int:
    """The advisory lock key of a named thing, as shared.db.lock_names computes it."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def lock_names(uow: UnitOfWork, *names: str) -> None:
    """shared.db.lock_names in one statement: the same transaction-scoped advisory locks, taken in the
    same (sorted) order, so it serializes with every other taker of those names."""
    if dialect_name(uow.session) != "postgresql":
        return  # SQLite: the write transaction already holds the database's write lock
    keys = sorted({_lock_key(n) for n in names})
    await _rows(uow, _LOCKS[len(keys)], {f"k{i}": k for i, k in enumerate(keys)})


# One statement per number of keys: the target list is evaluated left to right, in key order.
_LOCKS = {n: select(*[func.pg_advisory_xact_lock(bindparam(f"k{i}", type_=BigInteger()))
                      for i in range(n)]) for n in (1, 2)}


async def bookings(uow: UnitOfWork, *, venue_id: str, official: str | None, since: datetime, until: datetime,
                   statuses: Sequence[str], exclude: str | None = None) -> Sequence[Any]:
    """(id, starts_at, ends_at, venue_id, official_key) of the meetings in `statuses` at the venue or of
    the official that end after `since` and start before `until`."""
    who = [MEETINGS.c.venue_id == venue_id] + ([MEETINGS.c.official_key == official] if official else [])
    stmt = select(*BOOKING_COLUMNS).where(or_(*who), MEETINGS.c.status.in_(statuses),
                                          MEETINGS.c.starts_at < until, MEETINGS.c.ends_at > since)
    if exclude is not None:
        stmt = stmt.where(MEETINGS.c.id != exclude)
    return await _rows(uow, stmt, {})


async def save(uow: UnitOfWork, *objects: Clarification | Meeting) -> None:
    """Write what changed on each object since it was read (one UPDATE of those columns, none when
    nothing did), or INSERT it when it is new; in the unit of work's transaction."""
    for obj in objects:
        state = attributes.instance_state(obj)
        table = MEETINGS.name if isinstance(obj, Meeting) else CLARIFICATIONS.name
        columns = _COLUMNS[table]
        if state.key is None:
            values = {k: v for k, v in state.dict.items() if k in columns}
            await _rows_none(uow, _INSERT[table], values)
            state.key = (type(obj), (values["id"],), None)
        else:
            changed = {k: state.dict[k] for k in state.committed_state if k in columns}
            if changed:
                await _rows_none(uow, _UPDATE[table], {"_key": state.dict["id"], **changed})
        state.committed_state.clear()


async def _rows_none(uow: UnitOfWork, stmt: Any, params: dict[str, Any]) -> None:
    conn = await uow.session.connection()
    await conn.execute(stmt, params)
