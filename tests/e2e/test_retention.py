"""Retention end to end (#20, item 4), on the real broker and over real HTTP: three reports go through
intake, verification and credit_blacklist -- one found untrue with a photo and a conversation, one found
malicious and listed, one found untrue whose correction is then requested. With the development clock
moved past the retention period, `zhengming purge --dry-run` (a process of its own, asking verification
and credit_blacklist over TCP with intake's signed credential) lists what it would purge and what is held
and why, and changes nothing; `zhengming purge` then removes the identity, the file and the message texts
of the untrue report only, shows its progress, audits it once, and leaves its receipt answering and its
hashes listed, while the listed reporter and the report under correction keep everything."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import uvicorn
from sqlalchemy import func, select

from services.credit_blacklist.app import create_app as create_blacklist_app
from services.credit_blacklist.models import ReportVerdict
from services.intake.models import Attachment, AttachmentChunk, Message, Report
from shared import clock
from shared.broker import free_port
from shared.models import AuditRecord
from tests.conftest import bearer, build_app, eventually, serve
from tests.factories import report_body, resident_id
from tests.intake.evidence_files import jpeg_with_gps
from tests.verification.driver import Officers

PUBLIC = {"Authorization": ""}
QUESTION = "请问您所反映的礼金交付时，在场的两人是否愿意配合核实？"
ANSWER = "在场两人均愿意配合，其中一人是该酒店的值班经理，可以提供当晚的监控录像。"
IDENTITY = ("李秀英", "13800138000", "某街道1号")


@contextlib.asynccontextmanager
async def on_a_port(app) -> AsyncIterator[str]:
    """An app already started (its lifespan running) served by uvicorn on a TCP port of this machine too."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", log_config=None,
                                          access_log=False))
    serving = asyncio.create_task(server.serve())

    async def started() -> bool:
        assert not serving.done(), "uvicorn stopped"
        return server.started

    await eventually(started, timeout_s=30, what="uvicorn started")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


def zhengming(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True,
                          timeout=180)


async def test_zhengming_purge_removes_only_what_nothing_depends_on_after_the_period(
        officer_headers, new_database, broker, settings_for, make_token, sessions_for, data_dir):
    urls = {s: await new_database(s) for s in ("intake", "verification", "credit_blacklist")}
    sessions = {s: sessions_for(url) for s, url in urls.items()}

    def settings(service, **kw):
        return settings_for(service, urls[service], bootstrap=broker, workers=True, dev_clock=True, **kw)

    intake_app = build_app("intake", settings("intake", run_retention=False, receipt_lookups_per_minute=1000))
    verification_app = build_app("verification", settings("verification"))
    # A listing of 24 months still stands a year later, when the reports' retention period has ended.
    blacklist_app = create_blacklist_app(settings("credit_blacklist", run_sweep=False,
                                                  ordinary_period_months=(12, 24, 36)),
                                         intake_transport=httpx.ASGITransport(app=intake_app))
    submitter = bearer(make_token("reports:submit"))
    officer = bearer(make_token("reports:read reports:message reports:identity", sub="inv-wang", region="3305",
                                org_level="county"))
    custodian = bearer(make_token("identity:custody", sub="cus-zhao", region="3305", org_level="municipal"))
    try:
        async with serve(intake_app) as intake, serve(verification_app) as verification, \
                serve(blacklist_app), on_a_port(verification_app) as verification_url, \
                on_a_port(blacklist_app) as blacklist_url:
            officers = Officers(verification, officer_headers.investigator, officer_headers.approver,
                                officer_headers.corrector)
            reports = {}
            for seq, name in enumerate(("untrue", "listed", "corrected"), 1):
                body = report_body()
                body["reporter"]["id_number"] = resident_id(seq=seq)
                body["allegations"][0]["summary"] = f"第{seq}号线索：在土地出让过程中收受开发商礼金十万元。"
                r = await intake.post("/v1/reports", json=body, headers=submitter)
                assert r.status_code == 201, r.text
                reports[name] = r.json()
            code = reports["untrue"]["receipt_code"]
            r = await intake.post(f"/v1/receipts/{code}/attachments", headers=PUBLIC,
                                  files={"file": ("现场照片.jpg", jpeg_with_gps(), "image/jpeg")})
            assert r.status_code == 201, r.text
            photo_sha256 = r.json()["sha256"]
            asked = await intake.post(f"/v1/reports/{reports['untrue']['id']}/messages", headers=officer,
                                      json={"text": QUESTION, "kind": "question"})
            r = await intake.post(f"/v1/receipts/{code}/messages", headers=PUBLIC,
                                  json={"text": ANSWER, "in_reply_to": asked.json()["id"]})
            assert r.status_code == 201, r.text

            async def case_of(report_id):
                async def found():
                    items = (await verification.get("/v1/cases", params={"report_id": report_id},
                                                    headers=officers.investigator)).json()["items"]
                    return items[0] if items else None
                return await eventually(found, timeout_s=60, what=f"the case of {report_id}")

            await officers.drive(await case_of(reports["untrue"]["id"]), "untrue")
            await officers.drive(await case_of(reports["listed"]["id"]), "malicious_approved")
            corrected_case = await case_of(reports["corrected"]["id"])
            await officers.drive(corrected_case, "untrue")
            assert (await officers.request_correction(corrected_case["id"])).status_code == 202

            async def applied_everywhere():
                async with sessions["credit_blacklist"]() as s:
                    seen = await s.scalar(select(func.count()).select_from(ReportVerdict))
                async with sessions["intake"]() as s:
                    concluded = await s.scalar(select(func.count()).where(Report.status == "concluded"))
                return seen == 3 and concluded == 3

            await eventually(applied_everywhere, timeout_s=60, what="the verdicts at intake and credit_blacklist")

            clock.write_offset(data_dir, timedelta(days=400))
            clock.use(data_dir)  # the apps here reread it at once; the command reads it when it starts
            env = {**os.environ, "ZM_ENVIRONMENT": "test", "ZM_DATA_DIR": str(data_dir), "ZM_LANGUAGE": "en",
                   "ZM_LOG_LEVEL": "WARNING", "ZM_DEV_CLOCK": "true", "ZM_INTAKE_DATABASE_URL": urls["intake"],
                   "ZM_INTAKE_RETENTION_YEARS": "1",
                   "ZM_INTAKE_AUDIT_PEERS": f"verification={verification_url},credit_blacklist={blacklist_url}"}

            async def stored():
                async with sessions["intake"]() as s:
                    return {
                        "reports": sorted(tuple(r) for r in await s.execute(select(
                            Report.id, Report.reporter_name_enc, Report.reporter_id_number_enc,
                            Report.reporter_blind_index, Report.personal_data_purged_at))),
                        "keys": sorted(tuple(r) for r in await s.execute(
                            select(Attachment.id, Attachment.data_key_enc))),
                        "pieces": await s.scalar(select(func.count()).select_from(AttachmentChunk)),
                        "texts": sorted(tuple(r) for r in await s.execute(select(Message.id, Message.body_enc))),
                        "audit": await s.scalar(select(func.count()).select_from(AuditRecord)),
                    }

            before = await stored()
            dry = await asyncio.to_thread(zhengming, "purge", "--dry-run", "--json", env=env)
            assert dry.returncode == 0, dry.stderr
            listed = {line["report_id"]: line for line in map(json.loads, dry.stdout.splitlines())}
            assert {r: listed[reports[r]["id"]]["outcome"] for r in reports} == {
                "untrue": "would_purge", "listed": "held", "corrected": "held"}
            assert listed[reports["untrue"]["id"]]["removed"]["identity_fields"] == [
                "name", "id_number", "phone", "address"]
            assert (listed[reports["untrue"]["id"]]["removed"]["attachments"],
                    listed[reports["untrue"]["id"]]["removed"]["messages"]) == (1, 2)
            assert [(h["service"], h["reason"], h["status"]) for h in listed[reports["listed"]["id"]]["holds"]] == [
                ("credit_blacklist", "entry_live", "active")]
            assert [(h["service"], h["reason"]) for h in listed[reports["corrected"]["id"]]["holds"]] == [
                ("verification", "correction_pending")]
            assert await stored() == before  # a dry run changes nothing

            done = await asyncio.to_thread(zhengming, "purge", env=env)
            assert done.returncode == 0, done.stderr
            lines = done.stdout.splitlines()
            assert lines[0].startswith("3 report(s) concluded on or before") and "+08:00" in lines[0]
            assert sorted(line.split()[0] for line in lines[1:4]) == ["[1/3]", "[2/3]", "[3/3]"]
            assert f"{reports['untrue']['id']} purged: 4 identity field(s), 1 file(s), 2 message text(s)" in done.stdout
            assert f"{reports['listed']['id']} held: credit_blacklist entry_live" in done.stdout
            assert f"{reports['corrected']['id']} held: verification correction_pending" in done.stdout
            assert lines[-1] == "1 purged, 0 would be purged, 2 held, 0 skipped"

            async with sessions["intake"]() as s:
                rows = {r.id: r for r in await s.scalars(select(Report))}
                photo = await s.scalar(select(Attachment))
                pieces = await s.scalar(select(func.count()).select_from(AttachmentChunk))
                texts = [m.body_enc for m in await s.scalars(select(Message))]
                audits = list(await s.scalars(select(AuditRecord).where(
                    AuditRecord.action == "report.personal_data_purged")))
            purged = rows[reports["untrue"]["id"]]
            assert (purged.reporter_name_enc, purged.reporter_id_number_enc, purged.reporter_phone_enc,
                    purged.reporter_address_enc, purged.reporter_blind_index) == (None,) * 5
            assert purged.personal_data_purged_at is not None and purged.outcome == "untrue"
            assert photo.data_key_enc is None and pieces == 0 and texts == [None, None]
            assert photo.received_sha256 == photo_sha256
            for kept in ("listed", "corrected"):
                assert rows[reports[kept]["id"]].reporter_id_number_enc is not None
                assert rows[reports[kept]["id"]].personal_data_purged_at is None
            assert [(a.object_id, a.actor) for a in audits] == [(purged.id, f"cli:{getpass.getuser()}")]

            r = await intake.get(f"/v1/receipts/{code}", headers=PUBLIC)
            assert (r.json()["status"], r.json()["outcome"]) == ("concluded", "untrue")
            r = await intake.get(f"/v1/reports/{purged.id}/attachments", headers=officer)
            assert [item["received_sha256"] for item in r.json()["items"]] == [photo_sha256]
            filed = (await intake.post(f"/v1/reports/{purged.id}/identity-requests", headers=officer,
                                       json={"reason": "复查需要当面向举报人核实所反映问题的证据来源和细节。"})).json()
            await intake.post(f"/v1/identity-requests/{filed['id']}/decision", headers=custodian,
                              json={"decision": "approved", "reason": "确有必要，范围限于本案，同意一次性查阅。"})
            r = await intake.get(f"/v1/reports/{purged.id}/reporter", params={"request_id": filed["id"]},
                                 headers=officer)
            assert r.status_code == 403 and r.json()["rule"] == "identity_purged"
            assert not [word for word in IDENTITY if word in dry.stdout + done.stdout + done.stderr + r.text]
    finally:
        clock.write_offset(data_dir, timedelta(0))
        clock.use(None)
