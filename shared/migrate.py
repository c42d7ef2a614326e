"""Alembic plumbing shared by the four migration trees (one tree per service)."""

from __future__ import annotations

import asyncio
import functools
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def alembic_config(migrations_dir: Path, url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("version_locations", str(migrations_dir / "versions"))
    cfg.attributes["database_url"] = url
    return cfg


def upgrade(migrations_dir: Path, url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision`. Blocking; call from a thread inside an event loop."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1]
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(migrations_dir, url), revision)


@functools.cache
def head_revision(migrations_dir: Path) -> str | None:
    return ScriptDirectory.from_config(alembic_config(migrations_dir, "")).get_current_head()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def run_env(target_metadata: list[MetaData]) -> None:
    """Body of every service's `migrations/env.py`: online, async, URL from the caller's settings."""
    url = context.config.attributes.get("database_url") or context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database URL: run migrations through `zhengming migrate`")

    def do_run(connection: Connection) -> None:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run_async())
