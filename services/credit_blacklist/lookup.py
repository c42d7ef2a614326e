"""The read side: officers' lists, the fast check by blind index, and the bulk export.

Every read derives an entry's status from its dates (domain.standing), so what a reader sees
never lags behind the sweep.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import csv
import io
import json
import logging
import time
from array import array
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import date
from typing import Any

import asyncpg
from sqlalchemy import ColumnElement, bindparam, func, make_url, select, text
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

log = logging.getLogger("zhengming.credit_blacklist.check")

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
_LISTABLE_ARG = list(_LISTABLE)
# Every blind index under an entry that may be listed, with the generation they are as of: one
# statement, so one snapshot, on both databases (the generation's row first, its blind index NULL).
# The final statuses (domain.TERMINAL: an entry never leaves them for one that may be listed) as
# migration 0007's trigger names them; an entry in any other status may be listed, some day or again.
FINAL_STATUSES = ("expired", "repaired", "revoked")
_LOAD = text(
    "SELECT generation, NULL AS blind_index FROM check_generation WHERE id = 1 UNION ALL "
    "SELECT NULL, blind_index FROM entries WHERE status NOT IN ('expired', 'repaired', 'revoked')")
# The generation now, and the blind indexes of the generations after `since` (one row, blind index
# NULL, when there are none): one statement, one snapshot.
_SINCE = ("SELECT g.generation, l.blind_index FROM check_generation g "
          "LEFT JOIN check_listable l ON l.generation > {since} WHERE g.id = 1")
_SINCE_ENGINE = text(_SINCE.format(since=":since"))
_SINCE_PG = _SINCE.format(since="$1")

# status, objection_deadline, period_months, listed_from, listed_until
Row = Sequence[Any]


class CheckReader:
    """Reads the facts of the listable entries behind one blind index (the only query a check makes),
    and what the negative cache needs: every blind index that may be listed, and what changed since."""

    async def rows(self, blind_index: str) -> list[Row]:
        raise NotImplementedError

    async def listable(self) -> tuple[int, array[int]]:
        """The generation, and the key (`_key`) of every blind index under an entry that may be listed,
        sorted, as of one snapshot."""
        raise NotImplementedError

    async def since(self, generation: int) -> tuple[int, list[str]]:
        """The generation now, and the blind indexes of the generations after `generation` (one snapshot,
        taken after this call began)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release connections the reader holds of its own."""


async def _generation_and_keys(batches: AsyncIterator[Sequence[Sequence[Any]]]) -> tuple[int, array[int]]:
    generation, keys = None, array("Q")
    async for batch in batches:
        for gen, blind_index in batch:
            if gen is not None:
                generation = int(gen)
            if blind_index is not None:
                keys.append(_key(blind_index))
    if generation is None:  # migration 0007 writes the row; without it nothing can be known current
        raise LookupError("check_generation has no row")
    return generation, array("Q", sorted(keys))


def _generation_and_indexes(rows: Iterable[Sequence[Any]]) -> tuple[int, list[str]]:
    generation, indexes = None, []
    for gen, blind_index in rows:
        if gen is not None:
            generation = int(gen)
        if blind_index is not None:
            indexes.append(blind_index)
    if generation is None:  # migration 0007 writes the row; without it nothing can be known current
        raise LookupError("check_generation has no row")
    return generation, indexes


class EngineCheckReader(CheckReader):
    """Through SQLAlchemy Core: SQLite (development, one office) shares the service's engine."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def rows(self, blind_index: str) -> list[Row]:
        async with self.engine.connect() as conn:
            return list((await conn.execute(_CHECK, {"blind_index": blind_index})).all())

    async def listable(self) -> tuple[int, array[int]]:
        async def batches() -> AsyncIterator[Sequence[Sequence[Any]]]:
            async with self.engine.connect() as conn:
                yield (await conn.execute(_LOAD)).all()

        return await _generation_and_keys(batches())

    async def since(self, generation: int) -> tuple[int, list[str]]:
        async with self.engine.connect() as conn:
            return _generation_and_indexes((await conn.execute(_SINCE_ENGINE, {"since": generation})).all())


# What a connection that died looks like when it is next used.
_BROKEN = (asyncpg.InterfaceError, asyncpg.InternalClientError, asyncpg.PostgresConnectionError,
           asyncpg.AdminShutdownError, ConnectionError)


class Connections:
    """The check's own asyncpg connections, at most `max_size`, opened on demand (none until the first
    check: a consumer or relay process never holds one, and an API started while the database is away
    comes up and reports it on /readyz), kept idle in a list.

    Not asyncpg's Pool: its checkout and release (a LIFO queue, a shielded release task, the idle
    timer re-armed every time) cost ~70 us of CPU around a ~15 us query, more than anything else in a
    check. These connections only ever run autocommit SELECTs (and the cache's load, in a transaction
    that ends before the connection is put back), so there is no session state to reset; a connection
    whose statement failed, or was cancelled, is closed rather than reused."""

    def __init__(self, dsn: str, *, max_size: int = 10) -> None:
        self.dsn = dsn
        self.max_size = max_size
        self._idle: list[asyncpg.Connection] = []
        self._open = 0
        self._waiting: deque[asyncio.Future[None]] = deque()
        self._closed = False

    async def fetch(self, query: str, *args: Any) -> list[Any]:
        """The rows of one autocommit SELECT. A connection found broken when used (the server
        terminated it while it sat idle, say) is closed and the statement sent once more on a new
        one: a read, so asking twice changes nothing."""
        conn = await self.acquire()
        try:
            rows = await conn.fetch(query, *args)
        except _BROKEN:
            self.drop(conn)
            conn = await self.acquire(fresh=True)  # the idle ones may have died with it
            try:
                rows = await conn.fetch(query, *args)
            except BaseException:
                self.drop(conn)
                raise
        except BaseException:
            self.drop(conn)
            raise
        self.release(conn)
        return rows  # type: ignore[no-any-return]

    async def acquire(self, *, fresh: bool = False) -> asyncpg.Connection:
        """An idle connection, else a new one while fewer than `max_size` are open, else the next
        released; with `fresh`, never one that sat idle."""
        while True:
            while self._idle and not fresh:
                conn = self._idle.pop()
                if not conn.is_closed():
                    return conn
                self._open -= 1  # the server closed it while it sat idle
            if self._closed:
                raise asyncpg.InterfaceError("the check's connections are closed")
            if fresh and self._idle and self._open >= self.max_size:
                self._open -= 1  # room for a new one: an idle one goes
                self._idle.pop(0).terminate()
            if self._open < self.max_size:
                self._open += 1
                try:
                    return await asyncpg.connect(self.dsn)
                except BaseException:
                    self._open -= 1
                    self._wake()
                    raise
            waiter = asyncio.get_running_loop().create_future()
            self._waiting.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled():
                    self._wake()  # pass on the turn it was given
                raise

    def release(self, conn: asyncpg.Connection) -> None:
        if self._closed or conn.is_closed():
            self.drop(conn)
            return
        self._idle.append(conn)
        self._wake()

    def drop(self, conn: asyncpg.Connection) -> None:
        self._open -= 1
        conn.terminate()
        self._wake()

    def _wake(self) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            self._open -= 1
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=5)
            if not conn.is_closed():
                conn.terminate()
        self._wake()


class PostgresCheckReader(CheckReader):
    """Straight through asyncpg connections of its own (Connections): one round trip of a prepared
    statement in autocommit (no BEGIN/ROLLBACK, no ORM, no SQL compilation), about a fifth of the CPU
    of the SQLAlchemy path. A connection that died is dropped after the one check it fails."""

    def __init__(self, connections: Connections) -> None:
        self.connections = connections

    @classmethod
    async def open(cls, url: str, *, max_size: int = 10) -> PostgresCheckReader:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        return cls(Connections(dsn, max_size=max_size))

    async def rows(self, blind_index: str) -> list[Row]:
        return await self.connections.fetch(_CHECK_PG, blind_index, _LISTABLE_ARG)

    async def listable(self) -> tuple[int, array[int]]:
        """Read through a cursor, 20,000 rows at a time: a million blind indexes never sit in memory
        as strings, and the event loop serves checks between batches."""
        connections = self.connections

        async def batches() -> AsyncIterator[Sequence[Sequence[Any]]]:
            conn = await connections.acquire()
            try:
                async with conn.transaction(readonly=True):
                    cursor = await conn.cursor(str(_LOAD))
                    while batch := await cursor.fetch(20_000):
                        yield batch
            except BaseException:
                connections.drop(conn)
                raise
            connections.release(conn)

        return await _generation_and_keys(batches())

    async def since(self, generation: int) -> tuple[int, list[str]]:
        return _generation_and_indexes(await self.connections.fetch(_SINCE_PG, generation))

    async def close(self) -> None:
        await self.connections.close()


async def check_reader(url: str, main: AsyncEngine) -> CheckReader:
    """The reader checks go through: its own asyncpg pool on PostgreSQL, the main engine on SQLite."""
    if is_sqlite(url):
        return EngineCheckReader(main)
    return await PostgresCheckReader.open(url)


def _key(blind_index: str) -> int:
    """A blind index as the cache keeps it: its first 64 bits (it is an HMAC-SHA256 in hex). Two blind
    indexes that share a key only send a check to the database."""
    try:
        return int(blind_index[:16], 16)
    except ValueError:  # not hex (never written by this service): any stable 64 bits will do
        return hash(blind_index) & 0xFFFF_FFFF_FFFF_FFFF


class NegativeCache:
    """Who cannot be listed, known in this process: the ~65% of checks whose person stands under no
    entry that may be listed are answered without reading `entries`.

    It keeps the blind index (its first 64 bits, sorted, 8 bytes each) of every entry in a status that
    is not final, and the generation of migration 0007's counter it is current to. A blind index in
    it goes to the database as before (a listing, or maybe one). One not in it is "not listed" only
    once the cache is known current *as of a moment after the check began*: the check asks the
    database for the generation now and the blind indexes of any generations it has not seen, one
    small statement (`since`) on a connection of its own, and answers from the cache only after
    adding them. So an entry committed before the check began -- by this process, another API
    process or the blacklist consumer -- is always seen, whatever its status and whatever the date
    does to it later: the cache only ever leaves out blind indexes whose every entry is final.

    The question is shared: while one is on the wire, the checks that arrive wait for the next,
    which goes out when the first comes back and answers all of them (each arrived before it was
    sent). Under load one round trip answers several checks; alone, a check pays one round trip,
    as the lookup does, but a cheaper one (no pool checkout, no rows).

    Until the cache is loaded (in the background, after the first check) or when a question fails,
    checks read `entries` as before."""

    RETRY_S = 5.0  # after a failed load

    def __init__(self, reader: CheckReader) -> None:
        self.reader = reader
        self.generation: int | None = None  # None: not loaded; nothing is answered from the cache
        self._keys = array("Q")  # sorted
        self._loading: asyncio.Task[None] | None = None
        self._load_after = 0.0
        self._asking = False  # a question is on the wire
        self._waiting: list[asyncio.Future[None]] | None = None  # the checks the next one answers
        self.answered = 0  # checks answered "not listed" from the cache (for tests and benchmarks)
        self.questions = 0  # questions sent to the database (each answers one check or several)
        self._failing = False

    def __contains__(self, key: int) -> bool:
        keys = self._keys
        at = bisect.bisect_left(keys, key)
        return at < len(keys) and keys[at] == key

    async def not_listed(self, blind_index: str) -> bool:
        """True only if no entry that may be listed stands under `blind_index` as of a moment after
        this call began (then the person is not listed); False when the database must be read."""
        if self.generation is None:
            self._start_loading()
            return False
        key = _key(blind_index)
        if key in self:
            return False
        try:
            await self._current()
        except Exception as exc:  # the database's own answer (or its failure) comes from the lookup
            if not self._failing:
                log.warning("check cache could not ask the database; checks read it", extra={
                    "error": type(exc).__name__})
            self._failing = True
            return False
        self._failing = False
        if key in self:
            return False
        self.answered += 1
        return True

    async def _current(self) -> None:
        """Returns once the cache has every change committed before this call began."""
        if self._asking:
            waiter = asyncio.get_running_loop().create_future()
            if self._waiting is None:
                self._waiting = []
            self._waiting.append(waiter)
            await waiter
            return
        self._asking = True
        try:
            await self._ask()
        finally:
            self._next_question()

    async def _ask(self) -> None:
        assert self.generation is not None
        self.questions += 1
        generation, indexes = await self.reader.since(self.generation)
        self._learn(generation, indexes)

    def _learn(self, generation: int, indexes: list[str]) -> None:
        """What one answer says: covers the generations after the one it was asked from, which is at
        most the cache's (its generation never goes back), so nothing between is missed."""
        if self.generation is None or generation <= self.generation:
            return
        for blind_index in indexes:
            key = _key(blind_index)
            if key not in self:
                bisect.insort(self._keys, key)
        self.generation = generation

    def _next_question(self) -> None:
        """The checks that arrived while a question was on the wire get one of their own, sent now."""
        waiting, self._waiting = self._waiting, None
        if not waiting:
            self._asking = False
            return
        task = asyncio.get_running_loop().create_task(self._answer(waiting))
        _background.add(task)
        task.add_done_callback(_background.discard)

    async def _answer(self, waiting: list[asyncio.Future[None]]) -> None:
        try:
            await self._ask()
        except Exception as exc:
            for waiter in waiting:
                if not waiter.done():
                    waiter.set_exception(exc)
        else:
            for waiter in waiting:
                if not waiter.done():
                    waiter.set_result(None)
        finally:
            self._next_question()

    def _start_loading(self) -> None:
        if self._loading is not None or time.monotonic() < self._load_after:
            return
        self._loading = asyncio.get_running_loop().create_task(self._load())

    async def _load(self) -> None:
        try:
            self.generation, self._keys = await self.reader.listable()
            log.info("check cache loaded", extra={"blind_indexes": len(self._keys), "generation": self.generation})
        except Exception as exc:
            self._load_after = time.monotonic() + self.RETRY_S
            log.warning("check cache not loaded; checks read the database", extra={"error": type(exc).__name__})
        finally:
            self._loading = None

    async def close(self) -> None:
        if self._loading is not None:
            self._loading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loading


_background: set[asyncio.Task[None]] = set()  # questions sent for waiting checks, kept until done

_NOT_LISTED = CheckOut(listed=False, status="not_listed", listed_until=None)


async def check(
    *, reader: CheckReader, cipher: FieldCipher, id_number: str, today: date, notified_counts: bool,
    cache: NegativeCache | None = None,
) -> CheckOut:
    """Listed or not, in which status and until when: one indexed lookup by blind index, nothing
    else about the person -- or, for a person under no entry that may be listed, the negative
    cache's answer once it is known current."""
    blind_index = cipher.blind_index(domain.normalize_id_number(id_number))
    if cache is not None and await cache.not_listed(blind_index):
        return _NOT_LISTED
    listed = []
    for status, deadline, months, listed_from, listed_until in await reader.rows(blind_index):
        now = domain.standing(domain.EntryFacts(EntryStatus(status), deadline, months, listed_from, listed_until),
                              today)
        if domain.is_listed(now.status, notified_counts=notified_counts):
            listed.append(now)
    if not listed:
        return _NOT_LISTED
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
