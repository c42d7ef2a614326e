"""The read side: officers' lists, the fast check by blind index, and the bulk export.

Every read derives an entry's status from its dates (domain.standing), so what a reader sees
never lags behind the sweep.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Sequence
from datetime import date
from typing import Any

import asyncpg
from sqlalchemy import ColumnElement, bindparam, func, make_url, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.credit_blacklist import domain
from services.credit_blacklist.domain import EntryStatus, Publication
from services.credit_blacklist.models import Entry
from services.credit_blacklist.schemas import CheckOut
from services.credit_blacklist.standing import standing, stands_in
from shared.auth import Principal
from shared.crypto import FieldCipher
from shared.db import in_region, is_sqlite
from shared.queries import keyset_page
from shared.uow import UnitOfWork


async def list_entries(
    *, uow: UnitOfWork, principal: Principal, today: date, region: str | None, status: EntryStatus | None,
    severity: str | None, report_id: str | None, cursor: str | None, limit: int,
) -> tuple[list[Entry], str | None]:
    """Entries in the principal's jurisdiction, oldest first, one page at a time."""
    effective = principal.narrow(region)
    if effective is None:
        return [], None
    stmt = select(Entry).where(in_region(Entry.region_code, effective))
    if status is not None:
        stmt = stmt.where(stands_in(status, today))
    if severity is not None:
        stmt = stmt.where(Entry.severity == severity)
    if report_id is not None:
        stmt = stmt.where(Entry.report_id == report_id)
    page, next_cursor = await keyset_page(uow.session, stmt, at=Entry.created_at, ident=Entry.id, cursor=cursor,
                                          limit=limit)
    if status is not None:
        # SQL cannot see a notice whose window *and* whole period lapsed unswept; the page may come short.
        page = [e for e in page if standing(e, today).status == status]
    return page, next_cursor


# --- the check -----------------------------------------------------------------------------------------

_LISTABLE = (EntryStatus.notified.value, EntryStatus.active.value)
_CHECK = (
    select(Entry.status, Entry.objection_deadline, Entry.period_months, Entry.listed_from, Entry.listed_until)
    .where(Entry.blind_index == bindparam("blind_index"), Entry.status.in_(_LISTABLE))
)
# The same query for asyncpg, which prepares it once per connection and then only binds and executes.
_CHECK_PG = (
    "SELECT status, objection_deadline, period_months, listed_from, listed_until FROM entries "
    "WHERE blind_index = $1 AND status = ANY($2::text[])"
)

# status, objection_deadline, period_months, listed_from, listed_until
Row = Sequence[Any]


class CheckReader:
    """Reads the facts of the listable entries behind one blind index (the only query a check makes)."""

    async def rows(self, blind_index: str) -> list[Row]:
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections the reader holds of its own."""


class EngineCheckReader(CheckReader):
    """Through SQLAlchemy Core: SQLite (development, one office) shares the service's engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def rows(self, blind_index: str) -> list[Row]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(_CHECK, {"blind_index": blind_index})).all())


class PostgresCheckReader(CheckReader):
    """Straight through an asyncpg pool of its own: one round trip of a prepared statement in autocommit
    (no BEGIN/ROLLBACK, no ORM, no SQL compilation), about a fifth of the CPU of the SQLAlchemy path. A
    connection that died is dropped by the pool after the one check it fails."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, url: str, *, max_size: int = 10) -> PostgresCheckReader:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        # min_size=0: no connection until the first check, so a consumer or relay process never holds
        # one, and an API started while the database is away comes up and reports it on /readyz.
        return cls(await asyncpg.create_pool(dsn, min_size=0, max_size=max_size, reset=_nothing_to_reset))

    async def rows(self, blind_index: str) -> list[Row]:
        return await self.pool.fetch(_CHECK_PG, blind_index, list(_LISTABLE))  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.pool.close()


async def _nothing_to_reset(conn: asyncpg.Connection) -> None:
    """These connections only ever run the check's SELECT: no session state (settings, LISTEN, advisory
    locks, cursors) to reset, so a released connection skips asyncpg's reset round trip. (An open
    transaction would still be rolled back by the pool.)"""


async def check_reader(url: str, main: AsyncEngine) -> CheckReader:
    """The reader checks go through: its own asyncpg pool on PostgreSQL, the main engine on SQLite."""
    if is_sqlite(url):
        return EngineCheckReader(main)
    return await PostgresCheckReader.open(url)


async def check(
    *, reader: CheckReader, cipher: FieldCipher, id_number: str, today: date, notified_counts: bool
) -> CheckOut:
    """Listed or not, in which status and until when: one indexed lookup by blind index, nothing
    else about the person."""
    listed = []
    for status, deadline, months, listed_from, listed_until in await reader.rows(
            cipher.blind_index(domain.normalize_id_number(id_number))):
        now = domain.standing(domain.EntryFacts(EntryStatus(status), deadline, months, listed_from, listed_until),
                              today)
        if domain.is_listed(now.status, notified_counts=notified_counts):
            listed.append(now)
    if not listed:
        return CheckOut(listed=False, status="not_listed", listed_until=None)
    active = any(s.status == EntryStatus.active for s in listed)
    return CheckOut(listed=True, status="active" if active else "notified",
                    listed_until=max(s.listed_until for s in listed if s.listed_until is not None))


# --- the export ----------------------------------------------------------------------------------------

EXPORT_FIELDS = ("entry_id", "name", "id_number", "reason_code", "severity", "legal_basis_ref",
                 "listed_from", "listed_until", "region_code")
EXPORT_BATCH = 500


def _exportable(region: str, today: date) -> ColumnElement[bool]:
    return (in_region(Entry.region_code, region) & (Entry.publication == Publication.public.value)
            & stands_in(EntryStatus.active, today))


async def count_exportable(*, uow: UnitOfWork, region: str, today: date) -> int:
    return int(await uow.session.scalar(
        select(func.count()).select_from(Entry).where(_exportable(region, today))) or 0)


async def exported_entries(
    *, sessions: async_sessionmaker[AsyncSession], cipher: FieldCipher, region: str, today: date
) -> AsyncIterator[dict[str, Any]]:
    """Active public entries in `region`, identity decrypted, in id order. Each batch reads in its
    own short transaction, so a slow download holds no database lock."""
    after = ""
    while True:
        async with sessions() as session:
            batch = list(await session.scalars(
                select(Entry).where(_exportable(region, today), Entry.id > after).order_by(Entry.id)
                .limit(EXPORT_BATCH)))
        for entry in batch:
            now = standing(entry, today)
            if now.status != EntryStatus.active:
                continue
            yield {
                "entry_id": entry.id,
                "name": cipher.decrypt(entry.name_enc, column="entries.name_enc"),
                "id_number": cipher.decrypt(entry.id_number_enc, column="entries.id_number_enc"),
                "reason_code": entry.reason_code, "severity": entry.severity,
                "legal_basis_ref": entry.legal_basis_ref, "listed_from": now.listed_from,
                "listed_until": now.listed_until, "region_code": entry.region_code,
            }
        if len(batch) < EXPORT_BATCH:
            return
        after = batch[-1].id


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # A cell a spreadsheet would run as a formula is kept as text (CSV injection).
    return "'" + text if text.startswith(_FORMULA_START) else text


async def as_csv(rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(EXPORT_FIELDS)
    yield ("\ufeff" + buffer.getvalue()).encode()  # the BOM lets spreadsheets read the Chinese names
    async for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([_csv_cell(row[f]) for f in EXPORT_FIELDS])
        yield buffer.getvalue().encode()


async def as_json(rows: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    yield b"["
    first = True
    async for row in rows:
        yield (b"" if first else b",") + json.dumps(row, ensure_ascii=False, default=str).encode()
        first = False
    yield b"]"
