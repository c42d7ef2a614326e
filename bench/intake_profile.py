"""Intake's `POST /v1/reports` against its baseline app, layer by layer (#22, items 2 and 3).

    .venv/bin/python -m bench.intake_profile --out bench/results/2026-12-01-intake-profile-before.txt
    .venv/bin/python -m bench.intake_profile --growth 10000,100000,1000000 --json bench/results/...json

For each app (baseline first, then intake, back to back, one process each, the same closed-loop load
of bench/run.py), measured in one run:
* requests/s and p99 (closed loop, 32 connections);
* CPU seconds per request of the API process, and of the PostgreSQL backends serving its database
  (`/proc/<pid>/stat` before and after the measured window: robust to a machine shared with others);
* rows and index entries written per request (pg_stat_user_tables / pg_statio_user_indexes);
* a py-spy profile of the API process (separate load run), in layers (bench/profile.py);
* EXPLAIN (ANALYZE, BUFFERS, WAL) of each statement of a submission batch, on intake's database after the load.

`--growth` instead seeds intake's database to each size in turn (bench/run.py's seeding) and
measures intake alone at each: rps, p99 and CPU per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from bench.profile import Sampler
from bench.run import _admin, _seed_reports, _wait_http, load_in_child, rss_mb
from shared.broker import die_with_parent, free_port
from tools.cluster import PG_ADMIN_DSN, Cluster

ROOT = Path(__file__).resolve().parent.parent
TICKS = os.sysconf("SC_CLK_TCK")
IDLE_S = 3.0


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


async def _backends(dsn: str, database: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        return [r["pid"] for r in await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", database)]
    finally:
        await conn.close()


async def _table_stats(dsn: str) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        out: dict[str, int] = {}
        for r in await conn.fetch("SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables"):
            out[f"rows_inserted.{r['relname']}"] = r["n_tup_ins"]
        for r in await conn.fetch("SELECT relname, indexrelname, idx_blks_hit + idx_blks_read AS blks "
                                  "FROM pg_statio_user_indexes"):
            out[f"index_blocks_touched.{r['relname']}.{r['indexrelname']}"] = r["blks"]
        for r in await conn.fetch("SELECT relname, heap_blks_hit + heap_blks_read AS blks FROM pg_statio_user_tables"):
            out[f"heap_blocks_touched.{r['relname']}"] = r["blks"]
        return out
    finally:
        await conn.close()


async def _index_list(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return [f"{r['tablename']}: {r['indexdef']}" for r in await conn.fetch(
            "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename IN ('reports', 'allegations', 'outbox', 'trace_links', 'idempotency_keys') "
            "ORDER BY tablename, indexname")]
    finally:
        await conn.close()


def measured(port: int, token: str, dsn: str, database: str, pids: dict[str, int], duration: float,
             first: int) -> dict[str, Any]:
    """One closed-loop run with CPU per request of each process and of the database's backends."""
    load_in_child("closed", port, token, duration=2, warmup=0, first=first + 5_000_000)  # warm connections
    backends = asyncio.run(_backends(PG_ADMIN_DSN, database))
    # What each process spends with nothing to do (a relay and a consumer poll): measured first, for
    # IDLE_S, and taken off the loaded window's CPU in `cpu_ms_per_request_less_idle`, so that a slower
    # run (a busier machine) does not look dearer per request only because the idle cost is spread
    # over fewer requests.
    idle_from = {name: cpu_s(pid) for name, pid in pids.items()}
    time.sleep(IDLE_S)
    idle_rate = {name: (cpu_s(pid) - idle_from[name]) / IDLE_S for name, pid in pids.items()}
    stats_before = asyncio.run(_table_stats(dsn))
    before = {name: cpu_s(pid) for name, pid in pids.items()}
    pg_before = sum(cpu_s(pid) for pid in backends)
    started = time.monotonic()
    out = load_in_child("closed", port, token, duration=duration, warmup=0, first=first)["summary"]
    window = time.monotonic() - started
    after = {name: cpu_s(pid) for name, pid in pids.items()}
    pg_after = sum(cpu_s(pid) for pid in backends)
    stats_after = asyncio.run(_table_stats(dsn))
    n = max(out["requests"], 1)
    out["cpu_ms_per_request"] = {name: round((after[name] - before[name]) / n * 1000, 3) for name in pids}
    out["cpu_ms_per_request"]["postgresql_backends"] = round((pg_after - pg_before) / n * 1000, 3)
    out["idle_cpu_share_of_a_core"] = {name: round(rate, 4) for name, rate in idle_rate.items()}
    out["cpu_ms_per_request_less_idle"] = {
        name: round(max(after[name] - before[name] - idle_rate[name] * window, 0) / n * 1000, 3) for name in pids}
    out["per_request"] = {k: round((stats_after.get(k, 0) - stats_before.get(k, 0)) / n, 2)
                          for k in sorted(stats_after) if stats_after.get(k, 0) != stats_before.get(k, 0)}
    return out


# The statements of a batch of submissions, as store.py / repeats.py / shared/uow.py issue them, explained on
# intake's database after the load (inserts inside a transaction that is rolled back).
async def explain_intake(dsn: str) -> list[str]:
    conn = await asyncpg.connect(dsn)
    lines: list[str] = []
    try:
        keys = [r["subject_key"] for r in await conn.fetch(
            "SELECT subject_key FROM reports ORDER BY received_at DESC LIMIT 32")]
        statements: list[tuple[str, str, list[Any]]] = []
        statements.append(("duplicate check: latest reports of the batch's officials (repeats.py)", """
                SELECT anon_1.id, anon_1.reporter_blind_index, anon_1.status, anon_1.subject_key
                FROM (SELECT reports.id AS id, reports.reporter_blind_index AS reporter_blind_index,
                      reports.status AS status, reports.subject_key AS subject_key, reports.received_at AS received_at,
                      row_number() OVER (PARTITION BY reports.subject_key
                                         ORDER BY reports.received_at DESC, reports.id DESC) AS rank
                      FROM reports WHERE reports.subject_key = ANY($1::varchar[])) AS anon_1
                WHERE anon_1.rank <= 200 ORDER BY anon_1.received_at, anon_1.id""", [keys]))
        for title, sql, args in statements:
            lines.append(f"-- {title}")
            plan = await conn.fetch(f"EXPLAIN (ANALYZE, BUFFERS, WAL) {sql}", *args)
            lines.extend("   " + r[0] for r in plan)
        # One report written as a batch writes it, explained in a rolled-back transaction.
        tr = conn.transaction()
        await tr.start()
        try:
            row = await conn.fetchrow("SELECT * FROM reports ORDER BY received_at DESC LIMIT 1")
            new_id = str(uuid.uuid4())
            cols = [c for c in row.keys() if c not in ("id", "receipt_code_hash")]
            lines.append("-- INSERT INTO reports (one row, copied from the latest with a new id and receipt hash)")
            plan = await conn.fetch(
                f"EXPLAIN (ANALYZE, BUFFERS, WAL) INSERT INTO reports (id, receipt_code_hash, {', '.join(cols)}) "
                f"SELECT $1::varchar, md5($1::varchar) || md5($1::varchar), {', '.join('r.' + c for c in cols)} "
                "FROM reports r WHERE r.id = $2",
                new_id, row["id"])
            lines.extend("   " + r[0] for r in plan)
            if await conn.fetchval("SELECT to_regclass('allegations') IS NOT NULL"):
                lines.append("-- INSERT INTO allegations (one row)")
                plan = await conn.fetch(
                    "EXPLAIN (ANALYZE, BUFFERS, WAL) INSERT INTO allegations "
                    "(id, report_id, position, category, summary) VALUES ($1, $2, 0, 'bribery', 'x')",
                    str(uuid.uuid4()), new_id)
                lines.extend("   " + r[0] for r in plan)
            lines.append("-- INSERT INTO outbox (one row, copied)")
            plan = await conn.fetch(
                "EXPLAIN (ANALYZE, BUFFERS, WAL) INSERT INTO outbox (event_id, event_type, topic, message_key, "
                "headers, payload, created_at, publish_count) SELECT $1, event_type, topic, message_key, headers, "
                "payload, now(), 0 FROM outbox "
                "ORDER BY id DESC LIMIT 1", str(uuid.uuid4()))
            lines.extend("   " + r[0] for r in plan)
        finally:
            await tr.rollback()
    finally:
        await conn.close()
    return lines


def compare(duration: float, profile: bool, first: int) -> dict[str, Any]:
    workdir = ROOT / "data" / "bench" / f"intake-profile-{uuid.uuid4().hex[:6]}"
    cluster = Cluster(workdir, services=("intake",))
    cluster.start(roles=("api", "relay"))
    baseline_db = f"zm_bench_{uuid.uuid4().hex[:8]}_baseline"
    asyncio.run(_admin(f'CREATE DATABASE "{baseline_db}"'))
    port = free_port()
    baseline_dsn = PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{baseline_db}"
    baseline = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.baseline_app:app", "--port", str(port),
                                 "--log-level", "warning", "--no-access-log"],
                                env={**os.environ, "BASELINE_DSN": baseline_dsn}, cwd=ROOT,
                                preexec_fn=die_with_parent)
    results: dict[str, Any] = {}
    try:
        _wait_http(f"http://127.0.0.1:{port}/docs")
        api = cluster.processes_by_role("api", "intake")[0]
        relay = cluster.processes_by_role("relay", "intake")[0]
        token = cluster.token("reports:submit")
        intake_dsn = cluster.dsn("intake")
        intake_db = cluster.database_name("intake")
        assert api.popen is not None and relay.popen is not None
        results["baseline"] = measured(port, token, baseline_dsn, baseline_db, {"api": baseline.pid}, duration, first)
        results["intake"] = measured(api.port, token, intake_dsn, intake_db,
                                     {"api": api.popen.pid, "relay": relay.popen.pid}, duration, first)
        results["ratio"] = round(results["intake"]["rps"] / max(results["baseline"]["rps"], 1e-9), 2)
        results["cpu_ratio_api"] = round(results["baseline"]["cpu_ms_per_request"]["api"]
                                         / max(results["intake"]["cpu_ms_per_request"]["api"], 1e-9), 2)
        results["intake_rss_mb_after"] = rss_mb(api.popen.pid)
        results["indexes"] = asyncio.run(_index_list(intake_dsn))
        print(json.dumps({k: results[k] for k in ("baseline", "intake", "ratio")}, default=str), flush=True)
        try:
            results["explain"] = asyncio.run(explain_intake(intake_dsn))
        except Exception as exc:  # the figures stand without the plans
            results["explain"] = [f"EXPLAIN failed: {exc!r}"]
        if profile:
            for name, p, pid in (("baseline", port, baseline.pid), ("intake", api.port, api.popen.pid)):
                raw = workdir / f"profile-{name}.txt"
                # The sampler starts once the load has (the load process makes its bodies first, which
                # takes seconds on a busy machine), and stops before it does.
                loader = threading.Thread(target=load_in_child, args=("closed", p, token),
                                          kwargs={"duration": 14, "warmup": 0, "first": first + 10_000_000})
                loader.start()
                deadline = time.monotonic() + 60
                idle = cpu_s(pid)
                while cpu_s(pid) - idle < 0.3 and time.monotonic() < deadline:
                    time.sleep(0.1)  # polling the server's CPU time: the load has begun once it climbs
                sampler = Sampler(pid, 8, raw)
                results[f"profile_{name}"] = sampler.wait()
                loader.join()
                if raw.exists():
                    results[f"profile_{name}"]["inclusive"] = inclusive(raw)
        return results
    finally:
        baseline.terminate()
        baseline.wait()
        cluster.stop()
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{baseline_db}" WITH (FORCE)'))


# Inclusive shares: the samples whose stack passes through a marker (a frame's file or function).
INCLUSIVE = (
    ("HTTP server + framework (uvicorn, starlette, fastapi)", ("uvicorn", "starlette", "fastapi/")),
    ("fast route (shared/fastroute.py)", ("fastroute.py",)),
    ("request body validation (pydantic)", ("validate_json", "model_validate")),
    ("service.prepare (ids, encryption, blind index, shingles)", ("prepare (services/intake/service.py",)),
    ("encryption + blind index (shared/crypto)", ("shared/crypto.py",)),
    ("shingling (domain.shingles/allegation_text)", ("shingles (services/intake/domain.py",
                                                     "allegation_text (services/intake/domain.py")),
    ("group commit writer (writer._write)", ("_write (services/intake/writer.py",)),
    ("store.submit_many", ("submit_many (services/intake/store.py",)),
    ("duplicate check query + assess", ("earlier_reports (services/intake/repeats.py", "assess (services/intake")),
    ("events encoded + outbox (uow.flush_events)", ("flush_events (shared/uow.py",)),
    ("commit (uow.commit minus flush)", ("commit (shared/uow.py",)),
    ("sqlalchemy", ("sqlalchemy/",)),
    ("asyncpg", ("asyncpg/",)),
    ("logging / access line", ("logging/", "structlog", "shared/logs.py")),
    ("tracing", ("shared/tracing.py",)),
    ("event loop idle (select/epoll)", ("select (selectors.py", "_run_once")),
)


def inclusive(raw: Path) -> dict[str, float]:
    totals = {name: 0 for name, _ in INCLUSIVE}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        n = int(count_text)
        total += n
        for name, markers in INCLUSIVE:
            if any(m in stack for m in markers):
                totals[name] += n
    return {name: round(v / max(total, 1), 3) for name, v in totals.items()}


def growth(sizes: list[int], duration: float) -> dict[str, Any]:
    workdir = ROOT / "data" / "bench" / f"intake-growth-{uuid.uuid4().hex[:6]}"
    cluster = Cluster(workdir, services=("intake",))
    cluster.start(roles=("api", "relay"))
    results: dict[str, Any] = {}
    try:
        api = cluster.processes_by_role("api", "intake")[0]
        relay = cluster.processes_by_role("relay", "intake")[0]
        assert api.popen is not None and relay.popen is not None
        token = cluster.token("reports:submit")
        dsn, db = cluster.dsn("intake"), cluster.database_name("intake")
        seeded = 0
        for i, size in enumerate(sizes):
            started = time.monotonic()
            asyncio.run(_seed_reports(dsn, seeded, size))
            seeded = size
            seed_s = time.monotonic() - started
            asyncio.run(_admin_on(dsn, "CHECKPOINT"))
            out = measured(api.port, token, dsn, db, {"api": api.popen.pid, "relay": relay.popen.pid},
                           duration, first=20_000_000 * (i + 1))
            results[str(size)] = {"seed_s": round(seed_s, 1), **out}
            try:  # the statements' plans, buffers and WAL (full-page images) at this size, after the load
                results[str(size)]["explain"] = asyncio.run(explain_intake(dsn))
            except Exception as exc:
                results[str(size)]["explain"] = [f"EXPLAIN failed: {exc!r}"]
            print(size, json.dumps({k: out[k] for k in ("rps", "p99_ms", "cpu_ms_per_request")}), flush=True)
        try:
            results["explain_at_largest"] = asyncio.run(explain_intake(dsn))
        except Exception as exc:
            results["explain_at_largest"] = [f"EXPLAIN failed: {exc!r}"]
        return results
    finally:
        cluster.stop()


def growth_interleaved(sizes: list[int], duration: float, rounds: int) -> dict[str, Any]:
    """The growth table robust to a machine shared with others: one intake (API and relay) per size, each on
    its own database seeded once to its size, measured in turns (the order rotating each round), so every
    size meets the same changes of load; per size the median of its rounds."""
    workdir = ROOT / "data" / "bench" / f"intake-growth-{uuid.uuid4().hex[:6]}"
    clusters = {size: Cluster(workdir / str(size), services=("intake",)) for size in sizes}
    results: dict[str, Any] = {"method": f"interleaved, {rounds} rounds of {duration:g} s per size, median"}
    try:
        for size, cluster in clusters.items():
            cluster.start(roles=("api", "relay"))
            started = time.monotonic()
            asyncio.run(_seed_reports(cluster.dsn("intake"), 0, size))
            results[str(size)] = {"seed_s": round(time.monotonic() - started, 1), "runs": []}
        asyncio.run(_admin_on(clusters[sizes[0]].dsn("intake"), "CHECKPOINT"))
        for r in range(rounds):
            for j in range(len(sizes)):
                size = sizes[(r + j) % len(sizes)]
                cluster = clusters[size]
                api = cluster.processes_by_role("api", "intake")[0]
                relay = cluster.processes_by_role("relay", "intake")[0]
                assert api.popen is not None and relay.popen is not None
                out = measured(api.port, cluster.token("reports:submit"), cluster.dsn("intake"),
                               cluster.database_name("intake"), {"api": api.popen.pid, "relay": relay.popen.pid},
                               duration, first=20_000_000 * (r + 1) + 1_000_000 * j)
                results[str(size)]["runs"].append(out)
                print(size, r, json.dumps({k: out[k] for k in ("rps", "p99_ms", "cpu_ms_per_request",
                                                               "cpu_ms_per_request_less_idle")}), flush=True)
        for size in sizes:
            runs = results[str(size)]["runs"]

            def median(get: Any, runs: list[dict[str, Any]] = runs) -> float:
                return round(statistics.median(get(x) for x in runs), 3)

            results[str(size)].update(
                rps=median(lambda x: x["rps"]), p99_ms=median(lambda x: x["p99_ms"]),
                cpu_ms_per_request={k: median(lambda x, k=k: x["cpu_ms_per_request"][k])
                                    for k in runs[0]["cpu_ms_per_request"]},
                cpu_ms_per_request_less_idle={k: median(lambda x, k=k: x["cpu_ms_per_request_less_idle"][k])
                                              for k in runs[0]["cpu_ms_per_request_less_idle"]})
        try:
            results["explain_at_largest"] = asyncio.run(explain_intake(clusters[sizes[-1]].dsn("intake")))
        except Exception as exc:
            results["explain_at_largest"] = [f"EXPLAIN failed: {exc!r}"]
        return results
    finally:
        for cluster in clusters.values():
            cluster.stop()


def serve() -> None:
    """Start intake (API and relay) on a fresh database from this checkout, print where it is as one JSON
    line, and keep it running until stdin closes: for `--ab`, which measures two checkouts in turns."""
    workdir = ROOT / "data" / "bench" / f"intake-serve-{uuid.uuid4().hex[:6]}"
    cluster = Cluster(workdir, services=("intake",))
    cluster.start(roles=("api", "relay"))
    try:
        api = cluster.processes_by_role("api", "intake")[0]
        relay = cluster.processes_by_role("relay", "intake")[0]
        assert api.popen is not None and relay.popen is not None
        print(json.dumps({"port": api.port, "token": cluster.token("reports:submit"), "dsn": cluster.dsn("intake"),
                          "database": cluster.database_name("intake"),
                          "pids": {"api": api.popen.pid, "relay": relay.popen.pid}}), flush=True)
        sys.stdin.read()
    finally:
        cluster.stop()


def ab(checkouts: list[str], duration: float, rounds: int) -> dict[str, Any]:
    """Intake from each checkout (a directory with this script), measured in turns: CPU per request of the same
    load on the same machine at the same moments, robust to others' load changing."""
    servers = {}
    for checkout in checkouts:
        proc = subprocess.Popen([sys.executable, "-m", "bench.intake_profile", "--serve"], cwd=checkout,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent)
        assert proc.stdout is not None
        servers[checkout] = (proc, json.loads(proc.stdout.readline()))
    results: dict[str, Any] = {"method": f"in turns, {rounds} rounds of {duration:g} s each, median",
                               **{c: {"runs": []} for c in checkouts}}
    try:
        for r in range(rounds):
            for j in range(len(checkouts)):
                checkout = checkouts[(r + j) % len(checkouts)]
                where = servers[checkout][1]
                out = measured(where["port"], where["token"], where["dsn"], where["database"], where["pids"],
                               duration, first=1_000_000 * (r + 1))
                results[checkout]["runs"].append(out)
                print(checkout, r, json.dumps({k: out[k] for k in ("rps", "p99_ms", "cpu_ms_per_request",
                                                                    "cpu_ms_per_request_less_idle")}),
                      flush=True)
        for checkout in checkouts:
            runs = results[checkout]["runs"]
            results[checkout]["median"] = {
                "rps": statistics.median(x["rps"] for x in runs),
                "cpu_ms_per_request_less_idle": {
                    k: round(statistics.median(x["cpu_ms_per_request_less_idle"][k] for x in runs), 3)
                    for k in runs[0]["cpu_ms_per_request_less_idle"]},
                "cpu_ms_per_request": {k: round(statistics.median(x["cpu_ms_per_request"][k] for x in runs), 3)
                                       for k in runs[0]["cpu_ms_per_request"]}}
        return results
    finally:
        for proc, _ in servers.values():
            assert proc.stdin is not None
            proc.stdin.close()
            proc.wait(timeout=120)


async def _admin_on(dsn: str, sql: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def as_text(results: dict[str, Any], title: str) -> str:
    lines = [title, "=" * len(title), ""]
    b, i = results["baseline"], results["intake"]
    lines.append(f"{'':44}{'baseline':>14}{'intake':>14}")
    for key in ("rps", "p50_ms", "p99_ms", "requests", "errors"):
        lines.append(f"{key:44}{b[key]!s:>14}{i[key]!s:>14}")
    for key in ("api", "relay", "postgresql_backends"):
        lines.append(f"{'CPU ms/request, ' + key:44}{b['cpu_ms_per_request'].get(key, '-')!s:>14}"
                     f"{i['cpu_ms_per_request'].get(key, '-')!s:>14}")
    lines.append(f"{'CPU ms/request, api, less its idle CPU':44}{b['cpu_ms_per_request_less_idle']['api']!s:>14}"
                 f"{i['cpu_ms_per_request_less_idle']['api']!s:>14}")
    lines.append(f"{'idle CPU, share of a core, api':44}{b['idle_cpu_share_of_a_core']['api']!s:>14}"
                 f"{i['idle_cpu_share_of_a_core']['api']!s:>14}")
    lines.append(f"ratio intake/baseline rps: {results['ratio']}   (API CPU per request baseline/intake: "
                 f"{results['cpu_ratio_api']})")
    lines.append("")
    lines.append("Rows inserted and blocks touched per request (pg_stat_user_tables / pg_statio_*):")
    for name in ("baseline", "intake"):
        for k, v in results[name]["per_request"].items():
            lines.append(f"  {name:9} {k:70} {v}")
    lines.append("")
    lines.append("Indexes on intake's write path tables:")
    lines.extend("  " + x for x in results["indexes"])
    for name in ("baseline", "intake"):
        prof = results.get(f"profile_{name}")
        if not prof:
            continue
        lines.append("")
        lines.append(f"py-spy, {name} API process ({prof.get('samples')} samples): share by layer (innermost frame)")
        for layer, share in prof.get("share_by_layer", {}).items():
            lines.append(f"  {layer:40} {share:6.1%}")
        lines.append("  inclusive (samples whose stack passes through):")
        for layer, share in prof.get("inclusive", {}).items():
            lines.append(f"    {layer:60} {share:6.1%}")
        lines.append("  hottest functions:")
        for f in prof.get("hottest_functions", []):
            lines.append(f"    {f['share']:6.1%}  {f['function']}")
    lines.append("")
    lines.append("EXPLAIN (ANALYZE, BUFFERS, WAL) on intake's database after the load:")
    lines.extend(results["explain"])
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=float, default=8)
    parser.add_argument("--no-profile", dest="profile", action="store_false")
    parser.add_argument("--growth", default="")
    parser.add_argument("--serve", action="store_true", help="start intake from this checkout, print where")
    parser.add_argument("--ab", default="", help="checkouts (directories) whose intakes are measured in turns")
    parser.add_argument("--rounds", type=int, default=0, help="with --growth: sizes measured in turns, N rounds")
    parser.add_argument("--out", default="")
    parser.add_argument("--json", default="")
    parser.add_argument("--title", default="intake POST /v1/reports vs bench/baseline_app.py, one process each")
    args = parser.parse_args(argv)
    if args.serve:
        serve()
        return 0
    if args.ab:
        results = ab(args.ab.split(","), args.duration, args.rounds or 3)
    elif args.growth:
        sizes = [int(s) for s in args.growth.split(",")]
        results = growth_interleaved(sizes, args.duration, args.rounds) if args.rounds \
            else growth(sizes, args.duration)
    else:
        results = compare(args.duration, args.profile, first=0)
        text = as_text(results, args.title)
        print(text)
        if args.out:
            Path(args.out).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
