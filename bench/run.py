"""`make bench`: the suite measured against baselines in the same run, on PostgreSQL and the local broker.

    .venv/bin/python -m bench.run [--quick] [--only intake,latency,drain,check,growth]

Writes bench/results/<date>.json; BENCHMARKS.md summarizes the figures with the machine and method.
Absolute numbers on a shared 2-core machine drift from run to run, so throughput is also given as
a ratio to a baseline measured the same way in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import random
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.loadgen import build, closed_loop, json_body, open_loop
from shared.broker import die_with_parent, free_port
from tools.chaos import Plan, Run
from tools.cluster import PG_ADMIN_DSN, Cluster

ROOT = Path(__file__).resolve().parent.parent
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
PLACES = ["城关镇", "开发区", "高新区", "新城街道", "老城区"]
CATEGORIES = ["bribery", "embezzlement", "abuse_of_power", "dereliction", "work_style", "discipline_violation"]


def realistic_body(n: int, rng: random.Random) -> dict[str, Any]:
    """Chinese text, 1-5 allegations, half of the reporters named (encryption and blind index run)."""
    from stdnum.cn import ric

    named = n % 2 == 0
    body: dict[str, Any] = {
        "channel": rng.choice(["online", "letter", "hotline_12388", "visit"]),
        "subject": {"name": rng.choice(SURNAMES) + rng.choice("建国国强立新海燕志刚秀英") + str(n % 997),
                    "position": rng.choice(["局长", "副局长", "科长", "镇长", "主任"]),
                    "organization": f"某县{rng.choice(['自然资源局', '住建局', '财政局', '教育局'])}",
                    "region_code": rng.choice(["330502", "330503", "330521", "330522", "330523"])},
        "allegations": [
            {"category": rng.choice(CATEGORIES),
             "summary": f"反映其在{rng.choice(PLACES)}项目审批中收受好处费{rng.randint(1, 50)}万元，"
                        f"并安排亲属承揽工程，编号{n}-{i}。" * rng.randint(1, 3),
             "occurred_on": f"2026-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"}
            for i in range(rng.randint(1, 5))
        ],
        "reporter": {"anonymous": True},
    }
    if named:
        base = f"11010519{rng.randint(60, 99)}0{rng.randint(1, 9)}1{rng.randint(0, 9)}{n % 1000:03d}"
        body["reporter"] = {"anonymous": False, "name": rng.choice(SURNAMES) + "某", "phone": "13800138000",
                            "id_number": base + ric.calc_check_digit(base + "0")}
    return body


def _load(kind: str, port: int, token: str, conns: int, duration: float, warmup: float, rate: float,
          out: Any) -> None:
    rng = random.Random(7)
    bodies = [json_body(realistic_body(i, rng)) for i in range(2000)]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def make(i: int) -> bytes:
        return build("POST", "/v1/reports", f"127.0.0.1:{port}", headers, bodies[i % len(bodies)])

    if kind == "closed":
        result = asyncio.run(closed_loop("127.0.0.1", port, make, connections=conns, duration_s=duration,
                                         warmup_s=warmup))
        out.put({"summary": result.summary()})
    else:
        result, answered = asyncio.run(open_loop("127.0.0.1", port, make, rate=rate, duration_s=duration))
        ids = []
        for t, body in answered:
            try:
                ids.append((t, json.loads(body)["id"]))
            except (ValueError, KeyError):
                pass
        out.put({"summary": result.summary(), "answered": ids})


def load_in_child(kind: str, port: int, token: str, *, conns: int = 32, duration: float = 20, warmup: float = 5,
                  rate: float = 100) -> dict[str, Any]:
    """The load generator runs in its own process: it never shares a GIL with what it measures."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_load, args=(kind, port, token, conns, duration, warmup, rate, queue))
    proc.start()
    result = queue.get(timeout=duration + warmup + 300)
    proc.join()
    return dict(result)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
            "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
            "postgres": subprocess.run(["psql", "--version"], capture_output=True, text=True).stdout.strip()}


# --- 1. intake throughput against the baseline ---------------------------------------------------------


def intake_throughput(workdir: Path, quick: bool) -> dict[str, Any]:
    duration, warmup = (10, 3) if quick else (30, 5)
    cluster = Cluster(workdir / "intake", services=("intake",))
    cluster.start(roles=("api", "relay"))
    baseline_db = f"zm_bench_{uuid.uuid4().hex[:8]}_baseline"
    asyncio.run(_admin(f'CREATE DATABASE "{baseline_db}"'))
    port = free_port()
    env = {**os.environ, "BASELINE_DSN": PG_ADMIN_DSN.rsplit("/", 1)[0] + f"/{baseline_db}"}
    baseline = subprocess.Popen([sys.executable, "-m", "uvicorn", "bench.baseline_app:app", "--port", str(port),
                                 "--log-level", "warning", "--no-access-log"], env=env, cwd=ROOT,
                                preexec_fn=die_with_parent)
    try:
        _wait_http(f"http://127.0.0.1:{port}/docs")
        intake_port = cluster.processes_by_role("api", "intake")[0].port
        token = cluster.token("reports:submit")
        results = {}
        for name, p in (("baseline", port), ("intake", intake_port)):
            results[name] = load_in_child("closed", p, token, duration=duration, warmup=warmup)["summary"]
        intake_pid = cluster.processes_by_role("api", "intake")[0].popen.pid  # type: ignore[union-attr]
        results["intake_rss_mb_after"] = rss_mb(intake_pid)
        results["ratio"] = round(results["intake"]["rps"] / max(results["baseline"]["rps"], 1e-9), 2)
        return results
    finally:
        baseline.terminate()
        baseline.wait()
        cluster.stop()
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{baseline_db}" WITH (FORCE)'))


# --- 2. end-to-end latency at a steady rate ----------------------------------------------------------


def e2e_latency(workdir: Path, quick: bool) -> dict[str, Any]:
    duration = 15 if quick else 60
    cluster = Cluster(workdir / "latency", services=("intake", "verification"))
    cluster.start(roles=("api", "relay", "consumer"))
    try:
        port = cluster.processes_by_role("api", "intake")[0].port
        out = load_in_child("open", port, cluster.token("reports:submit"), duration=duration, rate=100)
        answered = {rid: t for t, rid in out["answered"]}
        deadline = time.time() + 60
        opened: dict[str, float] = {}
        while time.time() < deadline and len(opened) < len(answered):
            opened = asyncio.run(_opened_at(cluster.dsn("verification")))
            time.sleep(1)
        lat = sorted((opened[r] - t) * 1000 for r, t in answered.items() if r in opened)
        missing = len(answered) - len(lat)

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else float("nan")

        return {"rate_per_s": 100, "seconds": duration, "reports": len(answered), "missing": missing,
                "intake": out["summary"], "p50_ms": pct(0.5), "p95_ms": pct(0.95), "p99_ms": pct(0.99)}
    finally:
        cluster.stop()


async def _opened_at(dsn: str) -> dict[str, float]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT report_id, extract(epoch from opened_at) AS t FROM cases")
        return {r["report_id"]: float(r["t"]) for r in rows}
    finally:
        await conn.close()


# --- 3. pipeline drain --------------------------------------------------------------------------------


def drain(workdir: Path, quick: bool) -> dict[str, Any]:
    total = 200 if quick else 10_000
    cluster = Cluster(workdir / "drain")
    cluster.start()
    try:
        pids = {p.name: p.popen.pid for p in cluster.processes.values() if p.popen}  # type: ignore[misc]
        idle = {name: rss_mb(pid) for name, pid in pids.items()}
        run = Run(cluster, quick=True)
        run.tokens = {s: cluster.token(sub="bench-investigator") for s in cluster.services}
        run.approver = cluster.token(sub="bench-approver")
        mix = (["untrue"] * 60 + ["true"] * 25 + ["true_exempted"] * 5 + ["inconclusive"] * 5
               + ["malicious_approved"] * 5)
        plans = [Plan(i, mix[i % 100], correct=False) for i in range(total)]
        for p in plans:
            run.plans[p.number] = p
        run.next_number = total
        t0 = time.monotonic()
        asyncio.run(_submit_all(run, plans))
        accepted_s = time.monotonic() - t0
        peak = dict(idle)
        t1 = time.monotonic()
        asyncio.run(_drive_all(run, plans, cluster, pids, peak))
        state = asyncio.run(run.settle(timeout_s=600))
        drained_s = time.monotonic() - t1
        counts = asyncio.run(_counts(cluster))
        expected_clar = sum(1 for p in plans if p.path in ("untrue", "true_exempted", "malicious_approved"))
        expected_entries = sum(1 for p in plans if p.path == "malicious_approved")
        return {"reports": total, "accept_s": round(accepted_s, 1), "drain_s": round(drained_s, 1),
                "ratio": round(drained_s / accepted_s, 2), "clarifications": counts["clarifications"],
                "expected_clarifications": expected_clar, "entries": counts["entries"],
                "expected_entries": expected_entries, "lost": state["lost"] + state["pending"],
                "applied_twice": state["applied_twice"], "rss_idle_mb": idle, "rss_peak_mb": peak}
    finally:
        cluster.stop()


async def _submit_all(run: Run, plans: list[Plan], concurrency: int = 16) -> None:
    queue: asyncio.Queue[Plan] = asyncio.Queue()
    for p in plans:
        queue.put_nowait(p)

    async def worker() -> None:
        while not queue.empty():
            await run.submit(queue.get_nowait())

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _drive_all(run: Run, plans: list[Plan], cluster: Cluster, pids: dict[str, int], peak: dict[str, float],
                     concurrency: int = 16) -> None:
    queue: asyncio.Queue[Plan] = asyncio.Queue()
    for p in plans:
        queue.put_nowait(p)
    sampling = True

    async def sample() -> None:
        while sampling:
            for name, pid in pids.items():
                peak[name] = max(peak.get(name, 0.0), rss_mb(pid))
            await asyncio.sleep(1)

    async def worker() -> None:
        while not queue.empty():
            await run.drive(queue.get_nowait())

    sampler = asyncio.create_task(sample())
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    sampling = False
    await sampler


async def _counts(cluster: Cluster) -> dict[str, int]:
    c = await asyncpg.connect(cluster.dsn("clarification"))
    b = await asyncpg.connect(cluster.dsn("credit_blacklist"))
    try:
        return {"clarifications": await c.fetchval("SELECT count(*) FROM clarifications WHERE outcome IS NULL"),
                "entries": await b.fetchval("SELECT count(*) FROM entries")}
    finally:
        await c.close()
        await b.close()


# --- 4/5. blacklist check and growth -----------------------------------------------------------------


def blacklist_check(entries: int, duration: int) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "bench/check_benchmark.py", "--entries", str(entries), "--duration",
                          str(duration)], cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        return {"error": out.stderr[-2000:]}
    return dict(json.loads(out.stdout[out.stdout.index("{"):]))


def intake_growth(workdir: Path, sizes: list[int]) -> dict[str, Any]:
    results = {}
    cluster = Cluster(workdir / "growth", services=("intake",))
    cluster.start(roles=("api", "relay"))
    try:
        seeded = 0
        port = cluster.processes_by_role("api", "intake")[0].port
        token = cluster.token("reports:submit")
        for size in sizes:
            asyncio.run(_seed_reports(cluster.dsn("intake"), seeded, size))
            seeded = size
            results[str(size)] = load_in_child("closed", port, token, duration=10, warmup=3)["summary"]
        return results
    finally:
        cluster.stop()


async def _seed_reports(dsn: str, start: int, end: int) -> None:
    """Stored reports (and their allegations) straight through COPY, spread over many subjects."""
    conn = await asyncpg.connect(dsn)
    try:
        batch = 50_000
        for lo in range(start, end, batch):
            hi = min(end, lo + batch)
            reports, allegations = [], []
            for n in range(lo, hi):
                rid = uuid.UUID(int=n + 1)
                reports.append((str(rid), "online", f"官员{n}", "科长", "某局", "330502", "received", True,
                                None, None, None, None, None, uuid.uuid4().hex + uuid.uuid4().hex, None,
                                datetime.now(UTC), "seed", f"{n:064x}", "[]", False, "[]", None, None, 0, None))
                allegations.append((str(uuid.UUID(int=10**12 + n)), str(rid), 0, "bribery",
                                    f"第{n}号历史线索：收受礼金。", None, None))
            await conn.copy_records_to_table("reports", records=reports)
            await conn.copy_records_to_table("allegations", records=allegations)
    finally:
        await conn.close()


# --- plumbing ---------------------------------------------------------------------------------------


async def _admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_DSN)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _wait_http(url: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a few minutes, for development")
    parser.add_argument("--only", default="intake,latency,drain,check,growth")
    args = parser.parse_args(argv)
    parts = set(args.only.split(","))
    workdir = ROOT / "data" / "bench" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    report: dict[str, Any] = {"machine": machine(), "quick": args.quick, "started": datetime.now(UTC).isoformat()}
    steps = [("intake", "intake throughput vs baseline", lambda: intake_throughput(workdir, args.quick)),
             ("latency", "end-to-end latency at 100 reports/s", lambda: e2e_latency(workdir, args.quick)),
             ("drain", "pipeline drain", lambda: drain(workdir, args.quick)),
             ("check", "blacklist check", lambda: blacklist_check(10_000 if args.quick else 1_000_000,
                                                                  10 if args.quick else 30)),
             ("growth", "intake at growing table sizes",
              lambda: intake_growth(workdir, [10_000] if args.quick else [10_000, 100_000, 1_000_000]))]
    for key, title, step in steps:
        if key not in parts:
            continue
        print(f"== {title} ...", flush=True)
        started = time.monotonic()
        report[key] = step()
        print(json.dumps(report[key], ensure_ascii=False)[:1500], f"({time.monotonic() - started:.0f}s)", flush=True)
    out = ROOT / "bench" / "results" / f"{datetime.now(UTC):%Y-%m-%d}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():  # a partial run (--only) adds to the day's figures instead of replacing them
        report = {**json.loads(out.read_text()), **report}
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
