"""Benchmark of `POST /v1/checks` against one million entries on PostgreSQL.

    .venv/bin/python bench/check_benchmark.py [--entries 1000000] [--servers 1,2] [--rates 1000,3000] ...

What it does, in order:
1. creates a throw-away database on PostgreSQL (`--admin-dsn`, default 127.0.0.1:5432 as postgres),
   migrates it with the service's Alembic tree, and seeds `--entries` rows straight into `entries`
   with COPY (asyncpg): real ciphertexts and blind indexes made with a fresh key file, a realistic
   mix of statuses and severities, valid resident ID numbers;
2. for each `--servers` count N, starts the API as it ships, `zhengming run credit_blacklist --role
   api --workers N` (N processes on one port, the service's JSON logging at `--log-level`; relay,
   consumer and sweep off: nothing else competes for the CPU);
3. drives it from a second child process (bench/loadgen.py's lean engine) with raw HTTP/1.1
   keep-alive connections, each request a real bearer token (verified, then cached as the service
   does) and a valid ID number, half of them in the table:
   * closed loop: `--connections` connections as fast as they are answered, for `--duration` s
     (the most the service does on this machine);
   * open loop: a fixed `--rate` of requests per second for `--duration` s, latency measured
     from the moment each request was *due*, so a stall is counted, not hidden;
   and the CPU the service, PostgreSQL and the load generator used, per check;
4. prints machine, database, settings and the figures as JSON, and drops the database.

The load generator runs on the same machine and takes CPU from the service: the figures are a
lower bound of what the service does alone. Nothing here is part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import os
import platform
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402
from stdnum.cn import ric  # noqa: E402

from services.credit_blacklist.domain import last_listed_day, normalize_id_number  # noqa: E402
from services.registry import SERVICES  # noqa: E402
from services.supervisor import service_command, spawn  # noqa: E402
from shared.auth import generate_keypair, mint_token  # noqa: E402
from shared.crypto import FieldCipher  # noqa: E402
from shared.migrate import upgrade  # noqa: E402

MIGRATIONS = SERVICES["credit_blacklist"].migrations_dir
REGIONS = ["330502", "330503", "330102", "110105", "310101", "440305", "510104", "420102"]
# Birthplace codes python-stdnum accepts in an ID number (its table knows which codes were valid when).
ID_REGIONS = ["110101", "110102", "110105", "110106", "110108", "120101", "120102", "310101", "310104", "310105"]
NAMES = ["李秀英", "王建国", "张伟", "刘洋", "陈静", "杨磊", "赵敏", "黄勇"]
COLUMNS = (
    "id", "report_id", "case_id", "verdict_id", "region_code", "status", "status_before_review", "severity",
    "reason_code", "legal_basis_ref", "legal_basis_text", "repeat_offender", "publication", "period_months",
    "minimum_months", "period_basis", "name_enc", "id_number_enc", "phone_enc", "address_enc", "blind_index",
    "notified_at", "objection_deadline", "listed_from", "listed_until", "removed_at", "removal_reason",
    "removed_by", "removal_note", "created_at", "updated_at",
)
PERIODS = {"minor": (1, 2, 3), "ordinary": (3, 6, 12), "serious": (12, 24, 36)}


def resident_id(n: int) -> str:
    """The n-th of a family of distinct, valid resident ID numbers."""
    region = ID_REGIONS[n % len(ID_REGIONS)]
    birth = date(1950, 1, 1) + timedelta(days=(n // 1000) % 20000)
    body = f"{region}{birth:%Y%m%d}{n % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def entry_row(n: int, cipher: FieldCipher, today: date, rng: random.Random) -> tuple[Any, ...]:
    id_number = resident_id(n)
    severity = rng.choices(["minor", "ordinary", "serious"], weights=[2, 6, 2])[0]
    _, standard, _ = PERIODS[severity]
    status = rng.choices(["active", "notified", "expired", "revoked", "repaired", "under_review"],
                         weights=[70, 8, 12, 4, 4, 2])[0]
    if status == "notified":
        notified_on = today - timedelta(days=rng.randint(0, 14))
    else:
        notified_on = today - timedelta(days=rng.randint(20, 30 * standard - 5))
    deadline = notified_on + timedelta(days=15)
    listed_from = listed_until = None
    if status in ("active", "expired", "repaired", "under_review"):
        listed_from = deadline + timedelta(days=1)
        listed_until = last_listed_day(listed_from, standard)
    if status == "expired":  # an expired entry's period is over
        listed_until = today - timedelta(days=rng.randint(1, 300))
        listed_from = listed_until - timedelta(days=30 * standard)
    at = datetime.combine(notified_on, datetime.min.time(), UTC)
    removed = status in ("expired", "revoked", "repaired")
    return (
        str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4()), REGIONS[n % len(REGIONS)],
        status, "active" if status == "under_review" else None, severity, "false_accusation",
        "bench: 地方性法规 第十二条", "bench: 授权列入失信黑名单的条款", False,
        "internal" if severity == "minor" else "public", standard, PERIODS[severity][0], "P-STANDARD",
        cipher.encrypt(NAMES[n % len(NAMES)], column="entries.name_enc"),
        cipher.encrypt(id_number, column="entries.id_number_enc"), None, None,
        cipher.blind_index(normalize_id_number(id_number)), at, deadline, listed_from, listed_until,
        at if removed else None, {"expired": "period_ended", "revoked": "objection_upheld",
                                  "repaired": "credit_repaired"}.get(status), "system" if removed else None, None,
        at, at,
    )


async def seed(dsn: str, cipher: FieldCipher, entries: int, today: date) -> float:
    rng = random.Random(20261121)
    started = time.monotonic()
    conn = await asyncpg.connect(dsn)
    try:
        batch, done = 20_000, 0
        while done < entries:
            rows = [entry_row(n, cipher, today, rng) for n in range(done, min(entries, done + batch))]
            await conn.copy_records_to_table("entries", records=rows, columns=COLUMNS)
            done += len(rows)
            print(f"\rseeding {done}/{entries}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        # A table in service has long been vacuumed and checkpointed: do it now, so that the autovacuum
        # and checkpoint a fresh million rows would set off do not run during the measurement. The
        # counter tables too: migration 0007's trigger bumped the one-row counter once per copied row,
        # a million versions of one row in 50 transactions, which the cache's question (one per few
        # checks) would otherwise read through until autovacuum came by (a service lists a few people
        # a day, each in its own transaction, and never piles them up like this).
        await conn.execute("VACUUM (ANALYZE) entries, check_generation, check_listable")
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()
    return time.monotonic() - started


# --- the server ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(env: dict[str, str], port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    """The API as it ships: `zhengming run credit_blacklist --role api --workers N`, N processes
    sharing the port through their own SO_REUSEPORT sockets (each with TCP_NODELAY; uvicorn's own
    --workers shares one inherited socket that missed TCP_NODELAY, and every response then waited
    ~40 ms for a delayed ACK)."""
    return spawn(service_command("credit_blacklist", "--role", "api", "--port", str(port), "--workers", str(workers)),
                 log=log, env=env)


def process_tree(pid: int) -> list[int]:
    """`pid` and its descendants (the workers under `zhengming run --workers`)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo.extend(int(child) for child in task.read_text().split())
    return pids


def wait_ready(port: int, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited:\n{log.read_text()[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /livez HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
                if s.recv(100).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("server not ready")


# --- the load generator ------------------------------------------------------------------------------


def request_bytes(token: str, id_number: str) -> bytes:
    body = json.dumps({"id_number": id_number}).encode()
    return (f"POST /v1/checks HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def run_load(kind: str, port: int, requests: list[bytes], args: dict[str, Any], out: Any) -> None:
    """In the load generator's process: bench/loadgen.py's lean engine on uvloop."""
    import resource

    from bench import loadgen

    loadgen.use_fast_event_loop()
    if kind == "closed":
        result = asyncio.run(loadgen.lean_closed_loop(
            "127.0.0.1", [port], requests, connections=args["connections"], warmup_s=args["warmup"],
            duration_s=args["duration"], marker=b'"listed":true'))
        result["listed_answers"] = result.pop("marked_answers", 0)
    else:
        result = asyncio.run(loadgen.lean_open_loop(
            "127.0.0.1", [port], requests, rate=args["rate"], connections=args["pool"], warmup_s=args["warmup"],
            duration_s=args["duration"]))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result["load_generator_cpu_s"] = usage.ru_utime + usage.ru_stime
    out.put(result)


def in_child(kind: str, port: int, requests: list[bytes], args: dict[str, Any]) -> dict[str, Any]:
    """The load generator runs in its own process, so it does not share the GIL with anything."""
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=run_load, args=(kind, port, requests, args, out))
    proc.start()
    result: dict[str, Any] = out.get()
    proc.join()
    return result


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) used so far by these processes."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError):
            pass
    return total


def postgres_pids() -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if "(postgres)" in stat.read_text():
                pids.append(int(stat.parent.name))
        except OSError:
            pass
    return pids


def machine_busy_seconds() -> float:
    """CPU seconds all processes on the machine spent busy so far (from /proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def measured(kind: str, port: int, server: subprocess.Popen[bytes], requests: list[bytes],
             settings: dict[str, Any]) -> dict[str, Any]:
    """One load run, with the CPU the service processes, PostgreSQL and the load generator used
    meanwhile: in cores, and in milliseconds per request answered (warm-up included), the figure
    that does not depend on what else the machine was doing."""
    server_pids, pg_before_pids = process_tree(server.pid), set(postgres_pids())
    server_before, machine_before = cpu_seconds(server_pids), machine_busy_seconds()
    pg_before = {pid: cpu_seconds([pid]) for pid in pg_before_pids}
    started = time.monotonic()
    result = in_child(kind, port, requests, settings)
    wall = time.monotonic() - started
    pg_after = set(postgres_pids())
    pg_used = sum(cpu_seconds([pid]) - pg_before.get(pid, 0.0) for pid in pg_after)
    service_used = cpu_seconds(server_pids) - server_before
    load_used = result.pop("load_generator_cpu_s")
    answered = result["requests"] * (settings["duration"] + settings["warmup"]) / settings["duration"]
    result["cpu_cores_busy"] = {
        "service": round(service_used / wall, 2),
        "postgres": round(pg_used / wall, 2),
        "load_generator": round(load_used / wall, 2),
        "whole_machine": round((machine_busy_seconds() - machine_before) / wall, 2),
    }
    result["cpu_ms_per_check"] = {
        "service": round(service_used * 1000 / answered, 3),
        "postgres": round(pg_used * 1000 / answered, 3),
        "load_generator": round(load_used * 1000 / answered, 3),
    }
    return result


# --- the profile -----------------------------------------------------------------------------------------

# The layers of a check, by the file of a frame (the first match wins): what the request middleware,
# the log line, the ids, the database driver... cost. A sample counts for the layer of its innermost
# frame (where the CPU was); `inclusive` counts it for every layer on its stack (a layer and what it
# called).
CHECK_LAYERS = (
    ("request id (asgi_correlation_id)", "asgi_correlation_id"),
    ("middleware (shared/middleware.py)", "shared/middleware.py"),
    ("logging (stdlib logging, structlog, shared/logs.py)", "logging/"),
    ("logging (stdlib logging, structlog, shared/logs.py)", "structlog"),
    ("logging (stdlib logging, structlog, shared/logs.py)", "shared/logs.py"),
    ("tracing and ids (shared/tracing.py, random, secrets, opentelemetry)", "shared/tracing.py"),
    ("tracing and ids (shared/tracing.py, random, secrets, opentelemetry)", "/random.py"),
    ("tracing and ids (shared/tracing.py, random, secrets, opentelemetry)", "/secrets.py"),
    ("tracing and ids (shared/tracing.py, random, secrets, opentelemetry)", "opentelemetry"),
    ("language choice (shared/messages.py, shared/problems.py)", "shared/messages.py"),
    ("language choice (shared/messages.py, shared/problems.py)", "shared/problems.py"),
    ("check cache (services/credit_blacklist/checkcache.py)", "checkcache.py"),
    ("asyncpg", "asyncpg"),
    ("ID-number validation (shared/identity.py, stdnum)", "shared/identity.py"),
    ("ID-number validation (shared/identity.py, stdnum)", "stdnum"),
    ("blind index (shared/crypto.py, hmac)", "shared/crypto.py"),
    ("blind index (shared/crypto.py, hmac)", "/hmac.py"),
    ("pydantic", "pydantic"),
    ("auth and rate limit (shared/auth.py, shared/ratelimit.py, jwt)", "shared/auth.py"),
    ("auth and rate limit (shared/auth.py, shared/ratelimit.py, jwt)", "shared/ratelimit.py"),
    ("auth and rate limit (shared/auth.py, shared/ratelimit.py, jwt)", "jwt/"),
    ("metrics (prometheus_client)", "prometheus_client"),
    ("fast route (shared/fastroute.py)", "shared/fastroute.py"),
    ("the check (services/credit_blacklist)", "services/credit_blacklist"),
    ("FastAPI/Starlette routing and middleware", "starlette"),
    ("FastAPI/Starlette routing and middleware", "fastapi"),
    ("HTTP (uvicorn, httptools)", "uvicorn"),
    ("HTTP (uvicorn, httptools)", "httptools"),
    ("json", "json/"),
    ("event loop (asyncio, uvloop)", "asyncio/"),
    ("event loop (asyncio, uvloop)", "uvloop"),
    ("contextvars, dates, other stdlib", "/lib/python3"),
    ("shared/ other", "shared/"),
)


def _check_layer(frame: str) -> str:
    where = frame[frame.rfind("(") + 1:] if "(" in frame else frame
    for name, marker in CHECK_LAYERS:
        if marker in where:
            return name
    return "idle or native (no Python frame)" if "(" not in frame else "other"


def summarize_profile(raw: Path, top: int = 25) -> dict[str, Any]:
    """py-spy's raw stacks as the share of busy samples per layer: by the innermost frame, and
    inclusive (every layer on the stack). Samples of a thread with no frame (idle) are left out."""
    from collections import Counter

    innermost: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")[1:]  # the first is the thread
        if not frames:
            continue
        count = int(count_text)
        total += count
        innermost[_check_layer(frames[-1])] += count
        for layer in {_check_layer(f) for f in frames}:
            inclusive[layer] += count
        functions[frames[-1]] += count
    if not total:
        return {"samples": 0}
    return {
        "samples": total, "file": str(raw),
        "innermost": {k: round(n / total, 3) for k, n in innermost.most_common()},
        "inclusive": {k: round(n / total, 3) for k, n in inclusive.most_common()},
        "hottest_functions": [{"function": f, "share": round(n / total, 3)} for f, n in functions.most_common(top)],
    }


def profiled(kind: str, port: int, server: subprocess.Popen[bytes], requests: list[bytes],
             settings: dict[str, Any], out_dir: Path, label: str) -> dict[str, Any]:
    """An extra load run (after the measured ones, so sampling bends no figure) with py-spy on every
    API process; their stacks merged."""
    py_spy = Path(sys.executable).parent / "py-spy"
    tree = process_tree(server.pid)
    workers = [pid for pid in tree if pid != server.pid] or [server.pid]
    seconds = int(settings["duration"] + settings["warmup"])
    samplers = []
    for pid in workers:
        raw = out_dir / f"{label}-{pid}.txt"
        samplers.append((raw, subprocess.Popen(
            [str(py_spy), "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "250", "--nonblocking",
             "--format", "raw", "--output", str(raw)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)))
    time.sleep(0.5)
    result = in_child(kind, port, requests, settings)
    merged = out_dir / f"{label}.txt"
    with merged.open("w") as out:
        for raw, proc in samplers:
            proc.communicate(timeout=120)
            if raw.exists():
                out.write(raw.read_text())
    return {"load": {k: result.get(k) for k in ("mode", "throughput_per_s", "achieved_rate_per_s", "p50_ms",
                                                 "p99_ms")},
            "profile": summarize_profile(merged)}


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    return {"cpus": os.cpu_count(), "cpu_model": model, "python": platform.python_version(),
            "kernel": platform.release()}


# --- in process: CPU per check without HTTP, load generator or scheduler noise ---------------------------


def _scope(raw: bytes) -> tuple[dict[str, Any], bytes]:
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    method, path, _ = lines[0].split(b" ")
    headers = [(k.strip().lower(), v.strip()) for k, v in (line.split(b":", 1) for line in lines[1:])]
    return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method.decode(),
            "scheme": "http", "path": path.decode(), "raw_path": path, "query_string": b"", "root_path": "",
            "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}, body


async def _drive(app: Any, requests: list[bytes], count: int, concurrency: int) -> dict[str, Any]:
    """`count` requests straight into the ASGI app (no socket), `concurrency` at a time: the process's
    CPU per request, the statuses, and how many answers said listed."""
    prepared = [_scope(raw) for raw in requests]
    statuses: dict[int, int] = {}
    listed = 0
    next_index = 0

    async def one(n: int) -> None:
        nonlocal listed
        scope, body = prepared[n % len(prepared)]
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal listed
            if message["type"] == "http.response.start":
                statuses[message["status"]] = statuses.get(message["status"], 0) + 1
            elif b'"listed":true' in message.get("body", b""):
                listed += 1

        await app(dict(scope), receive, send)

    async def worker() -> None:
        nonlocal next_index
        while next_index < count:
            n = next_index
            next_index += 1
            await one(n)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"requests": count, "concurrency": concurrency, "cpu_us_per_check": round(cpu * 1e6 / count, 1),
            "wall_us_per_check": round(wall * 1e6 / count, 1), "statuses": statuses, "listed_answers": listed}


def in_process(env: dict[str, str], requests: list[bytes], count: int, concurrency: int, rounds: int,
               cprofile: Path | None, cache: bool = True) -> dict[str, Any]:
    """The service's app in this process (logging as the service logs, to a file), on uvloop: warm-up,
    then `rounds` timed rounds of `count` requests; the best round is the least disturbed."""
    os.environ.update(env)
    from bench import loadgen
    from services.registry import SERVICES as REGISTRY
    from shared.logs import configure_logging

    loadgen.use_fast_event_loop()
    entry = REGISTRY["credit_blacklist"]
    settings = entry.settings(role="api")
    configure_logging("credit_blacklist-api", settings.log_level)
    import logging
    log_file = open(Path(env["ZM_DATA_DIR"]) / "in-process.log", "w")
    logging.getLogger().handlers[0].setStream(log_file)  # type: ignore[attr-defined]
    app = entry.create_app(settings)

    async def run() -> dict[str, Any]:
        async with app.router.lifespan_context(app):
            if not cache and getattr(app.resources, "check_cache", None) is not None:
                app.resources.check_cache = None  # type: ignore[attr-defined]
            await _drive(app, requests, min(count, 5000), concurrency)  # warm-up: connections, caches
            results = []
            for _ in range(rounds):
                if cprofile is not None:
                    # bench/profile.py would shadow the standard library's `profile`, which cProfile imports.
                    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
                    sys.modules.pop("profile", None)
                    import cProfile
                    profiler = cProfile.Profile()
                    profiler.enable()
                    results.append(await _drive(app, requests, count, concurrency))
                    profiler.disable()
                    profiler.dump_stats(cprofile)
                else:
                    results.append(await _drive(app, requests, count, concurrency))
            best = min(results, key=lambda r: r["cpu_us_per_check"])
            cached = getattr(app.resources, "check_cache", None)
            return {**best, "rounds_cpu_us_per_check": [r["cpu_us_per_check"] for r in results],
                    **({"cache_answered": cached.answered, "cache_questions": cached.questions}
                       if cached is not None else {})}

    try:
        return asyncio.run(run())
    finally:
        log_file.close()


def middleware_only(count: int, rounds: int, traced: bool) -> dict[str, Any]:
    """CPU per request of the request middleware every route runs (shared/middleware.py: request id,
    trace, histogram, access line to a file), around an app that answers 200 at once; no database."""
    import logging

    from bench import loadgen
    from shared.logs import configure_logging
    from shared.middleware import RequestContextMiddleware
    from shared.observability import Metrics

    loadgen.use_fast_event_loop()
    configure_logging("bench", "INFO")
    with tempfile.TemporaryFile("w") as sink:
        logging.getLogger().handlers[0].setStream(sink)  # type: ignore[attr-defined]

        class Route:
            path = "/v1/checks"

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            scope["route"] = Route
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", b"2"), (b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": b"{}"})

        middleware = RequestContextMiddleware(app, metrics=Metrics("bench"), max_body_bytes=1 << 20)
        headers = [(b"host", b"bench"), (b"authorization", b"Bearer " + b"x" * 200),
                   (b"content-type", b"application/json"), (b"content-length", b"31")]
        if traced:
            headers += [(b"traceparent", b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
                        (b"x-request-id", b"abc")]
        scope = {"type": "http", "method": "POST", "path": "/v1/checks", "query_string": b"", "headers": headers}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            pass

        async def run() -> list[float]:
            for _ in range(min(count, 3000)):
                await middleware(dict(scope), receive, send)
            results = []
            for _ in range(rounds):
                started = time.process_time()
                for _ in range(count):
                    await middleware(dict(scope), receive, send)
                results.append(round((time.process_time() - started) * 1e6 / count, 1))
            return results

        results = asyncio.run(run())
    return {"requests": count, "with_traceparent_and_request_id": traced, "best_cpu_us_per_request": min(results),
            "rounds_cpu_us_per_request": results}


# --- main -------------------------------------------------------------------------------------------------


async def create_database(admin_dsn: str, name: str) -> str:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
        version = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    return str(version)


async def drop_database(admin_dsn: str, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--admin-dsn", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--servers", default="1,2", help="comma-separated: API worker processes of each "
                        "configuration (`zhengming run credit_blacklist --role api --workers N`)")
    parser.add_argument("--connections", type=int, default=8, help="closed loop: concurrent connections")
    parser.add_argument("--rates", default="1000,3000", help="open loop: requests per second, comma-separated")
    parser.add_argument("--pool", type=int, default=32, help="open loop: connections available")
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--warmup", type=float, default=3)
    parser.add_argument("--log-level", default="INFO", help="the service's log level (INFO logs every request)")
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    parser.add_argument("--profile", type=Path, default=None, help="a directory: after the measured runs of "
                        "each configuration, one more run under py-spy (every API process sampled), its raw "
                        "stacks and their layers written there")
    parser.add_argument("--profile-mode", default="closed", help="the profiled run: closed, or an open-loop rate")
    parser.add_argument("--in-process", type=int, default=0, metavar="N",
                        help="instead of the HTTP runs: N checks straight into the app in this process, CPU per "
                        "check (robust on a busy machine: no socket, no load generator)")
    parser.add_argument("--in-process-rounds", type=int, default=5)
    parser.add_argument("--in-process-concurrency", type=int, default=8)
    parser.add_argument("--cprofile", type=Path, default=None, help="with --in-process: cProfile stats of a round")
    parser.add_argument("--no-cache", action="store_true", help="with --in-process: without the negative cache")
    parser.add_argument("--middleware", type=int, default=0, metavar="N",
                        help="only the shared request middleware around an app that answers at once, N requests a "
                        "round, without and with trace headers (no database); then exit")
    args = parser.parse_args()
    if args.middleware:
        print(json.dumps([middleware_only(args.middleware, args.in_process_rounds, traced) for traced in (False, True)],
                         indent=2))
        return

    name = f"zm_bench_{uuid.uuid4().hex[:8]}"
    pg_version = asyncio.run(create_database(args.admin_dsn, name))
    url = f"{args.admin_dsn.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+asyncpg://')}/{name}"
    dsn = f"{args.admin_dsn.rsplit('/', 1)[0]}/{name}"
    server: subprocess.Popen[bytes] | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="zm-bench-") as tmp:
            data_dir = Path(tmp)
            keys = data_dir / "keys"
            generate_keypair(keys / "jwt-private.pem", keys / "jwt-public.pem")
            FieldCipher.generate_file(keys / "field-keys.json")
            cipher = FieldCipher.from_file(keys / "field-keys.json")
            upgrade(MIGRATIONS, url)
            seed_s = asyncio.run(seed(dsn, cipher, args.entries, date.today()))

            token = mint_token((keys / "jwt-private.pem").read_bytes(), subject="bench-client",
                               scopes=["blacklist:check"], region="", org_level="central", ttl_s=3600)
            rng = random.Random(7)
            # Half of the people checked are in the table (most listed, some expired, revoked...), half never were.
            sample = [resident_id(rng.randrange(args.entries)) if k % 2 == 0
                      else resident_id(args.entries + rng.randrange(1_000_000)) for k in range(20_000)]
            requests = [request_bytes(token, id_number) for id_number in sample]
            env = {**os.environ, "ZM_ENVIRONMENT": "test", "ZM_DATA_DIR": str(data_dir),
                   "ZM_CREDIT_BLACKLIST_DATABASE_URL": url, "ZM_KAFKA_BOOTSTRAP": "127.0.0.1:9",
                   "ZM_RUN_RELAY": "false", "ZM_RUN_CONSUMER": "false", "ZM_CREDIT_BLACKLIST_RUN_SWEEP": "false",
                   "ZM_CREDIT_BLACKLIST_CHECK_REQUESTS_PER_MINUTE": "100000000", "ZM_LOG_LEVEL": args.log_level,
                   "PYTHONPATH": str(ROOT)}
            if args.in_process:
                result = in_process(env, requests, args.in_process, args.in_process_concurrency,
                                    args.in_process_rounds, args.cprofile, cache=not args.no_cache)
                print(json.dumps({"machine": machine(), "entries": args.entries, "in_process": result}, indent=2))
                return
            configurations = []
            for config in args.servers.split(","):
                workers = int(config)
                log = data_dir / f"server-{workers}.log"
                port = free_port()
                server = start_server(env, port, workers, log)
                wait_ready(port, server, log)
                time.sleep(2)  # every worker up, not only the first that answered
                runs = [measured("closed", port, server, requests, {
                    "connections": args.connections, "warmup": args.warmup, "duration": args.duration})]
                for rate in args.rates.split(","):
                    runs.append(measured("open", port, server, requests, {
                        "rate": float(rate), "pool": args.pool, "warmup": args.warmup, "duration": args.duration}))
                for run in runs:
                    print(json.dumps({"workers": workers, **run}), file=sys.stderr)
                profile = None
                if args.profile is not None:
                    args.profile.mkdir(parents=True, exist_ok=True)
                    if args.profile_mode == "closed":
                        profile = profiled("closed", port, server, requests, {
                            "connections": args.connections, "warmup": args.warmup, "duration": args.duration},
                            args.profile, f"closed-{workers}")
                    else:
                        profile = profiled("open", port, server, requests, {
                            "rate": float(args.profile_mode), "pool": args.pool, "warmup": args.warmup,
                            "duration": args.duration}, args.profile, f"open-{args.profile_mode}-{workers}")
                    print(json.dumps({"workers": workers, "profile": profile}, indent=1), file=sys.stderr)
                server.terminate()
                server.wait(timeout=30)
                server = None
                configurations.append({
                    "api_worker_processes": workers, "server_processes": workers,  # the name bench/run.py reads
                    "server_errors_logged": log.read_text().count('"level": "error"'), "runs": runs,
                    **({"profile": profile} if profile is not None else {})})
            report = {
                "machine": machine(), "load_average_at_end": Path("/proc/loadavg").read_text().split()[:3],
                "database": {"engine": "PostgreSQL", "version": pg_version, "where": "same machine, 127.0.0.1",
                             "entries": args.entries, "seed_seconds": round(seed_s, 1)},
                "service": {"command": "zhengming run credit_blacklist --role api --workers N",
                            "log_level": args.log_level,
                            "token": "verified (Ed25519), then cached by shared/auth.py for at most 60 s",
                            "rate_limiter": "on (limit raised for one client)",
                            "http": "uvicorn with httptools and uvloop; POST /v1/checks as a direct ASGI route",
                            "lookup": "one prepared asyncpg statement per check, autocommit"},
                "load_generator": "one separate process on the same machine (bench/loadgen.py lean engine, "
                                  "uvloop), raw HTTP/1.1 keep-alive; open loop timed from when each request fell due",
                "target": {"p99_ms_below": 5, "checks_per_s_above": 3000},
                "configurations": configurations,
            }
            print(json.dumps(report, indent=2, ensure_ascii=False))
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
        if args.keep:
            print(f"database kept: {name}", file=sys.stderr)
        else:
            asyncio.run(drop_database(args.admin_dsn, name))


if __name__ == "__main__":
    main()
