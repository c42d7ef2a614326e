"""End to end: a report submitted over HTTP becomes a verification case through the real broker."""

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import func, select

from services.verification.models import Case
from shared.broker import die_with_parent, free_port
from shared.models import InboxMark
from tests.conftest import bearer, build_app, eventually, serve
from tests.factories import report_body, resident_id

SCOPES = "reports:submit reports:read verification:read"


async def test_report_reaches_verification_in_process(new_database, broker, settings_for, make_token):
    intake_app = build_app("intake", settings_for("intake", await new_database("intake"), bootstrap=broker,
                                                  workers=True))
    verification_app = build_app("verification", settings_for(
        "verification", await new_database("verification"), bootstrap=broker, workers=True))
    headers = bearer(make_token(SCOPES))
    async with serve(intake_app) as intake, serve(verification_app) as verification:
        created = await intake.post("/v1/reports", json=report_body(), headers=headers)
        assert created.status_code == 201
        report_id = created.json()["id"]

        async def case():
            r = await verification.get("/v1/cases", params={"report_id": report_id}, headers=headers)
            return r.json()["items"]

        items = await eventually(case, what="the verification case")
        assert len(items) == 1 and items[0]["status"] == "open"
        assert items[0]["subject_name"] == "王建国" and items[0]["anonymous"] is False
        ready = await verification.get("/readyz")
        assert ready.status_code == 200, ready.text


def spawn(service: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "services.cli", "run", service], env=env,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent)


async def wait_ready(port: int, proc: subprocess.Popen, log: Path) -> None:
    async def ready():
        assert proc.poll() is None, log.read_text()[-3000:]
        try:
            async with httpx.AsyncClient() as c:
                return (await c.get(f"http://127.0.0.1:{port}/readyz", timeout=1)).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(ready, timeout_s=60, interval_s=0.2, what=f"service on {port} ready")


async def test_kill_9_of_verification_while_reports_flow_leaves_one_case_per_report(
    new_database, broker, data_dir, make_token, tmp_path, sessions_for
):
    urls = {s: await new_database(s) for s in ("intake", "verification")}
    ports = {"intake": free_port(), "verification": free_port()}
    env = {**os.environ, "ZM_ENVIRONMENT": "test", "ZM_DATA_DIR": str(data_dir), "ZM_KAFKA_BOOTSTRAP": broker,
           "ZM_LOG_LEVEL": "WARNING"}
    for s in urls:
        env[f"ZM_{s.upper()}_DATABASE_URL"] = urls[s]
        env[f"ZM_{s.upper()}_PORT"] = str(ports[s])
    logs = {s: tmp_path / f"{s}.log" for s in urls}
    procs = {s: spawn(s, env, logs[s]) for s in urls}
    sessions = sessions_for(urls["verification"])

    async def case_count():
        async with sessions() as s:
            return await s.scalar(select(func.count()).select_from(Case))

    try:
        for s in urls:
            await wait_ready(ports[s], procs[s], logs[s])
        headers = bearer(make_token(SCOPES))
        total = 60
        submitted: list[str] = []

        async def submit(numbers):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['intake']}", headers=headers) as c:
                for i in numbers:
                    body = report_body()
                    body["reporter"]["id_number"] = resident_id(seq=i % 1000)
                    r = await c.post("/v1/reports", json=body, timeout=10)
                    assert r.status_code == 201, r.text
                    submitted.append(r.json()["id"])
                    await asyncio.sleep(0.02)  # a steady stream, not one burst

        # The first few go through before the kill; the rest are still being submitted when it lands.
        await submit(range(10))
        await eventually(lambda: _at_least(case_count, 5), what="first cases")
        producer = asyncio.create_task(submit(range(10, total)))
        procs["verification"].send_signal(signal.SIGKILL)
        procs["verification"].wait()
        killed_at = await case_count()
        procs["verification"] = spawn("verification", env, logs["verification"])
        await producer
        await eventually(lambda: _at_least(case_count, total), timeout_s=60, what="every report's case")

        async with sessions() as s:
            report_ids = (await s.scalars(select(Case.report_id))).all()
            inbox = await s.scalar(select(func.count()).select_from(InboxMark))
        assert killed_at < total, "the kill should land while reports are still flowing"
        assert sorted(report_ids) == sorted(submitted)
        assert inbox == total
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


async def _at_least(count, n):
    return (await count()) >= n
