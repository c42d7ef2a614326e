"""The nemesis: a schedule of faults drawn from a seed, and how each is done to the cluster.

The schedule (when, which fault, which process, for how long) depends only on the seed, the
duration and the cluster's shape, so a run is replayed by giving the same --seed; what the load
and the pipeline do around the faults depends on timing and is not replayed exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from types import SimpleNamespace
from typing import Any

import asyncpg

from tools.chaos import Run, forged_verdicts, publish_records
from tools.cluster import PG_ADMIN_DSN, Cluster

KINDS = ("kill", "pause", "broker", "postgres", "rebalance", "partition", "inject", "double")
ROLES = ("api", "consumer", "relay")


def spec(kind: str, rng: random.Random, services: tuple[str, ...]) -> dict[str, Any]:
    """One fault's parameters, drawn from `rng`."""
    if kind == "kill":
        return {"kind": kind, "target": f"{rng.choice(services)}-{rng.choice(ROLES)}-0",
                "down_s": round(rng.uniform(0, 3), 1)}
    if kind == "pause":
        return {"kind": kind, "target": f"{rng.choice(services)}-{rng.choice(ROLES)}-0",
                "hold_s": round(rng.uniform(2, 20), 1)}
    if kind == "broker":
        return {"kind": kind}
    if kind == "postgres":
        chosen = list(services) if rng.random() < 0.5 else [rng.choice(services)]
        return {"kind": kind, "databases": chosen, "hold_s": round(rng.uniform(3, 15), 1)}
    if kind == "rebalance":
        return {"kind": kind, "service": rng.choice(services),
                "stay_s": round(rng.uniform(8, 25), 1)}
    if kind == "partition":
        return {"kind": kind, "hold_s": round(rng.uniform(5, 25), 1)}
    if kind == "inject":
        return {"kind": kind, "what": rng.choice(["forged", "replayed"]), "pick": rng.random()}
    if kind == "double":
        first, second = rng.sample([k for k in KINDS if k != "double"], 2)
        a, b = spec(first, rng, services), spec(second, rng, services)
        if a.get("target") is not None and a.get("target") == b.get("target"):
            b = spec("inject", rng, services)  # not twice the same process
        return {"kind": kind, "faults": [a, b]}
    raise ValueError(kind)


def expected_s(s: dict[str, Any]) -> float:
    if s["kind"] == "double":
        return max(expected_s(f) for f in s["faults"])
    return {"kill": 10.0, "broker": 45.0, "inject": 2.0}.get(s["kind"], 0.0) + s.get("hold_s", 0.0) \
        + s.get("stay_s", 0.0) + s.get("down_s", 0.0)


def schedule(seed: int, duration_s: float, services: tuple[str, ...], *, gap_s: tuple[float, float] = (5, 20),
             first_s: float = 10, tail_s: float = 20) -> list[dict[str, Any]]:
    """Faults at random intervals until `tail_s` before the end; kinds are drawn as from a bag (each
    kind once in random order, then again), so a long run sees every kind about as often."""
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []
    bag: list[str] = []
    at = first_s + rng.uniform(0, gap_s[0])
    while True:
        if not bag:
            bag = list(KINDS)
            rng.shuffle(bag)
        s = spec(bag.pop(), rng, services)
        if at + expected_s(s) > duration_s - tail_s:
            return out
        out.append({"at": round(at, 1), **s})
        at += expected_s(s) + rng.uniform(*gap_s)


class IntakeProxy:
    """The road from credit_blacklist to intake's API: cut, it refuses new connections and drops open ones."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.blocked = False
        self.open: set[asyncio.StreamWriter] = set()
        self.server: asyncio.base_events.Server | None = None

    async def start(self, port: int) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.blocked:
            writer.close()
            return
        try:
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.open.update((writer, up_w))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.close()
                self.open.discard(dst)

        try:
            await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))
        except asyncio.CancelledError:
            # The proxy is stopping: asyncio's stream server would log a cancelled handler as an error.
            for w in (writer, up_w):
                w.close()

    def cut(self) -> None:
        self.blocked = True
        for w in list(self.open):
            w.close()
        self.open.clear()

    def heal(self) -> None:
        self.blocked = False

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


class Nemesis:
    """Does the faults of a schedule to the cluster and records each window in the history."""

    def __init__(self, cluster: Cluster, record: Callable[[dict[str, Any]], None], proxy: IntakeProxy,
                 acked: Callable[[], list[str]], started: Any) -> None:
        self.cluster = cluster
        self.record = record
        self.proxy = proxy
        self.acked = acked
        self.helper = Run(cluster, quick=True, started=started)  # chaos's broker restart and replay
        self.paused: set[int] = set()
        self.refused: set[str] = set()

    async def run(self, plan: list[dict[str, Any]], t0: float, stop: asyncio.Event) -> None:
        for s in plan:
            delay = t0 + s["at"] - time.time()
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                return
            start = time.time()
            print(f"  [{start - t0:6.1f}s] {describe(s)}", flush=True)
            try:
                await self.do(s)
            except Exception as exc:  # a fault that could not be done is reported, the run goes on
                print(f"    fault failed: {exc!r}", flush=True)
                s = {**s, "error": repr(exc)}
            self.record({"op": "fault", "kind": s["kind"], "detail": describe(s), "start": start, "end": time.time(),
                         "spec": s})

    async def do(self, s: dict[str, Any]) -> None:
        actions: dict[str, Callable[[dict[str, Any]], Awaitable[None]]] = {
            "kill": self.kill, "pause": self.pause, "broker": self.broker, "postgres": self.postgres,
            "rebalance": self.rebalance, "partition": self.partition, "inject": self.inject, "double": self.double}
        await actions[s["kind"]](s)

    async def kill(self, s: dict[str, Any]) -> None:
        proc = self.cluster.processes[s["target"]]
        await asyncio.to_thread(self.cluster.kill, proc.name)
        await asyncio.sleep(s["down_s"])
        self.cluster.spawn(proc)
        if proc.role == "api":
            await asyncio.to_thread(self.cluster.wait_ready, 120, [proc.name])

    async def pause(self, s: dict[str, Any]) -> None:
        proc = self.cluster.processes[s["target"]]
        if proc.popen is None or not proc.alive():
            return
        pid = proc.popen.pid
        os.kill(pid, signal.SIGSTOP)
        self.paused.add(pid)
        try:
            await asyncio.sleep(s["hold_s"])
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
            self.paused.discard(pid)

    async def broker(self, s: dict[str, Any]) -> None:
        """The runbook after losing the broker's data: bring it back empty, then replay every outbox."""
        await asyncio.to_thread(self.cluster.kill_broker)
        await asyncio.sleep(2)
        await asyncio.to_thread(self.cluster.start_broker)
        # `zhengming outbox replay` as in chaos's replay_outboxes, the four services at once; one
        # that fails (PostgreSQL shared on this machine may be out of connections) is run again, as
        # an operator following the runbook would, until it completes.
        env = self.cluster.base_env()

        async def replay(service: str) -> None:
            deadline = time.monotonic() + 300
            while True:
                proc = await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "services.cli", "outbox", "replay", "--service", service,
                    "--since", self.helper.started.isoformat(), env=env, stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE)
                _, err = await proc.communicate()
                if proc.returncode == 0:
                    return
                print(f"    outbox replay of {service} failed, again: {err.decode()[-160:]!r}", flush=True)
                if time.monotonic() > deadline:
                    raise RuntimeError(f"outbox replay of {service} kept failing: {err.decode()[-300:]}")
                await asyncio.sleep(2)

        await asyncio.gather(*(replay(service) for service in self.cluster.services))

    async def postgres(self, s: dict[str, Any]) -> None:
        """Only this cluster's databases (PostgreSQL is shared with others on this machine): every
        backend terminated, and connections refused for a while -- as a restart looks to the services."""
        names = [self.cluster.database_name(d) for d in s["databases"]]
        conn = await asyncpg.connect(PG_ADMIN_DSN)
        try:
            for name in names:
                await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
                self.refused.add(name)
                await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
            await asyncio.sleep(s["hold_s"])
        finally:
            for name in names:
                await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
                self.refused.discard(name)
            await conn.close()

    async def rebalance(self, s: dict[str, Any]) -> None:
        proc = self.cluster.add(s["service"], "consumer")
        try:
            await asyncio.sleep(s["stay_s"])
        finally:
            await asyncio.to_thread(self.cluster.kill, proc.name, signal.SIGTERM)
            del self.cluster.processes[proc.name]

    async def partition(self, s: dict[str, Any]) -> None:
        self.proxy.cut()
        try:
            await asyncio.sleep(s["hold_s"])
        finally:
            self.proxy.heal()

    async def inject(self, s: dict[str, Any]) -> None:
        bootstrap = f"127.0.0.1:{self.cluster.broker_port}"
        if s["what"] == "forged":
            ids = self.acked()
            if not ids:
                return
            targets = [ids[int(s["pick"] * len(ids)) - i] for i in range(min(3, len(ids)))]
            forged = forged_verdicts(self.cluster, targets)
            landed = await asyncio.to_thread(publish_records, bootstrap, [r for _, r in forged])
            self.record({"op": "forged", "t": time.time(), "event_ids": [e for e, _ in forged] + landed,
                         "verdict_ids": targets, "report_ids": targets})
            return
        # A genuine verdict published again as it was (the same event id): prefer a superseded one,
        # which applied now would put a report back to an older verdict.
        conn = await asyncpg.connect(self.cluster.dsn("verification"))
        try:
            rows = await conn.fetch("SELECT o.event_id, o.topic, o.message_key, o.headers, o.payload, "
                                    "(v.state = 'superseded') AS old FROM outbox o JOIN verdicts v "
                                    "ON v.id = (convert_from(o.payload, 'UTF8')::json ->> 'verdict_id') "
                                    "WHERE o.event_type = 'report.verified.v1' AND o.sent_at IS NOT NULL "
                                    "ORDER BY old DESC, o.id")
        finally:
            await conn.close()
        if not rows:
            return
        old = [r for r in rows if r["old"]]
        row = (old or rows)[int(s["pick"] * len(old or rows))]
        headers = row["headers"] if isinstance(row["headers"], dict) else json.loads(row["headers"])
        record = SimpleNamespace(topic=row["topic"], key=row["message_key"], headers=headers, value=row["payload"])
        self.record({"op": "replayed", "t": time.time(), "event_id": row["event_id"], "superseded": row["old"]})
        await asyncio.to_thread(publish_records, bootstrap, [record])

    async def double(self, s: dict[str, Any]) -> None:
        await asyncio.gather(*(self.do(f) for f in s["faults"]))

    async def heal(self) -> None:
        """Whatever an interrupted fault left: paused processes, refused databases, the cut road, the broker."""
        for pid in list(self.paused):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        if self.refused:
            conn = await asyncpg.connect(PG_ADMIN_DSN)
            try:
                for name in list(self.refused):
                    await conn.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            finally:
                await conn.close()
        self.proxy.heal()
        if self.cluster.broker is None:
            await asyncio.to_thread(self.cluster.start_broker)


def describe(s: dict[str, Any]) -> str:
    k = s["kind"]
    if k == "kill":
        return f"kill -9 {s['target']}, restarted after {s['down_s']}s"
    if k == "pause":
        return f"SIGSTOP {s['target']} for {s['hold_s']}s"
    if k == "broker":
        return "broker restart, all data lost, outboxes replayed"
    if k == "postgres":
        return f"PostgreSQL refuses {', '.join(s['databases'])} for {s['hold_s']}s (backends terminated)"
    if k == "rebalance":
        return f"a second {s['service']} consumer for {s['stay_s']}s"
    if k == "partition":
        return f"intake unreachable from credit_blacklist for {s['hold_s']}s"
    if k == "inject":
        return f"{s['what']} event injected"
    if k == "double":
        return " + ".join(describe(f) for f in s["faults"])
    return k
