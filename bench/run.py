"""`make bench`: the suite measured against baselines in the same run, on PostgreSQL and the local broker.

    .venv/bin/python -m bench.run [--quick] [--only intake,latency,drain,check,growth,idle]

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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx

from bench.idle import cpu_seconds, idle
from bench.loadgen import _request, build, closed_loop, json_body, open_loop
from bench.profile import Sampler
from shared.broker import die_with_parent, free_port
from tools.chaos import EXEMPT, MALICE, Plan, Run
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


# Distinct reports made ready before the load starts (~40 us each), enough for 2,500 requests/s,
# more than the fastest app here answers: apart from the repeats below no report is sent twice.
# (Cycling through 2,000 made every report after the first few seconds a copy of several earlier
# ones: a workload of nothing but repeat petitions, which no office sees.)
BODIES_PER_SECOND = 2_500
# One request in ten repeats a report sent 500 requests earlier -- the same official, the same
# allegations -- as repeat petitions (重复举报) do; intake flags it `near_duplicate`.
REPEAT_EVERY, REPEAT_DISTANCE = 10, 500


def _load(kind: str, port: int, token: str, conns: int, duration: float, warmup: float, rate: float,
          first: int, out: Any) -> None:
    rng = random.Random(7 + first)
    count = int((duration + warmup) * (rate if kind == "open" else BODIES_PER_SECOND)) + REPEAT_DISTANCE
    bodies = [json_body(realistic_body(first + i, rng)) for i in range(count)]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def make(i: int) -> bytes:
        repeat = i % REPEAT_EVERY == 0 and i > REPEAT_DISTANCE
        body = bodies[(i - REPEAT_DISTANCE if repeat else i) % count]
        return build("POST", "/v1/reports", f"127.0.0.1:{port}", headers, body)

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
                  rate: float = 100, first: int = 0) -> dict[str, Any]:
    """The load generator runs in its own process: it never shares a GIL with what it measures.
    `first`: the number of the first report body, so that a second run on the same database sends
    new reports (bodies are numbered; their officials and texts derive from the number)."""
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_load, args=(kind, port, token, conns, duration, warmup, rate, first, queue))
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


def intake_throughput(workdir: Path, quick: bool, profile: bool) -> dict[str, Any]:
    duration, warmup = (6, 2) if quick else (20, 5)
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
        if profile:  # a separate load run under py-spy, so sampling never bends the measured figures
            stamp = datetime.now(UTC).strftime("%Y-%m-%d")
            for name, p, pid in (("baseline", port, baseline.pid), ("intake", intake_port, intake_pid)):
                sampler = Sampler(pid, min(duration, 10), workdir / f"profile-{name}-{stamp}.txt")
                # Reports the measured run did not send: repeats of them would profile a duplicate check
                # comparing every report with an earlier copy, which the measured run never did.
                load_in_child("closed", p, token, duration=min(duration, 10), warmup=0, first=10_000_000)
                results[f"profile_{name}"] = sampler.wait()
        return results
    finally:
        baseline.terminate()
        baseline.wait()
        cluster.stop()
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{baseline_db}" WITH (FORCE)'))


# --- 2. end-to-end latency at a steady rate ----------------------------------------------------------


def e2e_latency(workdir: Path, quick: bool, profile: bool = False) -> dict[str, Any]:
    duration = 15 if quick else 60
    cluster = Cluster(workdir / "latency", services=("intake", "verification"))
    cluster.start(roles=("api", "relay", "consumer"))
    try:
        port = cluster.processes_by_role("api", "intake")[0].port
        _warm_up(cluster, port)
        samplers = {}
        if profile:  # where the CPU of each process on the path goes, sampled during the measured load
            for role, service in (("api", "intake"), ("relay", "intake"), ("consumer", "verification")):
                proc = cluster.processes_by_role(role, service)[0]
                samplers[f"{service}_{role}"] = Sampler(proc.popen.pid, duration,  # type: ignore[union-attr]
                                                        workdir / f"profile-{service}-{role}.txt")
        out = load_in_child("open", port, cluster.token("reports:submit"), duration=duration, rate=100)
        profiles = {name: sampler.wait() for name, sampler in samplers.items()}
        answered = {rid: t for t, rid in out["answered"]}
        deadline = time.time() + 60
        opened: dict[str, float] = {}
        while time.time() < deadline and not answered.keys() <= opened.keys():  # warm-up cases are in opened too
            opened = asyncio.run(_opened_at(cluster.dsn("verification")))
            time.sleep(1)
        lat = sorted((opened[r] - t) * 1000 for r, t in answered.items() if r in opened)
        missing = len(answered) - len(lat)

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 1) if lat else float("nan")

        return {"rate_per_s": 100, "seconds": duration, "reports": len(answered), "missing": missing,
                "intake": out["summary"], "p50_ms": pct(0.5), "p95_ms": pct(0.95), "p99_ms": pct(0.99),
                **({"profiles": profiles} if profiles else {})}
    finally:
        cluster.stop()


def _warm_up(cluster: Cluster, port: int, reports: int = 20, timeout_s: float = 60) -> None:
    """Steady state, not start-up: a consumer's first group join takes seconds, so the measured load
    starts only once a few reports have gone all the way through (they are not counted)."""
    rng = random.Random(1)
    headers = {"Authorization": f"Bearer {cluster.token('reports:submit')}"}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=15) as client:
        ids = {client.post("/v1/reports", json=realistic_body(10_000 + i, rng)).json()["id"] for i in range(reports)}
    deadline = time.monotonic() + timeout_s
    while not ids <= set(asyncio.run(_opened_at(cluster.dsn("verification")))):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the pipeline did not carry {reports} warm-up reports within {timeout_s:.0f}s")
        time.sleep(0.2)


async def _opened_at(dsn: str) -> dict[str, float]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT report_id, extract(epoch from opened_at) AS t FROM cases")
        return {r["report_id"]: float(r["t"]) for r in rows}
    finally:
        await conn.close()


# --- 3. pipeline drain --------------------------------------------------------------------------------


def drain(workdir: Path, quick: bool, reports: int | None = None) -> dict[str, Any]:
    total = reports or (200 if quick else 10_000)
    cluster = Cluster(workdir / "drain")
    cluster.start()
    try:
        pids = {p.name: p.popen.pid for p in cluster.processes.values() if p.popen}  # type: ignore[misc]
        idle = {name: rss_mb(pid) for name, pid in pids.items()}
        run = _Officers(cluster, quick=True)
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
        cpu_before = _cpu_by_process(pids)
        t1 = time.monotonic()
        asyncio.run(_drive_all(run, plans, cluster, pids, peak))
        state = asyncio.run(run.settle(timeout_s=600))
        drained_s = time.monotonic() - t1
        cpu = {name: round(after - cpu_before.get(name, 0.0), 1) for name, after in _cpu_by_process(pids).items()}
        counts = asyncio.run(_counts(cluster))
        expected_clar = sum(1 for p in plans if p.path in ("untrue", "true_exempted", "malicious_approved"))
        expected_entries = sum(1 for p in plans if p.path == "malicious_approved")
        return {"reports": total, "accept_s": round(accepted_s, 1), "drain_s": round(drained_s, 1),
                "ratio": round(drained_s / accepted_s, 2), "clarifications": counts["clarifications"],
                "expected_clarifications": expected_clar, "entries": counts["entries"],
                "expected_entries": expected_entries, "lost": state["lost"] + state["pending"],
                "applied_twice": state["applied_twice"], "rss_idle_mb": idle, "rss_peak_mb": peak,
                "cpu_during_drain": _cpu_account(cpu, drained_s, total)}
    finally:
        cluster.stop()


def _postgres_cpu() -> float:
    """CPU of the PostgreSQL server so far: its live processes, and the ended ones the postmaster reaped."""
    stats: dict[int, list[str]] = {}
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "comm").read_text().strip() == "postgres":
                stat = (proc / "stat").read_text()
                stats[int(proc.name)] = stat[stat.rindex(")") + 2:].split()
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended between the listing and the read
    ticks = os.sysconf("SC_CLK_TCK")
    live = sum(int(f[11]) + int(f[12]) for f in stats.values())  # utime, stime
    reaped = sum(int(f[13]) + int(f[14]) for f in stats.values() if int(f[1]) not in stats)  # the postmaster's
    return (live + reaped) / ticks


def _cpu_by_process(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each cluster process, of PostgreSQL, and of this process (the scripted officers)."""
    times = os.times()
    return {**{name: cpu_seconds(pid) for name, pid in pids.items()}, "postgresql": _postgres_cpu(),
            "bench client (officers)": times.user + times.system}


def _cpu_account(cpu: dict[str, float], drained_s: float, reports: int) -> dict[str, Any]:
    """Where the drain's time went: CPU seconds per process over the drain, per report, and how busy the
    machine's cores were (1.0: every core busy the whole time)."""
    busy, ranked = sum(cpu.values()), sorted(cpu.items(), key=lambda kv: -kv[1])
    return {"cpu_s": dict(ranked), "cpu_ms_per_report": {k: round(1000 * v / reports, 2) for k, v in ranked},
            "cores": os.cpu_count(), "cores_busy_share": round(busy / ((os.cpu_count() or 1) * drained_s), 3)}


async def _submit_all(run: _Officers, plans: list[Plan], concurrency: int = 16) -> None:
    queue: asyncio.Queue[Plan] = asyncio.Queue()
    for p in plans:
        queue.put_nowait(p)

    async def worker() -> None:
        while not queue.empty():
            await run.submit(queue.get_nowait())

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await run.close_clients()


async def _drive_all(run: _Officers, plans: list[Plan], cluster: Cluster, pids: dict[str, int],
                     peak: dict[str, float], concurrency: int = 16) -> None:
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
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        sampling = False
        await sampler
        await run.close_clients()


@dataclass
class _Reply:
    status_code: int
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.content)


@dataclass
class _Officers(Run):
    """The chaos run's submitter and officer clients as a case system would run them: connections kept
    alive, and each case driven from the answers to its own requests rather than re-read after every
    step. Raw HTTP/1.1 as in bench/loadgen.py: on two shared cores an httpx request costs the client a
    few milliseconds of CPU, which would be taken from the services measured."""

    idle: dict[str, list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]] = field(default_factory=dict)

    async def call(self, method: str, service: str, path: str, *, deadline_s: float = 180, **kw: Any
                   ) -> Any:
        deadline = time.monotonic() + deadline_s
        token = self.approver if kw.pop("as_approver", False) else self.tokens[service]
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        body = b""
        if "json" in kw:
            body = json_body(kw.pop("json"))
            headers["Content-Type"] = "application/json"
        if params := kw.pop("params", None):
            path = f"{path}?{urlencode(params)}"
        host, port = self.cluster.api(service).removeprefix("http://").split(":")
        raw = build(method, path, f"{host}:{port}", headers, body)
        pool = self.idle.setdefault(service, [])
        while True:
            conn, reused = None, bool(pool)
            try:
                conn = pool.pop() if pool else await asyncio.open_connection(host, int(port))
                status, content = await asyncio.wait_for(_request(*conn, raw), timeout=15)
                pool.append(conn)
                if status < 500:
                    return _Reply(status, content)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
                if conn is not None:
                    conn[1].close()
                if reused:
                    continue  # the server closed an idle connection: try again on a new one at once
            if time.monotonic() > deadline:
                raise RuntimeError(f"{method} {service}{path} kept failing")
            await asyncio.sleep(0.5)

    async def close_clients(self) -> None:
        for pool in self.idle.values():
            for _, writer in pool:
                writer.close()
        self.idle.clear()

    async def drive(self, plan: Plan) -> None:
        if plan.correct or plan.hold_approval:
            return await super().drive(plan)
        report_id = self.acked[plan.number]
        deadline = time.monotonic() + 300
        while True:
            items = (await self.call("GET", "verification", "/v1/cases", params={"report_id": report_id})
                     ).json()["items"]
            if items:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"report {plan.number} never reached verification")
            await asyncio.sleep(0.1)
        case = items[0]
        cid, status = case["id"], case["status"]
        if status == "open":
            finding = {"true": "substantiated", "true_exempted": "partially_substantiated",
                       "inconclusive": "unverifiable"}.get(plan.path, "unsubstantiated")
            await self.call("PUT", "verification", f"/v1/cases/{cid}/findings", json={"findings": [
                {"allegation_id": a["allegation_id"], "finding": finding} for a in case["allegations"]]})
            if plan.path == "malicious_approved":
                await self.call("PUT", "verification", f"/v1/cases/{cid}/malice-assessment", json=MALICE)
            if plan.path == "true_exempted":
                await self.call("PUT", "verification", f"/v1/cases/{cid}/fault-tolerance", json=EXEMPT)
            r = await self.call("POST", "verification", f"/v1/cases/{cid}/conclusion")
            if r.status_code != 200:
                return await super().drive(plan)  # someone else moved it on: decide from its state
            status = r.json()["status"]
        if status == "awaiting_approval":
            r = await self.call("POST", "verification", f"/v1/cases/{cid}/approval", as_approver=True,
                                json={"decision": "approve", "reason": "证据充分，同意。"})
            assert r.status_code == 200, r.text


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


def blacklist_check(entries: int, duration: float, warmup: float = 3, *extra: str) -> dict[str, Any]:
    command = [sys.executable, "bench/check_benchmark.py", "--entries", str(entries), "--duration", str(duration),
               "--warmup", str(warmup), *extra]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    if out.returncode != 0:
        return {"error": out.stderr[-2000:]}
    return dict(json.loads(out.stdout[out.stdout.index("{"):]))


def growth(workdir: Path, sizes: list[int], duration: float, check_done: dict[str, Any] | None) -> dict[str, Any]:
    """Intake throughput and check throughput with `sizes` rows already stored: the cost must not grow."""
    results: dict[str, Any] = {"intake": intake_growth(workdir, sizes, duration), "check": {}}
    for size in sizes:
        if check_done and "configurations" in check_done and check_done["database"]["entries"] == size:
            results["check"][str(size)] = {"from": "the check step", **_check_summary(check_done)}
            continue
        # Growth compares one configuration across sizes: two API processes, the maximum and 3,000/s.
        out = blacklist_check(size, duration, 2, "--servers", "2", "--rates", "3000")
        results["check"][str(size)] = _check_summary(out) if "configurations" in out else out
    return results


def _check_summary(out: dict[str, Any]) -> dict[str, Any]:
    """Per server configuration: the closed-loop maximum, and p99 at each fixed (open-loop) rate."""
    summary: dict[str, Any] = {"entries": out["database"]["entries"], "configurations": []}
    for config in out["configurations"]:
        row: dict[str, Any] = {"server_processes": config.get("server_processes"), "open_loop": []}
        for run in config["runs"]:
            if run.get("mode") == "closed_loop":
                row["closed_loop"] = {k: run.get(k) for k in ("throughput_per_s", "p50_ms", "p99_ms", "cpu_cores_busy")}
            elif run.get("mode") == "open_loop":
                row["open_loop"].append({k: run.get(k) for k in ("target_rate_per_s", "achieved_rate_per_s",
                                                                 "p50_ms", "p99_ms")})
        summary["configurations"].append(row)
    return summary


def intake_growth(workdir: Path, sizes: list[int], duration: float) -> dict[str, Any]:
    results = {}
    cluster = Cluster(workdir / "growth", services=("intake",))
    cluster.start(roles=("api", "relay"))
    try:
        seeded = 0
        port = cluster.processes_by_role("api", "intake")[0].port
        token = cluster.token("reports:submit")
        for size in sizes:
            started = time.monotonic()
            asyncio.run(_seed_reports(cluster.dsn("intake"), seeded, size))
            seed_s = time.monotonic() - started
            seeded = size
            out = load_in_child("closed", port, token, duration=duration, warmup=3)["summary"]
            results[str(size)] = {"seed_s": round(seed_s, 1), **out}
        return results
    finally:
        cluster.stop()


async def _seed_reports(dsn: str, start: int, end: int) -> None:
    """Stored reports (and one allegation each), generated inside PostgreSQL, spread over many officials,
    half of them with a named (encrypted-looking) reporter, received over the last two years."""
    conn = await asyncpg.connect(dsn)
    try:
        batch = 200_000
        for lo in range(start, end, batch):
            hi = min(end, lo + batch) - 1
            await conn.execute(
                """
                INSERT INTO reports (id, channel, subject_name, subject_position, subject_organization, region_code,
                    status, anonymous, reporter_name_enc, reporter_id_number_enc, reporter_blind_index,
                    receipt_code_hash, received_at, submitted_by, subject_key, flags, flagged, linked_report_ids,
                    verdict_version, fault_tolerance_exempted)
                SELECT md5('r' || i)::uuid::text, 'online', '官员' || i, '科长', '某县财政局',
                    (ARRAY['330502','330503','330521','330522','330523'])[1 + i % 5], 'received', i % 2 = 1,
                    CASE WHEN i % 2 = 0 THEN 'v1:seed:' || md5('n' || i) END,
                    CASE WHEN i % 2 = 0 THEN 'v1:seed:' || md5('c' || i) END,
                    CASE WHEN i % 2 = 0 THEN md5('b' || i) || md5('B' || i) END,
                    md5('h' || i) || md5('H' || i), now() - (i % 730) * interval '1 day', 'seed',
                    md5('s' || i) || md5('S' || i), '[]', false, '[]', 0, false
                FROM generate_series($1::int, $2::int) AS i
                """, lo, hi)
            await conn.execute(
                """
                INSERT INTO allegations (id, report_id, position, category, summary)
                SELECT md5('a' || i)::uuid::text, md5('r' || i)::uuid::text, 0, 'bribery',
                    '第' || i || '号历史线索：反映其收受礼金，安排亲属承揽工程。'
                FROM generate_series($1::int, $2::int) AS i
                """, lo, hi)
        await conn.execute("ANALYZE reports")
        await conn.execute("ANALYZE allegations")
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


def targets(report: dict[str, Any]) -> dict[str, Any]:
    """Each of the issue's targets against what this run measured (None where the step did not run)."""

    def get(*path: str) -> Any:
        node: Any = report
        for key in path:
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node

    def best_check() -> dict[str, Any] | None:
        """The highest fixed rate any configuration sustained with p99 under 5 ms (the target holds both
        at once: 3,000 checks every second, each answered within 5 ms at the 99th percentile)."""
        check = report.get("check")
        if not check or "configurations" not in check:
            return None
        held = [{"server_processes": c["server_processes"], **run}
                for c in _check_summary(check)["configurations"] for run in c["open_loop"]
                if (run.get("achieved_rate_per_s") or 0) >= 0.99 * (run.get("target_rate_per_s") or 0)
                and (run.get("p99_ms") or 1e9) < 5]
        return max(held, key=lambda r: r["achieved_rate_per_s"]) if held else {"held": "no rate with p99 < 5 ms"}

    def closed_loop_check() -> dict[str, Any] | None:
        """The best closed-loop run (clients wait for each answer) with p99 under 5 ms."""
        check = report.get("check")
        if not check or "configurations" not in check:
            return None
        runs = [{"server_processes": c["server_processes"], **c["closed_loop"]}
                for c in _check_summary(check)["configurations"] if c.get("closed_loop")
                and (c["closed_loop"].get("p99_ms") or 1e9) < 5]
        return max(runs, key=lambda r: r["throughput_per_s"] or 0) if runs else {"held": "no run with p99 < 5 ms"}

    def idle_services() -> dict[str, Any] | None:
        """The largest RSS and CPU of any service process idle, in either set-up (bench/idle.py)."""
        idle = report.get("idle")
        if not idle:
            return None
        kinds = [figures for setup in idle.values() for kind, figures in setup["kinds"].items()
                 if kind not in ("broker", "supervisor")]
        return {"rss_mb_max": max(k["rss_mb_max"] for k in kinds),
                "cpu_percent_max": max(k["cpu_percent_max"] for k in kinds)}

    check, closed, quiet = best_check(), closed_loop_check(), idle_services()
    ratio, p99, drain_ratio = get("intake", "ratio"), get("latency", "p99_ms"), get("drain", "ratio")
    return {
        "intake_ratio_at_least_1": None if ratio is None else {"measured": ratio, "met": ratio >= 1.0},
        "e2e_p99_at_most_200_ms": None if p99 is None else {"measured": p99, "met": p99 <= 200},
        "drain_ratio_at_most_2": None if drain_ratio is None else {"measured": drain_ratio, "met": drain_ratio <= 2},
        # Two readings of one target: closed loop (the usual way to state a service's throughput at a
        # latency) and a fixed arrival rate (stricter: every scheduler stall on two shared cores counts).
        "check_3000_per_s_p99_under_5_ms_closed_loop": None if closed is None else {
            "measured": closed, "met": (closed.get("throughput_per_s") or 0) >= 3000},
        "check_3000_per_s_p99_under_5_ms_fixed_rate": None if check is None else {
            "measured": check, "met": (check.get("achieved_rate_per_s") or 0) >= 0.99 * 3000},
        "idle_service_process_at_most_120_mb_and_1_percent_cpu": None if quiet is None else {
            "measured": quiet, "met": quiet["rss_mb_max"] <= 120 and quiet["cpu_percent_max"] <= 1},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="under two minutes, small sizes, for development")
    parser.add_argument("--only", default="intake,latency,drain,check,growth,idle")
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=None,
                        help="py-spy profiles of intake and its baseline, in an extra run (default: in full mode); "
                        "given explicitly, also of the processes on the end-to-end path, during the latency run")
    args = parser.parse_args(argv)
    parts = set(args.only.split(","))
    workdir = ROOT / "data" / "bench" / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    report: dict[str, Any] = {"machine": machine(), "quick": args.quick, "started": datetime.now(UTC).isoformat()}
    quick = args.quick
    profile_path = args.profile is True  # sampling the latency run itself: only when asked for
    if args.profile is None:
        args.profile = not quick
    check_entries = 10_000 if quick else 1_000_000
    steps = [("intake", "intake throughput vs baseline", lambda: intake_throughput(workdir, quick, args.profile)),
             ("latency", "end-to-end latency at 100 reports/s", lambda: e2e_latency(workdir, quick, profile_path)),
             ("drain", "pipeline drain", lambda: drain(workdir, quick)),
             ("check", f"blacklist check at {check_entries:,} entries",
              lambda: blacklist_check(check_entries, 3 if quick else 20, 1 if quick else 3,
                                      *(["--rates", "3000"] if quick else []))),
             ("growth", "intake and check at growing table sizes",
              lambda: growth(workdir, [10_000] if quick else [10_000, 100_000, 1_000_000], 5 if quick else 15,
                             report.get("check"))),
             ("idle", "idle cost of every process (RSS, CPU), cluster and zhengming run", lambda: idle(workdir, quick))]
    report["seconds"] = {}
    for key, title, step in steps:
        if key not in parts:
            continue
        print(f"== {title} ...", flush=True)
        started = time.monotonic()
        report[key] = step()
        report["seconds"][key] = round(time.monotonic() - started)
        print(json.dumps(report[key], ensure_ascii=False)[:1500], f"({report['seconds'][key]}s)", flush=True)
    out = ROOT / "bench" / "results" / f"{datetime.now(UTC):%Y-%m-%d}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():  # a partial run (--only) adds to the day's figures instead of replacing them
        earlier = json.loads(out.read_text())
        report = {**earlier, **report, "seconds": {**earlier.get("seconds", {}), **report["seconds"]}}
    report["targets"] = targets(report)
    print(json.dumps(report["targets"], ensure_ascii=False, indent=1))
    out.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
