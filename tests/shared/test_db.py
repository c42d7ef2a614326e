"""The connection pool on PostgreSQL: a connection the server closed is never handed out. Which
errors are an outage (retried, 503) and which are not."""

import errno
import socket

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from shared.db import create_engine, is_transient
from tests.conftest import PG_ADMIN_DSN, eventually


async def test_a_pooled_connection_the_server_closed_is_replaced_not_used(new_database):
    engine = create_engine(await new_database("intake"))
    if engine.dialect.name != "postgresql":
        await engine.dispose()
        pytest.skip("PostgreSQL only: SQLite has no server to close a connection")
    try:
        async with engine.connect() as conn:
            pooled = (await conn.get_raw_connection()).driver_connection
            pid = await conn.scalar(text("SELECT pg_backend_pid()"))
        admin = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)  # as a restart does
        finally:
            await admin.close()
        await eventually(lambda: _true(pooled.is_closed()), what="the client to see the connection closed")
        async with engine.connect() as conn:  # without the checkout check: ConnectionDoesNotExistError
            assert await conn.scalar(text("SELECT pg_backend_pid()")) != pid
    finally:
        await engine.dispose()


async def _true(value: bool) -> bool:
    return value


@pytest.mark.parametrize("error", [
    ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed"), ConnectionResetError(), BrokenPipeError(),
    TimeoutError(), socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
    OSError(errno.EHOSTUNREACH, "No route to host"), OSError(errno.ENETUNREACH, "Network is unreachable"),
    OSError("Multiple exceptions: [Errno 111] Connect call failed ('::1', 5432, 0, 0), "
            "[Errno 111] Connect call failed ('127.0.0.1', 5432)"),
    OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly")),
], ids=lambda error: type(error).__name__)
def test_a_connection_that_failed_is_an_outage(error):
    assert is_transient(error)


@pytest.mark.parametrize("error", [
    FileNotFoundError(errno.ENOENT, "No such file or directory"), PermissionError(errno.EACCES, "Permission denied"),
    IsADirectoryError(errno.EISDIR, "Is a directory"), OSError(errno.ENOSPC, "No space left on device"),
    OSError("a handler's own error"), ValueError("bad data"),
], ids=lambda error: type(error).__name__)
def test_a_file_or_data_error_is_not_an_outage(error):
    assert not is_transient(error)
