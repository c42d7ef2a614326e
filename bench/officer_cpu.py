"""CPU per request of the verification API for each route the drain's scripted officers call.

    .venv/bin/python -m bench.officer_cpu [--cases 400] [--connections 4] [--profile] [--out FILE]

Starts the verification API alone (uvicorn, its own process, on a fresh migrated PostgreSQL
database: tools/cluster.py), opens `--cases` cases through the consumer's service function
(service.open_cases, 1-5 allegations each, half the reporters named), then drives the officers'
calls as bench/run.py's drain does (the list by report id, findings, malice and fault-tolerance
assessments, the conclusion, the approval of a malicious verdict; and the read of one case), one
route at a time over keep-alive raw HTTP/1.1 connections. The API process's CPU (utime + stime from
/proc/<pid>/stat) is read before and after each route's batch; its idle rate, measured first, is
taken off. With `--profile`, a second batch of cases is driven the same way under `py-spy record`
(non-blocking) and the samples summarized by layer, both by the innermost frame (where the CPU was)
and inclusively (which of our frames it was under).

The drain's mix per 100 reports (bench/run.py): one list, 100 findings, 5 malice and 5 fault-tolerance
assessments, 100 conclusions, 5 approvals; `drain_weighted_ms` is the CPU per officer request at that
mix. The machine is shared: figures are CPU seconds of the API process, not wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from bench.loadgen import _request, build, json_body
from bench.profile import PY_SPY, _layer
from services.verification.domain import DISTINCTIONS, FIVE_CHECKS
from services.verification.service import VerificationRules, open_cases
from shared.calendar import WorkingCalendar
from shared.events import AllegationV1, ReportSubmittedV1, SubjectV1
from shared.uow import UnitOfWork
from tools.cluster import Cluster

MALICE = {"facts_invented": True, "material_forged": False, "knew_false": True, "meant_punishment": True,
          "aggravating": ["repeated_after_conclusion"], "kind": "false_accusation", "severity": "ordinary",
          "notes": "举报人承认编造情节。"}
EXEMPT = {"distinctions": {k: True for k in DISTINCTIONS}, "checks": {k: True for k in FIVE_CHECKS},
          "notes": "改革试点中因政策空白出现的失误。"}
FINDING = {"untrue": "unsubstantiated", "true": "substantiated", "true_exempted": "partially_substantiated",
           "malicious": "unsubstantiated"}
# Enough of each path for a per-route figure; the drain's own mix weighs them afterwards.
PATHS = ["untrue"] * 4 + ["true"] * 2 + ["true_exempted"] * 2 + ["malicious"] * 2
DRAIN_MIX = {"list_cases": 1, "record_findings": 100, "record_malice_assessment": 5,
             "record_fault_tolerance_assessment": 5, "conclude_case": 100, "decide_verdict_approval": 5}
CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime, stime


def report(n: int, rng: random.Random) -> ReportSubmittedV1:
    named = n % 2 == 0
    return ReportSubmittedV1(
        report_id=str(uuid.uuid4()), channel="online",
        subject=SubjectV1(name=f"王建国{n % 997}", position="局长", organization="某县财政局", region_code="330502"),
        allegations=[AllegationV1(allegation_id=str(uuid.uuid4()), category="bribery",
                                  summary=f"反映其在项目审批中收受好处费{rng.randint(1, 50)}万元，编号{n}-{i}。" * 2)
                     for i in range(rng.randint(1, 5))],
        region_code="330502", anonymous=not named, reporter_blind_index=f"{n:064x}" if named else None,
        received_at=datetime(2026, 11, 21, 8, 0, tzinfo=UTC),
    )


async def seed(url: str, count: int, first: int) -> list[tuple[str, str]]:
    """Open `count` cases as the consumer does (batches of 50); their (report id, path)."""
    engine = create_async_engine(url)
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    rng = random.Random(first)
    reports = [report(first + i, rng) for i in range(count)]
    try:
        for at in range(0, count, 50):
            async with UnitOfWork(sessions, source="/bench") as uow:
                await open_cases(uow=uow, reports=reports[at:at + 50], calendar=WorkingCalendar(),
                                 rules=VerificationRules())
                await uow.commit()
    finally:
        await engine.dispose()
    return [(r.report_id, PATHS[i % len(PATHS)]) for i, r in enumerate(reports)]


class Client:
    def __init__(self, base: str, investigator: str, approver: str, connections: int) -> None:
        self.host, port = base.removeprefix("http://").split(":")
        self.port = int(port)
        self.tokens = {"investigator": investigator, "approver": approver}
        self.connections = connections
        self.pool: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def call(self, method: str, path: str, body: Any = None, who: str = "investigator") -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"}
        raw_body = b""
        if body is not None:
            raw_body = json_body(body)
            headers["Content-Type"] = "application/json"
        conn = self.pool.pop() if self.pool else await asyncio.open_connection(self.host, self.port)
        status, content = await _request(*conn, build(method, path, f"{self.host}:{self.port}", headers, raw_body))
        self.pool.append(conn)
        return status, json.loads(content) if content else None

    async def each(self, items: list[Any], one: Callable[[Any], Any]) -> None:
        queue = list(reversed(items))

        async def worker() -> None:
            while queue:
                await one(queue.pop())

        await asyncio.gather(*(worker() for _ in range(self.connections)))

    def close(self) -> None:
        for _, writer in self.pool:
            writer.close()
        self.pool.clear()


async def drive(client: Client, pid: int, seeded: list[tuple[str, str]], idle_rate: float) -> dict[str, Any]:
    """Each route over every case it applies to, one route at a time; CPU of the API per request."""
    cases: dict[str, dict[str, Any]] = {}
    paths = dict(seeded)
    per_route: dict[str, Any] = {}

    async def measured(name: str, items: list[Any], one: Callable[[Any], Any]) -> None:
        statuses: Counter[int] = Counter()

        async def counted(item: Any) -> None:
            statuses[await one(item)] += 1

        c0, t0 = cpu_seconds(pid), time.monotonic()
        await client.each(items, counted)
        c1, t1 = cpu_seconds(pid), time.monotonic()
        cpu = max(0.0, (c1 - c0) - idle_rate * (t1 - t0))
        per_route[name] = {"requests": len(items), "cpu_ms_per_request": round(cpu * 1000 / len(items), 3),
                           "raw_cpu_ms_per_request": round((c1 - c0) * 1000 / len(items), 3),
                           "wall_s": round(t1 - t0, 2), "statuses": dict(statuses)}

    async def list_one(report_id: str) -> int:
        status, page = await client.call("GET", f"/v1/cases?report_id={report_id}")
        cases[report_id] = page["items"][0]
        return status

    async def get_one(report_id: str) -> int:
        return (await client.call("GET", f"/v1/cases/{cases[report_id]['id']}"))[0]

    async def findings(report_id: str) -> int:
        case = cases[report_id]
        body = {"findings": [{"allegation_id": a["allegation_id"], "finding": FINDING[paths[report_id]],
                              "evidence_notes": "核查笔录第3页"} for a in case["allegations"]]}
        return (await client.call("PUT", f"/v1/cases/{case['id']}/findings", body))[0]

    async def malice(report_id: str) -> int:
        return (await client.call("PUT", f"/v1/cases/{cases[report_id]['id']}/malice-assessment", MALICE))[0]

    async def exempt(report_id: str) -> int:
        return (await client.call("PUT", f"/v1/cases/{cases[report_id]['id']}/fault-tolerance", EXEMPT))[0]

    async def conclude(report_id: str) -> int:
        return (await client.call("POST", f"/v1/cases/{cases[report_id]['id']}/conclusion"))[0]

    async def approve(report_id: str) -> int:
        return (await client.call("POST", f"/v1/cases/{cases[report_id]['id']}/approval",
                                  {"decision": "approve", "reason": "证据充分，同意。"}, who="approver"))[0]

    ids = [r for r, _ in seeded]
    of = {p: [r for r, q in seeded if q == p] for p in FINDING}
    await measured("list_cases", ids, list_one)
    await measured("get_case", ids, get_one)
    await measured("record_findings", ids, findings)
    await measured("record_malice_assessment", of["malicious"], malice)
    await measured("record_fault_tolerance_assessment", of["true_exempted"], exempt)
    await measured("conclude_case", ids, conclude)
    await measured("decide_verdict_approval", of["malicious"], approve)
    client.close()
    weighted = sum(per_route[r]["cpu_ms_per_request"] * n for r, n in DRAIN_MIX.items()) / sum(DRAIN_MIX.values())
    return {"routes": per_route, "drain_weighted_ms": round(weighted, 3)}


# --- profile layers -------------------------------------------------------------------------------------

# Inclusive: the share of samples with such a frame anywhere on the stack (first match per marker).
INCLUSIVE = (
    ("our routes (services/verification/api.py)", "services/verification/api.py"),
    ("our services (services/verification/, not api.py)", "services/verification/"),
    ("SQLAlchemy ORM (sqlalchemy/orm)", "sqlalchemy/orm/"),
    ("SQLAlchemy Core/engine (sqlalchemy/, not orm)", "sqlalchemy/"),
    ("asyncpg", "asyncpg"),
    ("greenlet (sqlalchemy async bridge)", "greenlet"),
    ("audit append (shared/audit.py)", "shared/audit.py"),
    ("unit of work (shared/uow.py)", "shared/uow.py"),
    ("pydantic", "pydantic"),
    ("FastAPI/Starlette", "fastapi/"),
    ("uvicorn/httptools", "uvicorn/"),
    ("JWT (jwt/)", "jwt/"),
    ("logging/structlog", "structlog"),
)


def _inclusive(stack: list[str], marker: str, exclude: str | None) -> bool:
    for frame in stack:
        where = frame[frame.rfind("(") + 1:] if "(" in frame else frame
        if marker in where and not (exclude and exclude in where):
            return True
    return False


def summarize(raw: Path) -> dict[str, Any]:
    leaf: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack_text, _, count_text = line.rpartition(" ")
        if not stack_text or not count_text.isdigit():
            continue
        count, stack = int(count_text), stack_text.split(";")
        total += count
        leaf[_layer(stack[-1])] += count
        functions[stack[-1]] += count
        for name, marker in INCLUSIVE:
            exclude = {"services/verification/": "services/verification/api.py",
                       "sqlalchemy/": "sqlalchemy/orm/"}.get(marker)
            if _inclusive(stack, marker, exclude):
                inclusive[name] += count
    if not total:
        return {"samples": 0}
    return {"samples": total,
            "leaf_share_by_layer": {k: round(n / total, 3) for k, n in leaf.most_common()},
            "inclusive_share": {k: round(inclusive[k] / total, 3) for k, _ in INCLUSIVE},
            "hottest_leaf_functions": [{"function": f, "share": round(n / total, 3)}
                                       for f, n in functions.most_common(15)]}


def as_text(title: str, runs: dict[str, dict[str, Any]]) -> str:
    """The figures of one or more runs (`before`, `after`) side by side, then each run's profile layers."""
    names = list(runs)
    lines = [title, "", "CPU of the verification API process per request, ms (utime+stime from /proc, idle rate "
             "taken off; PostgreSQL; shared 2-core machine, so absolute figures drift: compare runs made back to back)",
             "", f"{'route':38}" + "".join(f"{n:>12}" for n in names)]
    for route in runs[names[0]]["routes"]:
        lines.append(f"{route:38}" + "".join(f"{runs[n]['routes'][route]['cpu_ms_per_request']:>12.2f}" for n in names)
                     + f"   ({runs[names[0]]['routes'][route]['requests']} requests)")
    lines.append(f"{'drain mix (per officer request)':38}" + "".join(f"{runs[n]['drain_weighted_ms']:>12.2f}"
                                                                       for n in names))
    for n in names:
        profile = runs[n].get("profile") or {}
        if not profile.get("samples"):
            continue
        lines += ["", f"--- profile, {n}: py-spy, {profile['samples']} samples over the same routes "
                  "(a second batch of cases) ---", "", "where the CPU was (innermost frame's layer):"]
        lines += [f"  {k:40} {v:6.1%}" for k, v in profile["leaf_share_by_layer"].items()]
        lines += ["", "under which frames (inclusive; SQLAlchemy's greenlet cuts the stack, so the ORM and "
                  "engine shares are not under our routes' frames):"]
        lines += [f"  {k:52} {v:6.1%}" for k, v in profile["inclusive_share"].items()]
        lines += ["", "hottest innermost functions:"]
        lines += [f"  {f['share']:6.1%}  {f['function']}" for f in profile["hottest_leaf_functions"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=400)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--text", nargs="+", metavar="NAME=RESULT.json",
                        help="write the figures of earlier runs as text (to --out) instead of measuring")
    parser.add_argument("--title", default="Verification officer routes: CPU per request")
    args = parser.parse_args()
    if args.text:
        runs = {name: json.loads(Path(path).read_text()) for name, path in (t.split("=", 1) for t in args.text)}
        text = as_text(args.title, runs)
        print(text)
        if args.out:
            args.out.write_text(text)
        return
    workdir = Path(tempfile.mkdtemp(prefix="zm-officer-cpu-"))
    cluster = Cluster(workdir, services=("verification",), extra_env={"ZM_LOG_LEVEL": "WARNING"})
    cluster.start(roles=("api",))
    result: dict[str, Any] = {"cases": args.cases, "connections": args.connections,
                              "at": datetime.now(UTC).isoformat(timespec="seconds"), "database": "postgresql"}
    try:
        pid = cluster.processes_by_role("api", "verification")[0].popen.pid  # type: ignore[union-attr]
        client = Client(cluster.api("verification"), cluster.token(sub="bench-investigator"),
                        cluster.token(sub="bench-approver"), args.connections)
        seeded = asyncio.run(seed(cluster.urls["verification"], 40, 0))
        asyncio.run(drive(client, pid, seeded, 0.0))  # warm-up: imports, caches, connection pool
        c0, t0 = cpu_seconds(pid), time.monotonic()
        time.sleep(3)
        idle = (cpu_seconds(pid) - c0) / (time.monotonic() - t0)
        result["idle_cpu_share"] = round(idle, 4)
        seeded = asyncio.run(seed(cluster.urls["verification"], args.cases, 1000))
        result.update(asyncio.run(drive(client, pid, seeded, idle)))
        if args.profile:
            seeded = asyncio.run(seed(cluster.urls["verification"], args.cases, 100_000))
            raw = workdir / "profile.txt"
            spy = subprocess.Popen(
                [str(PY_SPY), "record", "--pid", str(pid), "--rate", "250", "--nonblocking", "--format", "raw",
                 "--output", str(raw)], stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE)
            time.sleep(1.0)  # py-spy attached
            asyncio.run(drive(client, pid, seeded, idle))
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
            result["profile"] = summarize(raw)
    finally:
        cluster.stop()
    text = json.dumps(result, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
