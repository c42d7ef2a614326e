"""Several processes per service on PostgreSQL and the real broker: two API processes, two
consumers and two relays each. Every event's effect still happens exactly once, in order per report."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from services.clarification.models import Clarification
from services.verification.models import Case
from shared.broker import die_with_parent, free_port
from shared.models import InboxMark
from tests.conftest import BACKEND, bearer, eventually
from tests.factories import report_body, resident_id
from tests.kafka_helpers import read_topic
from tests.verification.driver import Officers

SERVICES = ("intake", "verification", "clarification")
ROLES = ("api", "api", "consumer", "consumer", "relay", "relay")

pytestmark = pytest.mark.skipif(BACKEND != "postgresql", reason="multi-process deployments run on PostgreSQL")


async def test_two_of_everything_applies_each_effect_once_and_in_order(officer_headers, new_database, broker, data_dir,
                                                                       make_token, sessions_for,
                                                                       tmp_path: Path):
    urls = {s: await new_database(s) for s in SERVICES}
    env = {**os.environ, "ZM_ENVIRONMENT": "test", "ZM_DATA_DIR": str(data_dir), "ZM_KAFKA_BOOTSTRAP": broker,
           "ZM_LOG_LEVEL": "WARNING", "ZM_INTAKE_RECEIPT_LOOKUPS_PER_MINUTE": "10000"}
    for s, url in urls.items():
        env[f"ZM_{s.upper()}_DATABASE_URL"] = url
    procs: list[tuple[str, subprocess.Popen]] = []
    ports: dict[str, list[int]] = {s: [] for s in SERVICES}
    for s in SERVICES:
        for i, role in enumerate(ROLES):
            port = free_port()
            if role == "api":
                ports[s].append(port)
            log = open(tmp_path / f"{s}-{role}-{i}.log", "ab")
            procs.append((f"{s}-{role}-{i}", subprocess.Popen(
                [sys.executable, "-m", "services.cli", "run", s, "--role", role, "--port", str(port)],
                env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=die_with_parent)))
    sessions = {s: sessions_for(urls[s]) for s in SERVICES}
    try:
        async def all_ready():
            for name, p in procs:
                assert p.poll() is None, (tmp_path / f"{name}.log").read_text()[-2000:]
            async with httpx.AsyncClient() as c:
                for s in SERVICES:
                    for port in ports[s]:
                        try:
                            if (await c.get(f"http://127.0.0.1:{port}/readyz", timeout=2)).status_code != 200:
                                return False
                        except httpx.HTTPError:
                            return False
            return True

        await eventually(all_ready, timeout_s=90, interval_s=0.5, what="every process ready")
        intakes = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}") for p in ports["intake"]]
        verifications = [httpx.AsyncClient(base_url=f"http://127.0.0.1:{p}") for p in ports["verification"]]
        submitter = bearer(make_token("reports:submit reports:read"))
        total = 24
        report_ids = []
        for i in range(total):
            body = report_body()
            body["reporter"]["id_number"] = resident_id(seq=i)
            body["subject"]["name"] = f"官员{i}"
            r = await intakes[i % 2].post("/v1/reports", json=body, headers=submitter, timeout=10)
            assert r.status_code == 201, r.text
            report_ids.append(r.json()["id"])

        async def cases_opened():
            async with sessions["verification"]() as s:
                return await s.scalar(select(func.count()).select_from(Case)) == total

        await eventually(cases_opened, timeout_s=60, what="a case for every report")
        investigator, approver = officer_headers.investigator, officer_headers.approver
        corrector = officer_headers.corrector
        corrected = set(report_ids[::4])
        for i, report_id in enumerate(report_ids):
            officers = Officers(verifications[i % 2], investigator, approver)
            case = (await officers.client.get("/v1/cases", params={"report_id": report_id},
                                              headers=investigator)).json()["items"][0]
            await officers.drive(case, "untrue")
            if report_id in corrected:
                # Same report, second verdict: it must land after the first everywhere.
                successor = await Officers(verifications[(i + 1) % 2], investigator, approver, corrector
                                           ).correct(case["id"])
                await officers.find(successor, "substantiated")
                assert (await officers.conclude(successor["id"])).json()["verdict"] == "true"

        expected_events = total + len(corrected)

        async def clarifications_settled():
            async with sessions["clarification"]() as s:
                rows = (await s.execute(select(Clarification.report_id, Clarification.outcome))).all()
            settled = {r: o for r, o in rows}
            return len(rows) == total and all(
                (settled[r] == "cancelled") == (r in corrected) for r in report_ids) and rows

        rows = await eventually(clarifications_settled, timeout_s=60, what="clarifications in step with verdicts")
        assert len({r for r, _ in rows}) == total  # one clarification per report, none doubled

        messages = await read_topic(broker, "reports.verified", expect=expected_events)
        assert len({dict(m.headers)["ce_id"] for m in messages}) == expected_events  # duplicates only as re-sends
        versions: dict[str, list[int]] = {}
        for m in sorted(messages, key=lambda m: (m.partition, m.offset)):
            versions.setdefault(m.key.decode(), []).append(json.loads(m.value)["version"])
        unique_in_order = {k: list(dict.fromkeys(v)) for k, v in versions.items()}
        assert all(v == sorted(v) for v in unique_in_order.values()), unique_in_order  # per-report order
        assert sum(len(v) for v in unique_in_order.values()) == expected_events

        for service, subscriber, expected in (("verification", "verification", total),
                                              ("clarification", "clarification", expected_events),
                                              ("intake", "intake", expected_events)):
            async with sessions[service]() as s:
                marks = await s.scalar(select(func.count()).select_from(InboxMark)
                                       .where(InboxMark.subscriber == subscriber))
            assert marks == expected, service  # each event applied once, by one of the two consumers

        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['intake'][0]}") as c:
            outcomes = [(await c.get(f"/v1/reports/{r}", headers=submitter)).json()["outcome"] for r in report_ids]
        assert outcomes == ["true" if r in corrected else "untrue" for r in report_ids]
        for client in intakes + verifications:
            await client.aclose()
    finally:
        for _, p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for _, p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
