"""`make nemesis` (20 minutes, 50 reports/s) and `make nemesis-quick` (3 minutes, 20 reports/s).

The 12-process cluster of `make chaos` (tools/cluster.py) on PostgreSQL and the real broker. An
open-loop generator submits reports at a fixed rate whatever the answers; officers (the chaos run's,
bench/run.py's keep-alive clients) drive them down every verdict path -- untrue, true, true and
exempted, inconclusive, malicious with four-eyes approval, corrections -- and then consent to
clarifications, schedule meetings, and file and decide objections to blacklist entries. Meanwhile
the nemesis (faults.py) does, at random intervals drawn from the seed, one of: kill -9 of any API,
consumer or relay then a restart; SIGSTOP of one for up to 20 s; a broker restart losing all its
data, then the documented outbox replay; PostgreSQL refusing the cluster's databases with every
backend terminated (`make chaos` full stops the real server; here PostgreSQL is shared, so only
this cluster's databases are cut off); a second consumer joining then leaving; intake unreachable
from credit_blacklist; a forged or replayed event on a topic; or two of these at once.

Every request is a line of the history (data/nemesis/<run>/history.jsonl) with its time and
answer. After a quiet period the checker (checker.py) holds the services' databases and the
verdict topic against it; the figures and anomalies go to bench/results/nemesis-<date>[-quick].json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import os
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlencode

import asyncpg
from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from bench.loadgen import _request, build, json_body
from bench.run import _Officers, _Reply
from services.supervisor import NotReady
from shared.broker import free_port
from tools.chaos import PATHS, Plan
from tools.cluster import Cluster
from tools.nemesis import checker
from tools.nemesis.faults import IntakeProxy, Nemesis, describe, schedule

REPORT: contextvars.ContextVar[str | None] = contextvars.ContextVar("report", default=None)
OPS = [  # (method, path pattern, op)
    ("POST", r"^/v1/reports$", "submit"),
    ("POST", r"^/v1/cases/[^/]+/conclusion$", "conclude"),
    ("POST", r"^/v1/cases/[^/]+/approval$", "approve"),
    ("POST", r"^/v1/cases/[^/]+/correction$", "correction"),
    ("POST", r"^/v1/corrections/[^/]+/decision$", "correction_decision"),
    ("POST", r"^/v1/clarifications/[^/]+/consent$", "consent"),
    ("POST", r"^/v1/clarifications/[^/]+/meetings$", "meeting"),
    ("POST", r"^/v1/entries/[^/]+/objections$", "objection"),
    ("POST", r"^/v1/objections/[^/]+/decision$", "objection_decision"),
]


def classify(method: str, path: str) -> str:
    for m, pattern, op in OPS:
        if m == method and re.match(pattern, path):
            return op
    return "read" if method == "GET" else "write"


def ids_of(op: str, path: str, sent: dict[str, Any] | None, body: Any) -> dict[str, Any]:
    """What an acknowledged operation's answer says the checker must find."""
    if op == "submit":
        return {"report_id": body["id"]}
    if op in ("conclude", "approve"):
        final = [v for v in body.get("verdicts", []) if v["state"] == "final"]
        out = {"report_id": body["report_id"], "case_id": body["id"], "case_status": body["status"]}
        if final:
            v = max(final, key=lambda v: v["version"])
            out.update(verdict_id=v["id"], version=v["version"], verdict=v["verdict"])
        return out
    if op == "correction_decision":
        return {"decision": (sent or {}).get("decision")}
    if op == "consent":
        return {"clarification_id": body["id"]}
    if op == "meeting":
        return {"meeting_id": body["id"], "clarification_id": path.split("/")[3]}
    if op == "objection":
        return {"objection_id": body["id"], "entry_id": path.split("/")[3]}
    if op == "objection_decision":
        return {"decision": (sent or {}).get("decision"), "entry_status": body.get("status")}
    return {}


@dataclass
class NemesisPlan(Plan):
    meeting: bool = False
    objection: bool = False


def plan_for(seed: int, number: int) -> NemesisPlan:
    """The path of report `number`, from the seed alone."""
    rng = random.Random(f"{seed}:{number}")
    path = rng.choice(PATHS)
    return NemesisPlan(number, path, correct=rng.random() < 0.1, meeting=rng.random() < 0.4,
                       objection=rng.random() < 0.6)


@dataclass
class Load(_Officers):
    """The submitter and the officers, every request written to the history."""

    seed: int = 0
    out: TextIO | None = None
    history: list[dict[str, Any]] = field(default_factory=list)

    def record(self, line: dict[str, Any]) -> None:
        self.history.append(line)
        if self.out is not None:
            self.out.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")

    async def call(self, method: str, service: str, path: str, *, deadline_s: float = 180, **kw: Any) -> Any:
        deadline = time.monotonic() + deadline_s
        token = self.approver if kw.pop("as_approver", False) else self.tokens[service]
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        sent = kw.pop("json", None)
        body = b""
        if sent is not None:
            body = json_body(sent)
            headers["Content-Type"] = "application/json"
        op = classify(method, path)
        target = f"{path}?{urlencode(params)}" if (params := kw.pop("params", None)) else path
        host, port = self.cluster.api(service).removeprefix("http://").split(":")
        raw = build(method, target, f"{host}:{port}", headers, body)
        pool = self.idle.setdefault(service, [])
        pause = 0.5
        while True:
            conn, reused = None, bool(pool)
            t, t0, status, content = time.time(), time.perf_counter(), 0, b""
            try:
                conn = pool.pop() if pool else await asyncio.wait_for(asyncio.open_connection(host, int(port)), 5)
                status, content = await asyncio.wait_for(_request(*conn, raw), timeout=15)
                pool.append(conn)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ValueError):
                if conn is not None:
                    conn[1].close()
                if reused:
                    continue  # the server closed an idle connection: not an answer, try a new one
            line: dict[str, Any] = {"op": op, "service": service, "t": round(t, 3),
                                    "ms": round((time.perf_counter() - t0) * 1000, 1), "status": status}
            if (report := REPORT.get()) is not None:
                line["report_id"] = report
            if 200 <= status < 300 and op not in ("read", "write"):
                try:
                    line.update(ids_of(op, path, sent, json.loads(content)))
                except (ValueError, KeyError, TypeError) as exc:
                    line["unparsed"] = repr(exc)
            if op != "read" or status == 0 or status >= 500:
                self.record(line)
            else:
                self.record({k: line[k] for k in ("op", "service", "t", "status")})
            if 0 < status < 500:
                return _Reply(status, content)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{method} {service}{path} kept failing")
            await asyncio.sleep(pause)
            pause = min(4.0, pause * 2)

    # --- after the verdict: clarification, meeting, objection ------------------------------------------

    async def first(self, service: str, path: str, report_id: str, wait_s: float = 90) -> dict[str, Any] | None:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            items = (await self.call("GET", service, path, params={"report_id": report_id})).json()["items"]
            if items:
                return items[0]
            await asyncio.sleep(1)
        return None

    async def clarify(self, plan: NemesisPlan, report_id: str) -> None:
        c = await self.first("clarification", "/v1/clarifications", report_id)
        if c is None:
            return
        await self.call("POST", "clarification", f"/v1/clarifications/{c['id']}/consent", json={"consent": True})
        if not plan.meeting:
            return
        await self.call("PUT", "clarification", f"/v1/clarifications/{c['id']}/plan",
                        json={"methods": ["meeting"], "scope": "unit"})
        venue = f"nemesis-{plan.number}"
        await self.call("PUT", "clarification", f"/v1/venues/{venue}", json={
            "region_code": "330502", "name": f"会议室{plan.number}", "address": "浙江省湖州市吴兴区青铜路88号"})
        slots = (await self.call("GET", "clarification", f"/v1/venues/{venue}/free-slots",
                                 params={"duration": 60})).json().get("slots") or []
        if slots:
            await self.call("POST", "clarification", f"/v1/clarifications/{c['id']}/meetings", json={
                "starts_at": slots[0]["starts_at"], "duration_minutes": 60, "venue_id": venue,
                "host_organization": "吴兴区纪委监委", "scope": "unit"})

    async def object_to(self, plan: NemesisPlan, report_id: str) -> None:
        e = await self.first("credit_blacklist", "/v1/entries", report_id)
        if e is None:
            return
        r = await self.call("POST", "credit_blacklist", f"/v1/entries/{e['id']}/objections",
                            json={"grounds": "本人认为所举报情况属实，并非故意诬告，请求复核。"})
        if r.status_code == 201:
            decision = "uphold" if plan.number % 2 else "reject"
            await self.call("POST", "credit_blacklist", f"/v1/objections/{r.json()['id']}/decision", as_approver=True,
                            json={"decision": decision, "reason": "经复核，决定如上。"})

    async def work(self, plan: NemesisPlan, acked_at: float) -> None:
        report_id = self.acked[plan.number]
        REPORT.set(report_id)
        # The case opens a moment after the acknowledgement: asking before only costs the services CPU.
        await asyncio.sleep(max(0.0, acked_at + 2 - time.time()))
        await self.drive(plan)
        if plan.correct or plan.path in ("true", "inconclusive"):
            return
        await self.clarify(plan, report_id)
        if plan.path == "malicious_approved" and plan.objection:
            await self.object_to(plan, report_id)


async def _opened_at(dsn: str) -> dict[str, float]:
    """When each report's first case opened in verification (a correction opens another, later)."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT report_id, extract(epoch from min(opened_at)) AS t FROM cases "
                                "GROUP BY report_id")
        return {r["report_id"]: float(r["t"]) for r in rows}
    finally:
        await conn.close()


# --- the databases and the topic at the end --------------------------------------------------------


async def snapshot(cluster: Cluster, *, topic: bool = False) -> checker.State:
    c = {s: await asyncpg.connect(cluster.dsn(s)) for s in cluster.services}
    try:
        def rows(records: list[Any]) -> list[dict[str, Any]]:
            return [dict(r) for r in records]

        state = checker.State(
            reports=rows(await c["intake"].fetch(
                "SELECT id, external_ref, outcome, verdict_id, verdict_version FROM reports")),
            cases=rows(await c["verification"].fetch("SELECT id, report_id, status FROM cases")),
            verdicts=rows(await c["verification"].fetch(
                "SELECT id, report_id, case_id, version, state, verdict, fault_tolerance_exempted AS exempted, "
                "concluded_by, decided_by FROM verdicts")),
            verdict_events=[{"event_id": r["event_id"], "verdict_id": json.loads(r["payload"])["verdict_id"]}
                            for r in await c["verification"].fetch(
                                "SELECT event_id, payload FROM outbox WHERE event_type = 'report.verified.v1'")],
            clarifications=rows(await c["clarification"].fetch(
                "SELECT id, report_id, verdict_id, outcome FROM clarifications")),
            clar_seen=rows(await c["clarification"].fetch("SELECT report_id, verdict_id, version FROM verdicts_seen")),
            meetings=rows(await c["clarification"].fetch("SELECT id, clarification_id FROM meetings")),
            entries=rows(await c["credit_blacklist"].fetch("SELECT id, report_id, verdict_id, status FROM entries")),
            bl_seen=rows(await c["credit_blacklist"].fetch(
                "SELECT report_id, verdict_id, version FROM report_verdicts")),
            objections=rows(await c["credit_blacklist"].fetch("SELECT id, entry_id FROM objections")),
            backlog=sum([await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                         for conn in c.values()]),
        )
        for s in cluster.services:
            state.inbox += [{"service": s, **dict(r)} for r in await c[s].fetch("SELECT event_id, outcome FROM inbox")]
        for r in await c["intake"].fetch(
                "SELECT object_id, details FROM audit_records WHERE action = 'reporter.identity_released'"):
            d = r["details"] if isinstance(r["details"], dict) else json.loads(r["details"])
            state.releases.append({"report_id": r["object_id"], "verdict_id": d.get("verdict_id"),
                                   "verdict_version": d.get("verdict_version")})
    finally:
        for conn in c.values():
            await conn.close()
    if topic:
        state.topic = await asyncio.to_thread(read_topic, f"127.0.0.1:{cluster.broker_port}", "reports.verified")
    return state


def read_topic(bootstrap: str, name: str) -> list[dict[str, Any]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                             enable_auto_commit=False)
    try:
        parts = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name) or []]
        consumer.assign(parts)
        consumer.seek_to_beginning()
        out: list[dict[str, Any]] = []
        idle = 0
        while idle < 3:
            batch = consumer.poll(timeout_ms=500)
            idle = idle + 1 if not batch else 0
            for msgs in batch.values():
                for m in msgs:
                    h = {k: (v or b"").decode() for k, v in m.headers}
                    out.append({"event_id": h.get("ce_id"), "partition": m.partition, "offset": m.offset,
                                "key": (m.key or b"").decode()})
        return out
    finally:
        consumer.close()


def pending(history: list[dict[str, Any]], state: checker.State) -> int:
    """What the pipeline still owes: anything the checker would call lost, and unsent events."""
    return len(checker.check_lost(history, state)) + state.backlog


# --- the run ----------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, cluster: Cluster, workdir: Path) -> dict[str, Any]:
    proxy = IntakeProxy(cluster.api_ports["intake"])
    await proxy.start(args.proxy_port)
    out = (workdir / "history.jsonl").open("w")
    load = Load(cluster, quick=True, seed=args.seed, out=out)
    load.tokens = {s: cluster.token(sub="nemesis-investigator") for s in cluster.services}
    load.approver = cluster.token(sub="nemesis-approver")
    load.corrector = cluster.token(sub="nemesis-corrector")
    nemesis = Nemesis(cluster, load.record, proxy, lambda: [load.acked[n] for n in sorted(load.acked)],
                      load.started)
    plan = schedule(args.seed, args.duration, cluster.services, gap_s=(3, 12) if args.duration <= 300 else (5, 30))
    print(f"seed {args.seed}: {len(plan)} faults scheduled over {args.duration:.0f}s at {args.rate}/s", flush=True)
    for s in plan:
        print(f"  at {s['at']:6.1f}s: {describe(s)}", flush=True)

    # Warm-up: the consumers' first group joins take seconds; the clock starts once reports go through.
    warm = [plan_for(args.seed, -1 - i) for i in range(3)]
    for i, p in enumerate(warm):
        p.number = 10_000_000 + i
        await load.submit(p)
    deadline = time.monotonic() + 120
    while not {load.acked[p.number] for p in warm} <= set(await _opened_at(cluster.dsn("verification"))):
        if time.monotonic() > deadline:
            raise RuntimeError("the pipeline did not carry the warm-up reports")
        await asyncio.sleep(0.5)
    load.history.clear()

    t0 = time.time()
    stop = asyncio.Event()
    queue: asyncio.Queue[tuple[NemesisPlan, float]] = asyncio.Queue()
    submitted: list[asyncio.Task[None]] = []

    async def submit(n: int) -> None:
        p = plan_for(args.seed, n)
        load.plans[n] = p
        try:
            await load.submit(p)
        except (RuntimeError, AssertionError) as exc:
            load.record({"op": "submit_gave_up", "t": time.time(), "number": n, "error": str(exc)[:200]})
            return
        queue.put_nowait((p, time.time()))

    async def arrivals() -> None:
        total = int(args.rate * args.duration)
        for n in range(total):
            delay = t0 + n / args.rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            submitted.append(asyncio.create_task(submit(n)))
        stop.set()

    async def officer() -> None:
        while not stop.is_set():
            try:
                p, acked_at = await asyncio.wait_for(queue.get(), 1)
            except TimeoutError:
                continue
            try:
                await load.work(p, acked_at)
            except (RuntimeError, AssertionError, KeyError, ValueError) as exc:
                load.record({"op": "drive_gave_up", "t": time.time(), "report_id": load.acked.get(p.number),
                             "error": str(exc)[:200]})

    officers = [asyncio.create_task(officer()) for _ in range(args.officers)]
    chaos = asyncio.create_task(nemesis.run(plan, t0, stop))
    await arrivals()
    await chaos
    await nemesis.heal()
    last_fault_end = max((f["end"] for f in checker.faults(load.history)), default=time.time())
    print(f"load done at {time.time() - t0:.0f}s ({len(load.acked)} reports acknowledged); officers finishing",
          flush=True)
    await asyncio.gather(*submitted, return_exceptions=True)
    _, still = await asyncio.wait(officers, timeout=120)
    for task in still:
        task.cancel()
    await asyncio.gather(*still, return_exceptions=True)
    await load.close_clients()

    # Quiet: nothing more is asked; wait until the pipeline owes nothing (or give up).
    quiet_deadline = time.monotonic() + args.settle
    while True:
        state = await snapshot(cluster)
        owed = pending(load.history, state)
        if owed == 0 or time.monotonic() > quiet_deadline:
            break
        await asyncio.sleep(2)
    drained_s = round(time.time() - last_fault_end, 1)
    print(f"quiet: owed {owed}, {drained_s}s after the last fault", flush=True)

    audit = {}
    for s in cluster.services:
        audit[s] = (await load.call("GET", s, "/v1/audit/verify")).json()
    await load.close_clients()
    state = await snapshot(cluster, topic=True)
    state.audit = audit
    out.close()
    await proxy.stop()
    opened = await _opened_at(cluster.dsn("verification"))
    return report(args, load.history, state, opened, drained_s if owed == 0 else None, plan, t0)


def report(args: argparse.Namespace, history: list[dict[str, Any]], state: checker.State,
           opened: dict[str, float], drained_s: float | None, plan: list[dict[str, Any]], t0: float
           ) -> dict[str, Any]:
    anomalies = checker.check(history, state)
    counts = {k: len(v) for k, v in anomalies.items()}
    by_kind = checker.attribute(anomalies, history)
    windows = checker.faults(history)
    recoveries = checker.recovery(history, opened)
    reqs = checker.requests_of(history)
    table: dict[str, dict[str, Any]] = {}
    for f, rec in zip(windows, recoveries, strict=True):
        kinds = [f["kind"]] + ([g["kind"] for g in f["spec"]["faults"]] if f["kind"] == "double" else [])
        during = [h for h in reqs if f["start"] <= h["t"] <= f["end"]]
        for k in kinds:
            row = table.setdefault(k, {"injected": 0, "answered": 0, "failed": 0, "worst_recovery_s": 0.0,
                                       "never_recovered": 0})
            row["injected"] += 1
            row["answered"] += sum(1 for h in during if checker.answered(h))
            row["failed"] += sum(1 for h in during if not checker.answered(h))
            if rec is None:
                row["never_recovered"] += 1
            else:
                row["worst_recovery_s"] = max(row["worst_recovery_s"], rec)
    for k, row in table.items():
        total = row["answered"] + row["failed"]
        row["availability"] = round(row["answered"] / total, 4) if total else None
        for name in ("lost", "twice", "order", "forged_applied"):
            row[name] = by_kind.get(k, Counter())[name]
    ops = Counter(h["op"] for h in checker.acked(history))
    return {
        "seed": args.seed, "duration_s": args.duration, "rate": args.rate, "officers": args.officers,
        "quick": args.quick, "machine": {"cpus": os.cpu_count(), "load_avg": os.getloadavg()},
        "schedule": plan, "faults": [{k: f[k] for k in ("kind", "detail")} | {"start_s": round(f["start"] - t0, 1),
                                      "end_s": round(f["end"] - t0, 1)} for f in windows],
        "acknowledged": dict(ops), "gave_up": Counter(h["op"] for h in history if h["op"].endswith("_gave_up")),
        "state": {"reports": len(state.reports), "verdicts": len(state.verdicts),
                  "clarifications": len(state.clarifications), "meetings": len(state.meetings),
                  "entries": len(state.entries), "objections": len(state.objections),
                  "identity_releases": len(state.releases),
                  "dead_lettered": sum(1 for r in state.inbox if r["outcome"] == "dead_lettered")},
        "checks": counts, "anomalies": {k: [str(a) for a in v[:50]] for k, v in anomalies.items()},
        "per_fault_kind": table,
        "availability_outside_faults": checker.availability(
            [h for h in reqs if not checker.in_fault(h["t"], windows)]),
        "availability_per_fault": [{k: v for k, v in a.items() if k not in ("start", "end")}
                                   for a in checker.availability_per_fault(history)],
        "end_to_end": checker.end_to_end(history, opened),
        "drain_after_last_fault_s": drained_s,
        "audit": state.audit,
    }


def markdown(result: dict[str, Any]) -> str:
    lines = ["| fault | injected | lost | twice | order | forged applied | availability during | worst recovery s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for k, r in sorted(result["per_fault_kind"].items()):
        rec = f"{r['worst_recovery_s']}" + (f" ({r['never_recovered']} never)" if r["never_recovered"] else "")
        lines.append(f"| {k} | {r['injected']} | {r['lost']} | {r['twice']} | {r['order']} | {r['forged_applied']} | "
                     f"{r['availability']} | {rec} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.nemesis", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 minutes at 20 reports/s (CI)")
    parser.add_argument("--seed", type=int, default=None, help="replay the faults and paths of an earlier run")
    parser.add_argument("--duration", type=float, default=None, help="seconds of load (default 1200; quick 180)")
    parser.add_argument("--rate", type=float, default=None, help="reports a second (default 50; quick 20)")
    parser.add_argument("--officers", type=int, default=12, help="officers driving cases at once")
    parser.add_argument("--settle", type=float, default=300, help="longest quiet period, seconds")
    parser.add_argument("--workdir", type=Path, default=Path("data/nemesis"))
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args(argv)
    args.seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 2**31)
    args.duration = args.duration or (180.0 if args.quick else 1200.0)
    args.rate = args.rate or (20.0 if args.quick else 50.0)
    print(f"nemesis seed {args.seed} (replay: --seed {args.seed} --duration {args.duration:.0f} --rate {args.rate})",
          flush=True)
    started = time.monotonic()
    args.proxy_port = free_port()
    workdir = args.workdir / datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    cluster = Cluster(workdir, extra_env={"ZM_CREDIT_BLACKLIST_INTAKE_URL": f"http://127.0.0.1:{args.proxy_port}"})
    print(f"starting the cluster in {workdir} ...", flush=True)
    try:
        try:
            cluster.start()
        except NotReady:  # a busy machine: the processes are up, give them longer
            cluster.wait_ready(timeout_s=300)
        result = asyncio.run(run(args, cluster, workdir))
    finally:
        cluster.stop(drop_databases=not args.keep)
    result["wall_s"] = round(time.monotonic() - started, 1)
    result["history"] = str(workdir / "history.jsonl")
    print("\n" + markdown(result))
    print(f"\nchecks: {result['checks']}")
    for found in result["anomalies"].values():
        for a in found[:10]:
            print(f"  {a}")
    print(f"end to end: {result['end_to_end']}")
    drained = result["drain_after_last_fault_s"]
    print(f"drain after the last fault: {'never' if drained is None else f'{drained}s'}; wall {result['wall_s']}s")
    shape = "-quick" if args.quick else "" if (args.duration, args.rate) == (1200, 50) \
        else f"-{args.duration:.0f}s-{args.rate:g}rps"
    name = f"nemesis-{datetime.now(UTC):%Y-%m-%d}{shape}.json"
    path = Path("bench/results") / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str))
    print(f"written to {path}")
    ok = all(v == 0 for v in result["checks"].values()) and result["drain_after_last_fault_s"] is not None
    print(f"\nnemesis run (seed {args.seed}):", "PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

