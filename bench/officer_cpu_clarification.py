"""CPU per request of the clarification officer routes (consent, plan, meetings, record) and the
blacklist's objection routes (file, decide), each API process on its own, on PostgreSQL (#22, item 1).

    .venv/bin/python -m bench.officer_cpu_clarification [--n 200] [--profile] [--out FILE.json]

Starts clarification's and credit_blacklist's API processes (uvicorn, one process each, no consumers
or relays) on fresh migrated databases (tools/cluster.py), seeds the aggregates in this process
through the service functions (on_verdict for clarifications, apply_verdict for blacklist entries),
then drives each route N times over one kept-alive connection with the raw HTTP client of
bench/loadgen.py and reads the server's CPU (utime+stime, /proc/<pid>/stat) before and after: CPU
seconds per request of the process that serves it, robust to a shared machine (a busy neighbour
lengthens the wall time, not the CPU the server spends). With --profile each route runs a second
time under `py-spy record` and the share of samples per layer is printed (bench/profile.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.loadgen import _request, build, json_body
from bench.profile import Sampler, _layer
from services.registry import SERVICES
from shared.events import ReportVerifiedV1, SubjectV1
from tools.cluster import Cluster

TICK = os.sysconf("SC_CLK_TCK")
CHINA = timedelta(hours=8)
VENUES = 24
GROUNDS = "本人举报时并不知道所述情况不实，请求复核。"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


class Client:
    """One kept-alive HTTP/1.1 connection to one API process."""

    def __init__(self, base: str, token: str) -> None:
        self.host, port = base.removeprefix("http://").split(":")
        self.port = int(port)
        self.token = token
        self.conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def call(self, method: str, path: str, doc: Any = None, token: str | None = None) -> tuple[int, Any]:
        if self.conn is None:
            self.conn = await asyncio.open_connection(self.host, self.port)
        headers = {"Authorization": f"Bearer {token or self.token}"}
        body = b""
        if doc is not None:
            body = json_body(doc)
            headers["Content-Type"] = "application/json"
        status, content = await _request(*self.conn, build(method, path, f"{self.host}:{self.port}", headers, body))
        return status, json.loads(content) if content else None

    def close(self) -> None:
        if self.conn is not None:
            self.conn[1].close()
            self.conn = None


def verdict(report_id: str, n: int, verdict: str = "untrue") -> ReportVerifiedV1:
    malicious = verdict == "malicious"
    return ReportVerifiedV1(
        report_id=report_id, case_id=str(uuid.uuid4()), verdict_id=str(uuid.uuid4()), version=1, verdict=verdict,
        fault_tolerance_exempted=False, region_code="330502", anonymous=False, concluded_at=datetime.now(UTC),
        refuted_allegation_ids=[] if malicious else ["a1", "a2"],
        subject=SubjectV1(name=f"王建{n}", position="副局长", organization="某局", region_code="330502"),
        malice_kind="false_accusation" if malicious else None, severity="ordinary" if malicious else None,
        reporter_blind_index="ab" * 32 if malicious else None,
        approver="dir-1" if malicious else None, approver_org_level="municipal" if malicious else None,
        rationale=["V-UNTRUE"])


def slots(calendar: Any, count: int) -> list[datetime]:
    """`count` meeting starts on working days from tomorrow (China time), two hours apart: clear of each
    other's buffer at one venue."""
    out: list[datetime] = []
    day = (datetime.now(UTC) + CHINA).date() + timedelta(days=1)
    while len(out) < count:
        if calendar.is_working_day(day):
            out += [datetime(day.year, day.month, day.day, h, tzinfo=UTC) - CHINA for h in (9, 11, 13, 15)]
        day += timedelta(days=1)
    return out[:count]


async def seed_clarifications(url: str, workdir: Path, n: int) -> dict[str, Any]:
    """4n clarifications: n pending consent (consent), n in progress (plan), n in progress (a meeting
    each), n with a meeting scheduled and then moved into the past (record)."""
    from services.clarification import consent, meetings, service
    from services.clarification.schemas import ConsentIn, MeetingIn
    from shared.auth import Principal

    settings = SERVICES["clarification"].settings(environment="test", data_dir=workdir, database_url=url,
                                                  kafka_bootstrap="127.0.0.1:9", run_relay=False, run_consumer=False)
    app = SERVICES["clarification"].create_app(settings)
    officer = Principal(subject="bench-seed", scopes=frozenset({"clarification:read", "clarification:write"}),
                        region="", org_level="central")
    ids: dict[str, list[str]] = {"consent": [], "plan": [], "meetings": [], "record": []}
    async with app.router.lifespan_context(app):
        runtime = app.runtime  # type: ignore[attr-defined]
        rules = app.resources  # type: ignore[attr-defined]
        from services.clarification import venues
        from services.clarification.schemas import VenueIn
        async with runtime.uow() as uow:
            for v in range(VENUES):
                await venues.register(uow=uow, principal=officer, venue_id=f"hall-{v}", body=VenueIn(
                    region_code="330502", name=f"会议室{v}", address="湖州市吴兴区青铜路88号"),
                    default_hours=rules.hours)
            await uow.commit()
        starts = slots(runtime.calendar, 2 * n // VENUES + 2)
        k = 0
        for kind in ids:
            for _ in range(n):
                k += 1
                report_id = str(uuid.uuid4())
                async with runtime.uow() as uow:
                    await service.on_verdict(uow=uow, verdict=verdict(report_id, k), rules=rules)
                    await uow.commit()
                async with runtime.uow() as uow:
                    live = await service._live_for_report(uow, report_id)
                    assert live is not None  # then read as the officer routes read it (ORM or Core)
                    c = await service.get(uow=uow, clarification_id=live.id, principal=officer, for_update=True)
                    if kind != "consent":
                        await consent.record_consent(uow=uow, clarification=c, principal=officer,
                                                     body=ConsentIn(consent=True))
                    ids[kind].append(c.id)
                    if kind == "record":
                        i = len(ids["record"]) - 1 + n
                        await meetings.schedule(uow=uow, clarification=c, principal=officer, rules=rules,
                                                body=MeetingIn(
                            starts_at=starts[i // VENUES], duration_minutes=60, venue_id=f"hall-{i % VENUES}",
                            host_organization="吴兴区纪委监委", scope="unit", invitees=["全体干部"]))
                    await uow.commit()
    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:  # the held meetings have started: an hour ago
        await conn.execute("UPDATE meetings SET starts_at = now() - interval '2 hours', "
                           "ends_at = now() - interval '1 hour'")
        meeting_ids = [r["id"] for r in await conn.fetch(
            "SELECT m.id FROM meetings m JOIN clarifications c ON c.id = m.clarification_id "
            "WHERE c.id = ANY($1::varchar[]) ORDER BY m.id", ids["record"])]
    finally:
        await conn.close()
    return {**ids, "meeting_ids": meeting_ids, "starts": [s.isoformat() for s in starts]}


async def seed_entries(url: str, workdir: Path, n: int) -> list[str]:
    """2n blacklist entries, notified (inside their objection window)."""
    from services.credit_blacklist import service
    from services.credit_blacklist.identity import ReporterIdentity

    class Identities:
        async def reporter_identity(self, *, report_id: str, verdict_id: str, version: int) -> ReporterIdentity:
            return ReporterIdentity(report_id=report_id, anonymous=False, name="李秀英",
                                    id_number="11010519491231002X", phone="13800138000", address="湖州市某街道1号")

    settings = SERVICES["credit_blacklist"].settings(environment="test", data_dir=workdir, database_url=url,
                                                     kafka_bootstrap="127.0.0.1:9", run_relay=False,
                                                     run_consumer=False, run_sweep=False)
    app = SERVICES["credit_blacklist"].create_app(settings)
    out = []
    async with app.router.lifespan_context(app):
        runtime = app.runtime  # type: ignore[attr-defined]
        for k in range(2 * n):
            async with runtime.uow() as uow:
                seen = await service.apply_verdict(
                    uow=uow, verdict=verdict(str(uuid.uuid4()), k, "malicious"), identities=Identities(),
                    cipher=runtime.cipher, calendar=runtime.calendar, rules=service.BlacklistRules())
                await uow.commit()
            out.append(seen.entry_id)
    return out


async def measure(pid: int, client: Client, calls: list[Callable[[], Any]], expect: int) -> dict[str, Any]:
    for warm in calls[:5]:  # warm-up: statement caches, first-use imports
        status, body = await warm()
        assert status == expect, (status, body)
    before, t0 = cpu_seconds(pid), time.monotonic()
    for call in calls[5:]:
        status, body = await call()
        assert status == expect, (status, body)
    cpu, wall = cpu_seconds(pid) - before, time.monotonic() - t0
    n = len(calls) - 5
    return {"requests": n, "cpu_ms_per_request": round(cpu / n * 1000, 3), "wall_ms_per_request": round(
        wall / n * 1000, 3)}


def plan_body(i: int) -> dict[str, Any]:
    return {"methods": ["meeting", "written"] if i % 2 else ["written"], "scope": "unit"}


async def drive(cluster: Cluster, seeds: dict[str, Any], entries: list[str], n: int, profile: bool,
                workdir: Path) -> dict[str, Any]:
    clar = cluster.processes["clarification-api-0"]
    bl = cluster.processes["credit_blacklist-api-0"]
    c = Client(clar.url, cluster.token(sub="bench-officer"))
    b = Client(bl.url, cluster.token(sub="bench-officer"))
    decider = cluster.token(sub="bench-decider")
    assert clar.popen is not None and bl.popen is not None
    starts = [datetime.fromisoformat(s) for s in seeds["starts"]]
    half = n // 2 if profile else n  # with --profile: the first half measured, the second under py-spy
    seeds = {k: v[:-1] if k != "starts" else v for k, v in seeds.items()}  # the last: the statement count's
    entries = entries[:-2]
    routes: dict[str, tuple[Client, int, int, list[Callable[[], Any]]]] = {
        "POST /v1/clarifications/{id}/consent": (c, clar.popen.pid, 200, [
            (lambda i=i: c.call("POST", f"/v1/clarifications/{i}/consent", {"consent": True}))
            for i in seeds["consent"]]),
        "PUT /v1/clarifications/{id}/plan": (c, clar.popen.pid, 200, [
            (lambda i=i, k=k: c.call("PUT", f"/v1/clarifications/{i}/plan", plan_body(k)))
            for k, i in enumerate(seeds["plan"])]),
        "POST /v1/clarifications/{id}/meetings": (c, clar.popen.pid, 201, [
            (lambda i=i, k=k: c.call("POST", f"/v1/clarifications/{i}/meetings", {
                "starts_at": starts[k // VENUES].isoformat(), "duration_minutes": 60, "venue_id": f"hall-{k % VENUES}",
                "host_organization": "吴兴区纪委监委", "scope": "unit", "invitees": ["自然资源局全体干部"]}))
            for k, i in enumerate(seeds["meetings"])]),
        "POST /v1/meetings/{id}/record": (c, clar.popen.pid, 200, [
            (lambda i=i: c.call("POST", f"/v1/meetings/{i}/record", {
                "attendance": 40, "minutes_summary": "通报了核查结论，澄清了不实反映。", "bulletin_issued": False}))
            for i in seeds["meeting_ids"]]),
        "POST /v1/entries/{id}/objections": (b, bl.popen.pid, 201, [
            (lambda i=i: b.call("POST", f"/v1/entries/{i}/objections", {"grounds": GROUNDS}))
            for i in entries]),
    }
    results: dict[str, Any] = {}
    objection_ids: list[str] = []
    for name, (client, pid, expect, calls) in routes.items():
        if name.endswith("/objections"):
            calls = [_keeping(call, objection_ids) for call in calls]
        results[name] = await measure(pid, client, calls[:half], expect)
        if profile:
            results[name]["profile"] = await profiled(pid, client, calls[half:], expect,
                                                      workdir / f"profile-{name.split('/')[-1]}.txt")
    decisions = [(lambda o=o: b.call("POST", f"/v1/objections/{o}/decision", {
        "decision": "reject", "reason": "异议理由与核查认定的伪造材料事实不符，维持列入决定。"}, token=decider))
        for o in objection_ids]
    name = "POST /v1/objections/{id}/decision"
    results[name] = await measure(bl.popen.pid, b, decisions[:half], 200)
    if profile:
        results[name]["profile"] = await profiled(bl.popen.pid, b, decisions[half:], 200,
                                                  workdir / "profile-decision.txt")
    c.close()
    b.close()
    return results


def _keeping(call: Callable[[], Any], into: list[str]) -> Callable[[], Any]:
    async def kept() -> tuple[int, Any]:
        status, body = await call()
        if status == 201:
            into.append(body["id"])
        return status, body
    return kept


async def profiled(pid: int, client: Client, calls: list[Callable[[], Any]], expect: int, out: Path
                   ) -> dict[str, Any]:
    sampler = Sampler(pid, 600, out, rate=250)
    await asyncio.sleep(1.0)  # py-spy attaches
    for call in calls:
        status, body = await call()
        assert status == expect, (status, body)
    sampler.proc.send_signal(2)  # SIGINT: py-spy writes what it has
    await asyncio.to_thread(sampler.proc.communicate, timeout=120)
    return layers(out)


# Where a frame's file says the CPU was spent; the first match wins (bench/profile.py's layers, finer).
INCLUSIVE = (("sqlalchemy ORM (session, unit of work, loading)", "sqlalchemy/orm/"),
             ("sqlalchemy (any)", "sqlalchemy/"), ("asyncpg (any)", "asyncpg/"),
             ("audit append (shared/audit.py)", "shared/audit.py"), ("outbox/commit (shared/uow.py)", "shared/uow.py"),
             ("pydantic (validate, serialize)", "pydantic"), ("fastapi/starlette", "fastapi/"),
             ("routes and services (services/)", "services/"))


def layers(raw: Path) -> dict[str, Any]:
    """The samples that were on the CPU (the event loop waiting in its selector left out), by the layer
    of the innermost frame, and the share of them that ran inside each layer at any depth."""
    leaf_layers: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    functions: Counter[str] = Counter()
    total = idle = 0
    for line in raw.read_text().splitlines() if raw.exists() else []:
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count, frames = int(count_text), stack.split(";")
        leaf = frames[-1]
        if leaf.startswith(("Runner.run ", "select (selectors", "_run_once (asyncio")) or "run_forever" in leaf:
            idle += count
            continue
        total += count
        leaf_layers[_layer(leaf)] += count
        functions[leaf] += count
        for name, marker in INCLUSIVE:
            if any(marker in f for f in frames):
                inside[name] += count
    if not total:
        return {"samples": 0}
    return {"cpu_samples": total, "idle_samples": idle,
            "by_innermost_layer": {k: round(n / total, 3) for k, n in leaf_layers.most_common()},
            "inside_layer_at_any_depth": {k: round(inside[k] / total, 3) for k, _ in INCLUSIVE},
            "hottest_functions": [{"function": f, "share": round(n / total, 3)} for f, n in functions.most_common(12)]}


async def statements(cluster: Cluster, seeds: dict[str, Any], entries: list[str], workdir: Path
                     ) -> dict[str, Any]:
    """The statements each route sends to the database (BEGIN and COMMIT counted), one request of each
    through the app in this process on the same databases: each is one round trip."""
    import httpx
    from sqlalchemy import event

    out: dict[str, Any] = {}
    token = {"Authorization": f"Bearer {cluster.token(sub='bench-officer')}"}
    decider = {"Authorization": f"Bearer {cluster.token(sub='bench-decider')}"}
    starts = [datetime.fromisoformat(s) for s in seeds["starts"]]
    for service in ("clarification", "credit_blacklist"):
        no_sweep: dict[str, Any] = {"run_sweep": False} if service == "credit_blacklist" else {}
        settings = SERVICES[service].settings(environment="test", data_dir=workdir, database_url=cluster.urls[service],
                                              kafka_bootstrap="127.0.0.1:9", run_relay=False, run_consumer=False,
                                              **no_sweep)  # the sweep's statements would be counted too
        app = SERVICES[service].create_app(settings)
        async with app.router.lifespan_context(app), httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            sent: list[str] = []
            engine = app.runtime.engine.sync_engine  # type: ignore[attr-defined]
            for name, what in (("before_cursor_execute", None), ("begin", "BEGIN"), ("commit", "COMMIT"),
                               ("rollback", "ROLLBACK")):
                event.listen(engine, name, _recorder(sent, what))
            k = len(seeds["meetings"]) - 1
            calls = {"clarification": [
                ("POST /v1/clarifications/{id}/consent", "POST", f"/v1/clarifications/{seeds['consent'][-1]}/consent",
                 {"consent": True}, token),
                ("PUT /v1/clarifications/{id}/plan", "PUT", f"/v1/clarifications/{seeds['plan'][-1]}/plan",
                 plan_body(1), token),
                ("POST /v1/clarifications/{id}/meetings", "POST",
                 f"/v1/clarifications/{seeds['meetings'][-1]}/meetings",
                 {"starts_at": starts[k // VENUES + 1].isoformat(), "duration_minutes": 60,
                  "venue_id": f"hall-{k % VENUES}", "host_organization": "吴兴区纪委监委", "scope": "unit",
                  "invitees": []}, token),
                ("POST /v1/meetings/{id}/record", "POST", f"/v1/meetings/{seeds['meeting_ids'][-1]}/record",
                 {"attendance": 40, "minutes_summary": "通报了核查结论。", "bulletin_issued": False}, token)],
                "credit_blacklist": [
                ("POST /v1/entries/{id}/objections", "POST", f"/v1/entries/{entries[-1]}/objections",
                 {"grounds": GROUNDS}, token)]}[service]
            for name, method, path, body, headers in calls:
                sent.clear()
                r = await client.request(method, path, json=body, headers=headers)
                assert r.status_code in (200, 201), r.text
                out[name] = {"round_trips": len(sent), "statements": list(sent)}
                if name.endswith("/objections"):
                    sent.clear()
                    r = await client.post(f"/v1/objections/{r.json()['id']}/decision", headers=decider, json={
                        "decision": "reject", "reason": "异议理由与核查认定的伪造材料事实不符，维持列入决定。"})
                    assert r.status_code == 200, r.text
                    out["POST /v1/objections/{id}/decision"] = {"round_trips": len(sent), "statements": list(sent)}
    return out


def _recorder(into: list[str], what: str | None) -> Callable[..., None]:
    def record(*args: Any) -> None:
        into.append(what or " ".join(str(args[2]).split())[:90])
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="requests per route (measured; plus 5 warm-up)")
    parser.add_argument("--profile", action="store_true", help="as many again per route under py-spy")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--statements", action="store_true", help="count each route's round trips too")
    parser.add_argument("--keep", type=Path, help="a directory to keep the raw py-spy profiles in")
    args = parser.parse_args(argv)
    per_route = (2 * args.n if args.profile else args.n) + 5
    with tempfile.TemporaryDirectory(prefix="zm-officer-cpu-") as tmp:
        workdir = Path(tmp)
        cluster = Cluster(workdir, services=("clarification", "credit_blacklist"))
        cluster.start(roles=("api",))
        try:
            # One aggregate more of each kind than the measured calls take: the statement count's.
            seeds = asyncio.run(seed_clarifications(cluster.urls["clarification"], workdir, per_route + 1))
            entries = asyncio.run(seed_entries(cluster.urls["credit_blacklist"], workdir, per_route + 1))
            keep = args.keep or workdir
            keep.mkdir(parents=True, exist_ok=True)
            results = asyncio.run(drive(cluster, seeds, entries, per_route, args.profile, keep))
            trips = asyncio.run(statements(cluster, seeds, entries, workdir)) if args.statements else {}
            for name, counted in trips.items():
                results[name].update(counted)
        finally:
            cluster.stop()
    report = {"at": datetime.now(UTC).isoformat(timespec="seconds"), "cores": os.cpu_count(),
              "method": "server CPU (utime+stime of the API process) before/after N sequential requests over one "
                        "kept-alive connection, after 5 warm-up requests; PostgreSQL; shared machine",
              "routes": results}
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
