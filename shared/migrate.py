"""Alembic plumbing shared by the four migration trees (one tree per service).

A running service only asks which revision its database is at and which is its tree's head (the
readiness check); it answers both without Alembic, which is imported by what migrates. Alembic and
what it loads with it (Mako, every dialect's DDL) would take some 8 MB in every service process."""

from __future__ import annotations

import ast
import asyncio
import functools
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import MetaData, inspect, pool, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

if TYPE_CHECKING:
    from alembic.config import Config

VERSION_TABLE = "alembic_version"  # Alembic's default, which every tree's env.py keeps


def alembic_config(migrations_dir: Path, url: str) -> Config:
    from alembic.config import Config

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
    from alembic import command

    command.upgrade(alembic_config(migrations_dir, url), revision)


@functools.cache
def head_revision(migrations_dir: Path) -> str | None:
    """The tree's head: the one revision no other revision follows (None for an empty tree). Read
    from each revision file's `revision` and `down_revision`, as Alembic reads them, without
    running the files."""
    revisions: set[str] = set()
    followed: set[str] = set()
    for path in sorted((migrations_dir / "versions").glob("*.py")):
        names = _module_constants(path, ("revision", "down_revision"))
        revision, down = names.get("revision"), names.get("down_revision")
        if isinstance(revision, str):
            revisions.add(revision)
        if isinstance(down, str):
            followed.add(down)
        elif isinstance(down, tuple | list):  # a merge revision follows several
            followed.update(str(d) for d in down)
    heads = revisions - followed
    if len(heads) > 1:
        raise RuntimeError(f"{migrations_dir} has several heads: {sorted(heads)}")
    return next(iter(heads), None)


def _module_constants(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    found: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in names:
            found[target.id] = ast.literal_eval(value)
    return found


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at (Alembic's version table); None before its first migration."""
    async with engine.connect() as conn:
        if not await conn.run_sync(lambda c: inspect(c).has_table(VERSION_TABLE)):
            return None
        at = list((await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars())
    if len(at) > 1:
        raise RuntimeError(f"the database is at several heads: {sorted(at)}")
    return at[0] if at else None


def run_env(target_metadata: list[MetaData]) -> None:
    """Body of every service's `migrations/env.py`: online, async, URL from the caller's settings."""
    from alembic import context

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
