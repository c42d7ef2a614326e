"""A Zhengming cluster of real processes on this machine: the local broker, one PostgreSQL
database per service, and each service's API, consumer and relay as separate processes.

Used by the fault-injection run (tools/chaos.py) and the benchmarks; every process can be killed
(-9), restarted, or started with a crash point (shared/faults.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from services.registry import SERVICES
from services.supervisor import service_command, spawn, stop_all, wait_ready
from shared.auth import generate_keypair, mint_token
from shared.broker import free_port, start_local_broker
from shared.crypto import FieldCipher
from shared.events import SIGNING_SERVICES
from shared.migrate import upgrade
from shared.signing import ensure_development_service_keys

PG_ADMIN_DSN = os.environ.get("ZM_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
ALL_SCOPES = ("reports:submit reports:read verification:read verification:write "
              "verification:approve clarification:read clarification:write blacklist:check blacklist:read "
              "blacklist:write blacklist:export audit:read")


@dataclass
class Process:
    name: str
    service: str
    role: str
    port: int
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class Cluster:
    workdir: Path
    services: tuple[str, ...] = tuple(SERVICES)
    extra_env: dict[str, str] = field(default_factory=dict)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    processes: dict[str, Process] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    broker_port: int = 0
    broker: subprocess.Popen[bytes] | None = None
    api_ports: dict[str, int] = field(default_factory=dict)  # chosen up front: each API names its peers

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self, roles: Iterable[str] = ("api", "consumer", "relay")) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        keys = self.workdir / "keys"
        if not (keys / "jwt-public.pem").exists():
            generate_keypair(keys / "jwt-private.pem", keys / "jwt-public.pem")
            FieldCipher.generate_file(keys / "field-keys.json")
        # Every service's own signing key and the trust file, before processes start and race for them.
        ensure_development_service_keys(keys, SIGNING_SERVICES, allowed=True)
        self.broker_port = free_port()
        self.api_ports = {service: free_port() for service in self.services}
        self.start_broker()
        asyncio.run(self._create_databases())
        for service in self.services:
            upgrade(SERVICES[service].migrations_dir, self.urls[service])
        for service in self.services:
            for role in roles:
                self.add(service, role)
        self.wait_ready()

    def start_broker(self) -> None:
        self.broker = start_local_broker(self.broker_port, log_file=self.workdir / "broker.log")

    def kill_broker(self) -> None:
        if self.broker is not None:
            self.broker.kill()
            self.broker.wait()
            self.broker = None

    def add(self, service: str, role: str, **env: str) -> Process:
        """Start one more process of `service` in `role` (e.g. a second consumer: a rebalance)."""
        n = sum(1 for p in self.processes.values() if p.service == service and p.role == role)
        name = f"{service}-{role}-{n}"
        port = self.api_ports[service] if role == "api" and n == 0 and service in self.api_ports else free_port()
        proc = Process(name, service, role, port, {**self.base_env(), **env},
                       self.workdir / "logs" / f"{name}.log")
        self.processes[name] = proc
        self.spawn(proc)
        return proc

    def base_env(self) -> dict[str, str]:
        env = {**os.environ, "ZM_ENVIRONMENT": "test", "ZM_DATA_DIR": str(self.workdir),
               "ZM_KAFKA_BOOTSTRAP": f"127.0.0.1:{self.broker_port}", "ZM_LOG_LEVEL": "INFO",
               "ZM_INTAKE_RECEIPT_LOOKUPS_PER_MINUTE": "100000", "ZM_CONSUMER_BACKOFF_MAX_S": "1.0",
               **self.extra_env}
        env.pop("ZM_FAULT", None)
        for service, url in self.urls.items():
            env[f"ZM_{service.upper()}_DATABASE_URL"] = url
        # Where each service asks the others for the anchors of its audit chain they kept.
        env["ZM_AUDIT_PEERS"] = ",".join(f"{s}=http://127.0.0.1:{port}" for s, port in self.api_ports.items())
        return env

    def spawn(self, proc: Process, **env: str) -> None:
        proc.log.parent.mkdir(parents=True, exist_ok=True)
        full_env = {**proc.env, **env}
        if proc.service == "credit_blacklist" and (apis := self.processes_by_role("api", "intake")) \
                and "ZM_CREDIT_BLACKLIST_INTAKE_URL" not in self.extra_env:  # unless routed elsewhere
            full_env["ZM_CREDIT_BLACKLIST_INTAKE_URL"] = apis[0].url
        proc.popen = spawn(service_command(proc.service, "--role", proc.role, "--port", str(proc.port)),
                           log=proc.log, env=full_env)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        proc = self.processes[name]
        if proc.popen is not None and proc.popen.poll() is None:
            proc.popen.send_signal(sig)
            proc.popen.wait(timeout=30)

    def restart(self, name: str, **env: str) -> None:
        self.kill(name)
        self.spawn(self.processes[name], **env)

    def processes_by_role(self, role: str, service: str | None = None) -> list[Process]:
        return [p for p in self.processes.values() if p.role == role and (service is None or p.service == service)]

    def api(self, service: str) -> str:
        return self.processes_by_role("api", service)[0].url

    def wait_ready(self, timeout_s: float = 120, names: Iterable[str] | None = None) -> None:
        chosen = {name: self.processes[name] for name in (names or self.processes)}
        wait_ready({name: (p.popen, p.url) for name, p in chosen.items()}, timeout_s=timeout_s,
                   where_logged=lambda name: str(self.processes[name].log))

    def stop(self, drop_databases: bool = True) -> None:
        stop_all({name: p.popen for name, p in self.processes.items()})
        self.kill_broker()
        if drop_databases:
            asyncio.run(self._drop_databases())

    # --- helpers ------------------------------------------------------------------------------------

    def token(self, scopes: str = ALL_SCOPES, *, sub: str = "chaos", region: str = "", org_level: str = "central"
              ) -> str:
        return mint_token((self.workdir / "keys" / "jwt-private.pem").read_bytes(), subject=sub,
                          scopes=scopes.split(), region=region, org_level=org_level, ttl_s=6 * 3600)

    def database_name(self, service: str) -> str:
        return f"zm_chaos_{self.run_id}_{service}"

    async def _create_databases(self) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            base = PG_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
            for service in self.services:
                await conn.execute(f'CREATE DATABASE "{self.database_name(service)}"')
                self.urls[service] = f"{base}/{self.database_name(service)}"
        finally:
            await conn.close()

    async def _drop_databases(self) -> None:
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            for service in self.services:
                await conn.execute(f'DROP DATABASE IF EXISTS "{self.database_name(service)}" WITH (FORCE)')
        finally:
            await conn.close()

    def dsn(self, service: str) -> str:
        return self.urls[service].replace("postgresql+asyncpg://", "postgresql://")
