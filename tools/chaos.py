"""Fault injection across the whole pipeline: `make chaos` (full) and `--quick` (CI).

Four services run as separate API, consumer and relay processes on the real broker and
PostgreSQL. Batches of uniquely numbered reports flow through every verdict path while one fault
is injected per batch; after each, the run waits until the pipeline is consistent again and
records how long that took and the largest outbox backlog seen. At the end it compares what was
acknowledged with what exists everywhere: lost, applied twice, per-report order violations.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from services.verification.domain import DISTINCTIONS, FIVE_CHECKS
from tools.cluster import Cluster

PATHS = ("untrue", "true", "true_exempted", "inconclusive", "malicious_approved")
MALICE = {"facts_invented": True, "material_forged": False, "knew_false": True, "meant_punishment": True,
          "aggravating": [], "kind": "false_accusation", "severity": "ordinary"}
EXEMPT = {"distinctions": {k: True for k in DISTINCTIONS}, "checks": {k: True for k in FIVE_CHECKS}}


def reporter_name(i: int) -> str:
    return f"举报人甲{i:04d}"


def reporter_id(i: int) -> str:
    from stdnum.cn import ric

    body = f"110105198001{(i % 28) + 1:02d}{i % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def report_body(i: int) -> dict[str, Any]:
    return {
        "channel": "online",
        "subject": {"name": f"官员{i:04d}", "position": "科长", "organization": "某县某局", "region_code": "330502"},
        "allegations": [{"category": "bribery", "summary": f"第{i:04d}号线索：收受礼金{i % 9 + 1}万元并为他人谋利。"}],
        "reporter": {"anonymous": False, "name": reporter_name(i), "id_number": reporter_id(i),
                     "phone": f"1380000{i:04d}"},
        "external_ref": f"CHAOS-{i:05d}",
    }


@dataclass
class Plan:
    number: int
    path: str
    correct: bool  # a second verdict supersedes the first: order must hold downstream
    hold_approval: bool = False


@dataclass
class FaultResult:
    fault: str
    reports: int
    recovery_s: float
    peak_backlog: int
    lost: int = 0
    applied_twice: int = 0
    order_violations: int = 0
    forged_applied: int = 0  # injected events some consumer did not dead-letter as untrusted


@dataclass
class Run:
    cluster: Cluster
    quick: bool
    acked: dict[int, str] = field(default_factory=dict)  # report number -> report id
    plans: dict[int, Plan] = field(default_factory=dict)
    results: list[FaultResult] = field(default_factory=list)
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    next_number: int = 0
    forged_before: dict[str, int] = field(default_factory=dict)  # untrusted dead letters per consumer
    forged_count: int = 0
    forged_missing: int = 0

    # --- the officer and submitter clients, retrying through outages -------------------------------

    async def call(self, method: str, service: str, path: str, *, deadline_s: float = 180, **kw: Any
                   ) -> httpx.Response:
        deadline = time.monotonic() + deadline_s
        token = self.approver if kw.pop("as_approver", False) else self.tokens[service]
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        while True:
            try:
                async with httpx.AsyncClient(base_url=self.cluster.api(service), timeout=15) as c:
                    r = await c.request(method, path, headers=headers, **kw)
                if r.status_code < 500:
                    return r
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{method} {service}{path} kept failing")
            await asyncio.sleep(0.5)

    async def submit(self, plan: Plan) -> None:
        r = await self.call("POST", "intake", "/v1/reports", json=report_body(plan.number),
                            headers={"Idempotency-Key": f"chaos-{self.cluster.run_id}-{plan.number}"})
        assert r.status_code == 201, r.text
        self.acked[plan.number] = r.json()["id"]

    async def drive(self, plan: Plan) -> None:
        """Move the report's current case along its path, deciding each step from its state."""
        report_id = self.acked[plan.number]
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            items = (await self.call("GET", "verification", "/v1/cases", params={"report_id": report_id})
                     ).json()["items"]
            current = [c for c in items if c["status"] != "superseded"]
            if not current:
                await asyncio.sleep(0.3)
                continue
            case = current[0]
            cid, status = case["id"], case["status"]
            if status == "final":
                if plan.correct and len(items) == 1:
                    # Four eyes: the investigator asks; an officer who took no part in the case (not the
                    # verdict's approver either) approves. A retried call answers 409 once it took effect.
                    pending = case["pending_correction"]
                    if pending is None:
                        why = "复查发现被反映人当日的银行流水记录，原认定依据不足，需要重新认定。"
                        r = await self.call("POST", "verification", f"/v1/cases/{cid}/correction",
                                            json={"reason": why})
                        assert r.status_code in (202, 409), r.text
                    else:
                        why = "新调取的银行流水足以动摇原认定，同意撤销原结论并重新核查。"
                        r = await self.call("POST", "verification", f"/v1/corrections/{pending['id']}/decision",
                                            headers={"Authorization": f"Bearer {self.corrector}"},
                                            json={"decision": "approve", "reason": why})
                        assert r.status_code in (200, 409), r.text
                    continue
                return
            if status == "awaiting_approval":
                if plan.hold_approval:
                    return
                await self.call("POST", "verification", f"/v1/cases/{cid}/approval", as_approver=True,
                                json={"decision": "approve", "reason": "证据充分，同意。"})
                continue
            corrected_now = len(items) > 1
            finding = {"true": "substantiated", "true_exempted": "partially_substantiated",
                       "inconclusive": "unverifiable"}.get(plan.path, "unsubstantiated")
            if corrected_now:
                finding = "substantiated"  # the correction finds the allegation true after all
            await self.call("PUT", "verification", f"/v1/cases/{cid}/findings", json={"findings": [
                {"allegation_id": a["allegation_id"], "finding": finding} for a in case["allegations"]]})
            if plan.path == "malicious_approved" and not corrected_now:
                await self.call("PUT", "verification", f"/v1/cases/{cid}/malice-assessment", json=MALICE)
            if plan.path == "true_exempted":
                await self.call("PUT", "verification", f"/v1/cases/{cid}/fault-tolerance", json=EXEMPT)
            r = await self.call("POST", "verification", f"/v1/cases/{cid}/conclusion")
            assert r.status_code in (200, 409), r.text
        raise RuntimeError(f"report {plan.number} did not reach its verdict")

    async def flow(self, plans: list[Plan], concurrency: int = 4) -> None:
        queue: asyncio.Queue[Plan] = asyncio.Queue()
        for p in plans:
            queue.put_nowait(p)

        async def worker() -> None:
            while not queue.empty():
                plan = queue.get_nowait()
                await self.submit(plan)
                await self.drive(plan)

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    def batch(self, size: int, *, approvals_held: bool = False) -> list[Plan]:
        plans = []
        for _ in range(size):
            n = self.next_number
            self.next_number += 1
            plan = Plan(n, PATHS[n % len(PATHS)], correct=n % 7 == 3, hold_approval=approvals_held)
            if approvals_held:
                plan.path, plan.correct = "malicious_approved", False
            self.plans[n] = plan
            plans.append(plan)
        return plans

    # --- consistency ----------------------------------------------------------------------------------

    async def state(self) -> dict[str, Any]:
        """Counts that must line up once the pipeline has caught up."""
        out: dict[str, Any] = {}
        conns = {s: await asyncpg.connect(self.cluster.dsn(s)) for s in self.cluster.services}
        try:
            intake = {r["id"]: r for r in await conns["intake"].fetch(
                "SELECT id, outcome, verdict_version FROM reports")}
            cases = await conns["verification"].fetch(
                "SELECT report_id, status, verdict, fault_tolerance_exempted FROM cases WHERE status != 'superseded'")
            versions = {r["report_id"]: r["v"] for r in await conns["verification"].fetch(
                "SELECT report_id, max(version) AS v FROM verdicts WHERE state = 'final' GROUP BY report_id")}
            clar = await conns["clarification"].fetch("SELECT report_id, outcome FROM clarifications")
            entries = await conns["credit_blacklist"].fetch("SELECT report_id, status FROM entries")
            out["backlog"] = sum([await c.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                                  for c in conns.values()])
        finally:
            for c in conns.values():
                await c.close()
        acked = set(self.acked.values())
        case_count: dict[str, int] = {}
        final: dict[str, str] = {}
        for r in cases:
            case_count[r["report_id"]] = case_count.get(r["report_id"], 0) + 1
            if r["status"] == "final":
                final[r["report_id"]] = r["verdict"]
        live_clar: dict[str, int] = {}
        for r in clar:
            if r["outcome"] != "cancelled":
                live_clar[r["report_id"]] = live_clar.get(r["report_id"], 0) + 1
        entry_count: dict[str, int] = {}
        for r in entries:
            if r["status"] != "revoked":
                entry_count[r["report_id"]] = entry_count.get(r["report_id"], 0) + 1
        lost = len(acked - set(intake)) + sum(1 for r in acked if case_count.get(r, 0) == 0)
        twice = sum(max(0, n - 1) for n in case_count.values()) + sum(max(0, n - 1) for n in live_clar.values()) \
            + sum(max(0, n - 1) for n in entry_count.values())
        pending = 0
        order = 0
        by_report = {report_id: p for p in self.plans.values() if (report_id := self.acked.get(p.number))}
        exempt = {r["report_id"] for r in cases if r["fault_tolerance_exempted"]}
        for report_id, verdict in final.items():
            rep = intake.get(report_id)
            plan = by_report.get(report_id)
            if rep is None or rep["outcome"] != verdict or rep["verdict_version"] != versions.get(report_id):
                pending += 1  # the newest verdict has not reached intake yet
            qualifies = verdict in ("untrue", "malicious") or (verdict == "true" and report_id in exempt)
            if qualifies != (live_clar.get(report_id, 0) > 0):
                # A corrected report whose first verdict's clarification is still live saw its
                # events out of order (or has not seen the second one yet).
                if plan is not None and plan.correct:
                    order += 1
                else:
                    pending += 1
            if (verdict == "malicious") != (entry_count.get(report_id, 0) > 0):
                pending += 1
        out.update(lost=lost, applied_twice=twice, pending=pending, order_suspects=order,
                   awaiting=sum(1 for r in acked if r not in final))
        return out

    async def settle(self, timeout_s: float = 240) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        held = sum(1 for p in self.plans.values() if p.hold_approval)
        while True:
            s = await self.state()
            if s["pending"] == 0 and s["lost"] == 0 and s["order_suspects"] == 0 and s["backlog"] == 0 \
                    and s["awaiting"] <= held:
                return s
            if time.monotonic() > deadline:
                return s
            await asyncio.sleep(0.5)

    async def with_fault(self, name: str, size: int, inject: Callable[[], Awaitable[None]],
                         recover: Callable[[], Awaitable[None]] | None = None) -> None:
        plans = self.batch(size)
        half = size // 2
        await self.flow(plans[:half])
        started = time.monotonic()
        peak = {"backlog": 0}
        sampling = True

        async def sample() -> None:
            while sampling:
                try:
                    peak["backlog"] = max(peak["backlog"], (await self.state())["backlog"])
                except Exception:
                    pass
                await asyncio.sleep(1)

        sampler = asyncio.create_task(sample())
        await inject()
        await self.flow(plans[half:])
        if recover is not None:
            await recover()
        final = await self.settle()
        sampling = False
        await sampler
        result = FaultResult(name, size, round(time.monotonic() - started, 1), peak["backlog"], final["lost"],
                             final["applied_twice"], final["order_suspects"], self.forged_missing)
        self.forged_missing = 0
        if final["pending"]:
            result.lost += final["pending"]  # never caught up: count what is missing as lost
        self.results.append(result)
        print(f"  {name}: recovered in {result.recovery_s}s, lost={result.lost}, "
              f"twice={result.applied_twice}, order={result.order_violations}, "
              f"forged applied={result.forged_applied}", flush=True)

    # --- the faults -------------------------------------------------------------------------------------

    async def crash_at(self, process: str, point: str) -> None:
        """Restart `process` armed with a crash point; once it dies there, restart it clean.

        It fires at the first transaction or publish after the restart, which the rest of the batch
        brings for certain: how many more there are depends on how many events share a poll or a
        relay batch, and a crash point armed for a later one might never fire."""
        self.cluster.restart(process, ZM_FAULT=f"{point}:1")

        async def rearm() -> None:
            proc = self.cluster.processes[process]
            while proc.alive():
                await asyncio.sleep(0.2)
            self.cluster.spawn(proc)

        self._rearm = asyncio.create_task(rearm())

    async def wait_rearmed(self) -> None:
        await asyncio.wait_for(self._rearm, timeout=120)

    async def broker_restart(self) -> None:
        self.cluster.kill_broker()
        await asyncio.sleep(2)
        self.cluster.start_broker()

    async def replay_outboxes(self) -> None:
        env = self.cluster.base_env()
        for service in self.cluster.services:
            subprocess.run([sys.executable, "-m", "services.cli", "outbox", "replay", "--service", service,
                            "--since", self.started.isoformat()], env=env, check=True, capture_output=True)

    async def postgres_pause(self, seconds: int = 10) -> None:
        version = sorted(os.listdir("/etc/postgresql"))[-1]
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "stop", "-m", "fast"],
                       check=True)
        await asyncio.sleep(seconds)
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"],
                       check=True)

    async def intake_outage_during_listing(self, size: int) -> None:
        plans = self.batch(size, approvals_held=True)
        await self.flow(plans)
        started = time.monotonic()
        for p in self.cluster.processes_by_role("api", "intake"):
            self.cluster.kill(p.name)
        for plan in plans:  # approvals go on while intake is away; listing needs its identity
            plan.hold_approval = False
            cases = (await self.call("GET", "verification", "/v1/cases",
                                     params={"report_id": self.acked[plan.number]})).json()["items"]
            await self.call("POST", "verification", f"/v1/cases/{cases[0]['id']}/approval", as_approver=True,
                            json={"decision": "approve", "reason": "证据充分，同意。"})
        await asyncio.sleep(8 if self.quick else 15)
        for p in self.cluster.processes_by_role("api", "intake"):
            self.cluster.spawn(p)
        self.cluster.wait_ready(names=[p.name for p in self.cluster.processes_by_role("api", "intake")])
        final = await self.settle()
        self.results.append(FaultResult("intake unreachable while the blacklist needs identity", size,
                                        round(time.monotonic() - started, 1), final["backlog"],
                                        final["lost"] + final["pending"], final["applied_twice"],
                                        final["order_suspects"]))
        print(f"  intake outage: lost={self.results[-1].lost}", flush=True)

    async def run(self) -> None:
        c = self.cluster
        # The investigator concludes, a second officer approves (four eyes).
        self.tokens = {s: c.token(sub="chaos-investigator") for s in c.services}
        self.approver = c.token(sub="chaos-approver")
        self.corrector = c.token(sub="chaos-corrector")  # approves corrections: took no part in the cases
        size = 10 if self.quick else 40
        print("warm-up", flush=True)
        await self.flow(self.batch(5))
        await self.settle()

        await self.with_fault("kill -9 verification consumer before its DB commit", size,
                              lambda: self.crash_at("verification-consumer-0", "consumer.before_db_commit"),
                              self.wait_rearmed)
        await self.with_fault("kill -9 clarification consumer after DB commit, before offset commit", size,
                              lambda: self.crash_at("clarification-consumer-0", "consumer.after_db_commit"),
                              self.wait_rearmed)
        await self.with_fault("kill -9 intake relay after publishing, before marking sent", size,
                              lambda: self.crash_at("intake-relay-0", "relay.after_publish"), self.wait_rearmed)
        await self.with_fault("kill -9 credit_blacklist consumer after DB commit", size,
                              lambda: self.crash_at("credit_blacklist-consumer-0", "consumer.after_db_commit"),
                              self.wait_rearmed)
        async def broker_restart_then_replay() -> None:
            # What the runbook says after losing the broker: bring it back, then replay the outboxes.
            await self.broker_restart()
            await self.replay_outboxes()

        await self.with_fault("broker restart (all data lost) + documented outbox replay", size,
                              broker_restart_then_replay)

        async def second_consumer() -> None:
            c.add("verification", "consumer")

        await self.with_fault("second verification consumer joins mid-stream (rebalance)", size, second_consumer)
        if not self.quick:
            await self.with_fault("PostgreSQL stopped for 10 s", size, self.postgres_pause)
        await self.with_fault("forged verdicts injected mid-stream (unsigned, untrusted key, wrong producer)", size,
                              self.inject_forged_verdicts, self.check_forged_dead_lettered)
        await self.intake_outage_during_listing(5 if self.quick else 10)

    # --- forged events ------------------------------------------------------------------------------

    async def inject_forged_verdicts(self) -> None:
        """What anyone on the broker's network can do: publish malicious verdicts, with no approver,
        against reports already acknowledged. None may be applied; each consumer dead-letters each."""
        self.forged_before = await self.untrusted_dead_letters()
        targets = [self.acked[n] for n in sorted(self.acked)[-3:]]
        records = [record for _, record in forged_verdicts(self.cluster, targets)]
        self.forged_count = len(records)
        await asyncio.to_thread(publish_records, f"127.0.0.1:{self.cluster.broker_port}", records)

    async def untrusted_dead_letters(self) -> dict[str, int]:
        out = {}
        for service in ("intake", "clarification", "credit_blacklist"):
            conn = await asyncpg.connect(self.cluster.dsn(service))
            try:
                out[service] = int(await conn.fetchval(
                    "SELECT count(*) FROM dead_letters WHERE reason IN "
                    "('signature_invalid', 'untrusted_source', 'type_not_allowed')"))
            finally:
                await conn.close()
        return out

    async def check_forged_dead_lettered(self) -> None:
        """Wait until every verdict consumer dead-lettered every forged event (the run's settle then
        finds any that was applied: an entry or outcome no genuine verdict explains)."""
        deadline = time.monotonic() + 120
        while True:
            now = await self.untrusted_dead_letters()
            missing = sum(max(0, self.forged_before[s] + self.forged_count - now[s]) for s in now)
            if missing == 0 or time.monotonic() > deadline:
                self.forged_missing = missing
                return
            await asyncio.sleep(0.5)



def forged_verdicts(cluster: Cluster, targets: list[str]) -> list[tuple[str, Any]]:
    """Malicious verdicts with no approver against `targets` (report ids), one per forgery in turn:
    unsigned, signed by a key nobody trusts, and signed by intake (a producer not allowed to
    publish verdicts). Returns (event id, record) pairs."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from shared.events import ReportVerifiedV1, encode
    from shared.signing import ServiceKey

    intake_key = ServiceKey.from_file("intake", cluster.workdir / "keys" / "services" / "intake.pem")
    stranger = ServiceKey("verification", Ed25519PrivateKey.generate())
    forgeries = [("/zhengming/verification", None), ("/zhengming/verification", stranger),
                 ("/zhengming/intake", intake_key)]
    out = []
    for i, report_id in enumerate(targets):
        source, signer = forgeries[i % len(forgeries)]
        forged = ReportVerifiedV1(report_id=report_id, case_id=report_id, verdict_id=report_id, version=99,
                                  verdict="malicious", malice_kind="false_accusation", severity="serious",
                                  approver=None, region_code="330502", anonymous=False,
                                  reporter_blind_index="ab" * 32, concluded_at=datetime.now(UTC))
        out.append(encode(forged, key=report_id, source=source, signer=signer))
    return out


def publish_records(bootstrap: str, records: list[Any]) -> list[str]:
    """Publish records (topic, key, headers, value) as they are, straight to the broker. Returns where
    each landed, `topic:partition:offset` (what a consumer names an event by when it cannot trust its id)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    landed = []
    try:
        for record in records:
            meta = producer.send(record.topic, key=record.key.encode(), value=record.value,
                                 headers=[(k, v.encode()) for k, v in record.headers.items()]).get(timeout=10)
            landed.append(f"{meta.topic}:{meta.partition}:{meta.offset}")
    finally:
        producer.close()
    return landed


def read_all_topics(bootstrap: str) -> list[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest",
                             enable_auto_commit=False)
    topics = [t for t in consumer.topics() if not t.startswith("__")]
    parts = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or []]
    consumer.assign(parts)
    consumer.seek_to_beginning()
    out: list[bytes] = []
    idle = 0
    while idle < 3:
        batch = consumer.poll(timeout_ms=500)
        idle = idle + 1 if not batch else 0
        for msgs in batch.values():
            for m in msgs:
                out.append((m.value or b"") + b"".join(v or b"" for _, v in m.headers))
    consumer.close()
    return out


async def verify_audit(run: Run) -> dict[str, Any]:
    """Every chain intact; then one altered row must be found where it was altered."""
    report: dict[str, Any] = {}
    for s in run.cluster.services:
        r = await run.call("GET", s, "/v1/audit/verify")
        report[s] = r.json()
    conn = await asyncpg.connect(run.cluster.dsn("verification"))
    try:
        seq = await conn.fetchval("SELECT seq FROM audit_records ORDER BY seq OFFSET 2 LIMIT 1")
        await conn.execute("UPDATE audit_records SET actor = 'intruder' WHERE seq = $1", seq)
    finally:
        await conn.close()
    broken = (await run.call("GET", "verification", "/v1/audit/verify")).json()
    report["tamper_detected_at"] = broken.get("first_broken_seq")
    report["tampered_seq"] = seq
    return report


def leak_scan(run: Run) -> dict[str, int]:
    secrets = [reporter_name(i) for i in run.acked] + [reporter_id(i) for i in run.acked]
    messages = read_all_topics(f"127.0.0.1:{run.cluster.broker_port}")
    decoded = [json.dumps(json.loads(m), ensure_ascii=False) if m[:1] == b"{" and m.endswith(b"}") else
               m.decode("utf-8", "replace") for m in messages]
    event_hits = sum(1 for text in decoded for s in secrets if s in text)
    logs = "\n".join(p.read_text(errors="replace") for p in (run.cluster.workdir / "logs").glob("*.log"))
    log_hits = sum(1 for s in secrets if s in logs)
    return {"messages_scanned": len(messages), "identity_in_events": event_hits, "identity_in_logs": log_hits,
            "log_bytes_scanned": len(logs)}


def table(results: list[FaultResult]) -> str:
    lines = ["| fault | reports | lost | applied twice | order violations | forged applied | recovery s | "
             "peak backlog |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.fault} | {r.reports} | {r.lost} | {r.applied_twice} | {r.order_violations} | "
                     f"{r.forged_applied} | {r.recovery_s} | {r.peak_backlog} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.chaos", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small batches, no PostgreSQL stop (for CI)")
    parser.add_argument("--workdir", type=Path, default=Path("data/chaos"))
    parser.add_argument("--keep", action="store_true", help="keep the databases afterwards")
    args = parser.parse_args(argv)
    cluster = Cluster(args.workdir / datetime.now(UTC).strftime("%Y%m%dT%H%M%S"))
    print(f"starting the cluster in {cluster.workdir} ...", flush=True)
    cluster.start()
    run = Run(cluster, args.quick)
    try:
        asyncio.run(run.run())
        audit = asyncio.run(verify_audit(run))
        leaks = leak_scan(run)
    finally:
        cluster.stop(drop_databases=not args.keep)
    print("\n" + table(run.results))
    print(f"\nidentity scan: {leaks}")
    print(f"audit chains: { {k: v for k, v in audit.items() if isinstance(v, dict)} }")
    print(f"tampering with audit record {audit['tampered_seq']} detected at {audit['tamper_detected_at']}")
    out = Path("bench/results") / f"chaos-{datetime.now(UTC):%Y-%m-%d}{'-quick' if args.quick else ''}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"results": [asdict(r) for r in run.results], "leaks": leaks, "audit": audit},
                              ensure_ascii=False, indent=2, default=str))
    ok = all(r.lost == 0 and r.applied_twice == 0 and r.order_violations == 0 and r.forged_applied == 0
             for r in run.results) \
        and leaks["identity_in_events"] == 0 and leaks["identity_in_logs"] == 0 \
        and all(v.get("valid") for v in audit.values() if isinstance(v, dict)) \
        and audit["tamper_detected_at"] == audit["tampered_seq"]
    print("\nchaos run:", "PASSED" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
