"""Async engine and sessions for SQLite and PostgreSQL from one URL."""

from __future__ import annotations

import errno
import hashlib
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, MetaData, event, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.types import TypeDecorator

from shared import clock

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# SQLSTATE classes that mean "the database is away or busy", never "this event is bad":
# connection (08), transaction rollback such as deadlock or serialization failure (40),
# insufficient resources (53), operator intervention such as shutdown (57), and a missing
# or unreachable database or role (3D, 28).
_TRANSIENT_SQLSTATE_CLASSES = ("08", "40", "53", "57", "3D", "28")


def is_transient(exc: BaseException) -> bool:
    """Errors that say the database or network is away or busy, not that the data is bad: a
    consumer retries them without counting an attempt, an API answers 503."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeout):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if isinstance(sqlstate, str) and sqlstate[:2] in _TRANSIENT_SQLSTATE_CLASSES:
            return True
        if sqlstate == "55000" and exc.statement is None:
            return True  # refused while connecting: the database is closed to connections (maintenance)
    return _network_away(exc)


# Errnos of a network that is away which Python raises as a plain OSError (the refused, reset and
# timed-out connections are already ConnectionError and TimeoutError).
_NETWORK_ERRNOS = frozenset({
    errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.EHOSTDOWN, errno.ENETRESET,
    errno.EADDRNOTAVAIL, errno.ENOTCONN, errno.ESHUTDOWN,
})


def _network_away(exc: BaseException) -> bool:
    """A connection that failed or broke; not any OSError: a missing file or a refused permission
    says the event (or the code) is at fault, and retrying it would never end."""
    if isinstance(exc, ConnectionError | TimeoutError | socket.gaierror | socket.herror):
        return True
    if not isinstance(exc, OSError):
        return False
    if exc.errno in _NETWORK_ERRNOS:
        return True
    # asyncio's one error for a host name whose every address refused the connection (PostgreSQL
    # down behind `localhost` on a dual-stack machine): a plain OSError without errno.
    return type(exc) is OSError and exc.errno is None and str(exc).startswith("Multiple exceptions: ")


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """Now, in UTC: real time, or the development clock's when a service turned it on (shared/clock.py)."""
    return clock.now()


class UTCDateTime(TypeDecorator[datetime]):
    """timestamptz on PostgreSQL; on SQLite, stored as UTC and read back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; attach a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine for `url`. On SQLite: WAL, a busy timeout, and write-locking transactions."""
    if is_sqlite(url):
        path = url.split(":///", 1)[1] if ":///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Take control of BEGIN so every transaction starts IMMEDIATE: two writers then
            # queue on the busy timeout instead of failing on a read-to-write lock upgrade.
            dbapi_conn.isolation_level = None
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    # Error messages then never carry bound values (ciphertexts, blind indexes) into logs.
    engine = create_async_engine(url, hide_parameters=True, **kwargs)
    if not kwargs.get("pool_pre_ping"):
        event.listen(engine.sync_engine, "checkout", _refuse_closed)
    return engine


def _refuse_closed(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
    """Never hand out a pooled connection the server has closed (PostgreSQL restarted, or the
    backend terminated): asyncpg already knows, so the pool opens a fresh one instead. This
    replaces SQLAlchemy's pre-ping, which costs three round trips on every checkout (a tenth of an
    API's CPU per request); a connection that dies unnoticed still fails its request as a 503."""
    if dbapi_connection.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


def in_region(column: Any, prefix: str) -> Any:
    """SQL condition: a 6-digit region code column lies under an administrative-code prefix.

    A range, not LIKE, so a plain b-tree index serves it under any collation.
    """
    low, high = prefix.ljust(6, "0"), prefix.ljust(6, "9")
    return column.between(low, high)


async def lock_names(session: AsyncSession, *names: str) -> None:
    """Serialize transactions that touch the same named things (a venue, an official) until commit.

    PostgreSQL: transaction-scoped advisory locks, taken in a fixed order so two transactions
    cannot deadlock on them. SQLite: every write transaction already holds the database's write
    lock from its first statement (BEGIN IMMEDIATE), so there is nothing more to take.
    """
    if dialect_name(session) != "postgresql":
        return
    keys = sorted({int.from_bytes(hashlib.sha256(n.encode()).digest()[:8], "big", signed=True) for n in names})
    for key in keys:
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=True)
