"""The connection pool on PostgreSQL: a connection the server closed is never handed out."""

import asyncpg
import pytest
from sqlalchemy import text

from shared.db import create_engine
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
