"""Retention (#20, item 4) on a real database: with the development clock past the retention period, a
concluded report's reporter identity, evidence files and message texts are purged -- by the sweeper, in one
transaction per report, audited once -- while its facts and hashes stay, its receipt still answers and the
identity route says why there is nothing to release. Reports something still depends on are kept: an
active blacklist entry, a pending correction, an open identity-access request; so is every report while
verification or credit_blacklist does not answer. A dry run changes nothing. Content that arrives after a
purge waits its own period. The holds endpoints answer intake's service credential only.

Intake, verification and credit_blacklist run in process and talk over HTTP (ASGI transports): intake asks
the other two for holds, credit_blacklist asks intake for the identity. Events go from each outbox to the
consumers' handlers as the relay and the consumers would carry them (the broker's part is the end-to-end
test's, tests/e2e/test_retention.py)."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.credit_blacklist.app import create_app as create_blacklist_app
from services.intake import retention
from services.intake.models import Allegation, Attachment, AttachmentChunk, IdentityAccessRequest, Message, Report
from services.registry import SERVICES
from shared import clock
from shared.events import decode
from shared.holds import PATH
from shared.migrate import upgrade
from shared.models import AuditRecord, OutboxMessage
from tests.conftest import bearer, build_app, eventually, serve
from tests.factories import report_body, resident_id
from tests.intake.evidence_files import jpeg_with_gps
from tests.keys import SERVICE_KEYS
from tests.verification.driver import Officers

PUBLIC = {"Authorization": ""}
QUESTION = "请问您所反映的礼金交付时，在场的两人是否愿意配合核实？"
ANSWER = "在场两人均愿意配合，其中一人是该酒店的值班经理，可以提供当晚的监控录像。"
IDENTITY_REASON = "核查中需当面向举报人核实所反映土地出让问题的具体细节和证据来源。"
APPROVAL_REASON = "核查确需当面核实，范围限于本案，同意一次性查阅。"
# One year of retention keeps the clock's moves short; a listing of 24 months then still stands after it.
YEARS = 1
PAST_THE_PERIOD = timedelta(days=400)


@dataclass
class World:
    intake: httpx.AsyncClient
    verification: httpx.AsyncClient
    blacklist: httpx.AsyncClient
    apps: dict[str, Any]
    sessions: dict[str, Any]
    officers: Officers
    submitter: dict[str, str]
    reader: dict[str, str]
    custodian: dict[str, str]
    blacklist_reader: dict[str, str]
    seq: int = 0

    async def deliver(self, source: str, topic: str, *targets: str) -> None:
        """What the relay and the consumers would do: every event `source` wrote on `topic`, decoded and checked
        against each target's trust and applied by its consumer of the topic (applying one again changes
        nothing: each handler keeps the newest version)."""
        async with self.sessions[source]() as s:
            rows = list(await s.scalars(select(OutboxMessage).where(OutboxMessage.topic == topic)
                                        .order_by(OutboxMessage.id)))
        for name in targets:
            app = self.apps[name]
            [spec] = [c for c in SERVICES[name].consumers(app.runtime, app.resources) if c.topic == topic]
            for row in rows:
                event = decode([(k, v.encode()) for k, v in row.headers.items()], row.message_key.encode(),
                               row.payload, trust=app.runtime.trust)
                async with app.runtime.uow() as uow:
                    await spec.handler(event, uow)
                    await uow.commit()

    async def report(self, path: str, *, evidence: bool = False, anonymous: bool = False) -> dict[str, Any]:
        """A report submitted at intake (with a photo and a question answered, if `evidence`), its case taken
        down `path` at verification, and the verdict applied at intake and credit_blacklist."""
        self.seq += 1
        body = report_body(anonymous=anonymous)
        if not anonymous:
            body["reporter"]["id_number"] = resident_id(seq=self.seq)
        body["allegations"][0]["summary"] = f"第{self.seq}号线索：在土地出让过程中收受开发商礼金十万元。"
        r = await self.intake.post("/v1/reports", json=body, headers=self.submitter)
        assert r.status_code == 201, r.text
        report = r.json()
        if evidence:
            code = report["receipt_code"]
            r = await self.intake.post(f"/v1/receipts/{code}/attachments", headers=PUBLIC,
                                       files={"file": ("现场照片.jpg", jpeg_with_gps(), "image/jpeg")})
            assert r.status_code == 201, r.text
            report["photo_sha256"] = r.json()["sha256"]
            r = await self.intake.post(f"/v1/reports/{report['id']}/messages", headers=self.reader,
                                       json={"text": QUESTION, "kind": "question"})
            assert r.status_code == 201, r.text
            r = await self.intake.post(f"/v1/receipts/{code}/messages", headers=PUBLIC,
                                       json={"text": ANSWER, "in_reply_to": r.json()["id"]})
            assert r.status_code == 201, r.text
        await self.deliver("intake", "reports.submitted", "verification")
        r = await self.verification.get("/v1/cases", params={"report_id": report["id"]},
                                        headers=self.officers.investigator)
        [case] = r.json()["items"]
        report["case"] = case
        if path != "open":
            await self.officers.drive(case, path)
            await self.verdicts()
        return report

    async def verdicts(self) -> None:
        await self.deliver("verification", "reports.verified", "intake", "credit_blacklist")

    async def purge(self, **options: Any) -> retention.Round:
        """One round of intake's retention, as the sweeper runs it (every due report unless `limit`)."""
        app = self.apps["intake"]
        rules = retention.Retention(years=YEARS, actor=retention.SWEEPER, store=app.resources.evidence,
                                    uow=app.runtime.uow)
        async with retention.peers_of(app.runtime) as peers:
            return await retention.run_round(rules, peers, limit=options.pop("limit", None), batch=2, **options)

    async def row(self, model: Any, *where: Any) -> Any:
        async with self.sessions["intake"]() as s:
            return list(await s.scalars(select(model).where(*where)))


def move_clock(data_dir, by: timedelta) -> None:
    clock.write_offset(data_dir, by)
    clock.use(data_dir)  # reread at once


@pytest.fixture
async def world(new_database, settings_for, make_token, sessions_for, officer_headers, data_dir):
    """Intake, verification and credit_blacklist following the development clock, wired to each other in
    process; the clock is put back afterwards."""
    urls = {s: await new_database(s) for s in ("intake", "verification", "credit_blacklist")}
    intake_peers: dict[str, httpx.AsyncBaseTransport] = {}
    intake_app = SERVICES["intake"].create_app(settings_for(
        "intake", urls["intake"], dev_clock=True, run_retention=False, retention_years=YEARS,
        receipt_lookups_per_minute=1000, receipt_lookups_per_code_per_minute=1000,
        audit_peers="verification=http://verification,credit_blacklist=http://credit-blacklist"),
        peer_transports=intake_peers)
    verification_app = build_app("verification", settings_for("verification", urls["verification"], dev_clock=True))
    blacklist_app = create_blacklist_app(
        settings_for("credit_blacklist", urls["credit_blacklist"], dev_clock=True, run_sweep=False,
                     ordinary_period_months=(12, 24, 36)),
        intake_transport=httpx.ASGITransport(app=intake_app))
    intake_peers.update(verification=httpx.ASGITransport(app=verification_app),
                        credit_blacklist=httpx.ASGITransport(app=blacklist_app))
    try:
        async with serve(verification_app) as verification, serve(blacklist_app) as blacklist, \
                serve(intake_app) as intake:
            yield World(
                intake=intake, verification=verification, blacklist=blacklist,
                apps={"intake": intake_app, "verification": verification_app, "credit_blacklist": blacklist_app},
                sessions={s: sessions_for(url) for s, url in urls.items()},
                officers=Officers(verification, officer_headers.investigator, officer_headers.approver,
                                  officer_headers.corrector),
                submitter=bearer(make_token("reports:submit")),
                reader=bearer(make_token("reports:read reports:message reports:identity", sub="inv-wang",
                                         region="3305", org_level="county")),
                custodian=bearer(make_token("identity:custody", sub="cus-zhao", region="3305",
                                            org_level="municipal")),
                blacklist_reader=bearer(make_token("blacklist:read", region="33")))
    finally:
        clock.write_offset(data_dir, timedelta(0))
        clock.use(None)


async def purge_audits(world: World) -> list[AuditRecord]:
    async with world.sessions["intake"]() as s:
        return list(await s.scalars(select(AuditRecord).where(AuditRecord.action == retention.ACTION)
                                    .order_by(AuditRecord.seq)))


async def snapshot(world: World) -> dict[str, Any]:
    """Every stored value retention could touch, as the database holds it."""
    async with world.sessions["intake"]() as s:
        return {
            "reports": [tuple(r) for r in await s.execute(select(
                Report.id, Report.reporter_name_enc, Report.reporter_id_number_enc, Report.reporter_phone_enc,
                Report.reporter_address_enc, Report.reporter_blind_index, Report.personal_data_purged_at)
                .order_by(Report.id))],
            "attachments": [tuple(r) for r in await s.execute(select(Attachment.id, Attachment.data_key_enc)
                                                             .order_by(Attachment.id))],
            "chunks": await s.scalar(select(func.count()).select_from(AttachmentChunk)),
            "messages": [tuple(r) for r in await s.execute(select(Message.id, Message.body_enc).order_by(Message.id))],
            "audit": await s.scalar(select(func.count()).select_from(AuditRecord)),
        }


# --- the purge ------------------------------------------------------------------------------------------


async def test_the_sweeper_purges_a_concluded_reports_identity_files_and_messages_and_keeps_its_facts_and_hashes(
        world, data_dir):
    report = await world.report("untrue", evidence=True)
    report_id = report["id"]
    [before] = await world.row(Report, Report.id == report_id)
    [photo] = await world.row(Attachment, Attachment.report_id == report_id)
    assert before.reporter_name_enc and before.reporter_blind_index and photo.data_key_enc
    assert await world.row(AttachmentChunk, AttachmentChunk.attachment_id == photo.id)

    # Within the period the sweeper leaves it alone.
    assert (await world.purge()).examined == []
    move_clock(data_dir, PAST_THE_PERIOD)
    intake_app = world.apps["intake"]
    sweeper = retention.sweepers(intake_app.runtime, intake_app.resources)
    assert [s.name for s in sweeper] == []  # run_retention=False: no sweeper of its own here
    intake_app.runtime.settings.run_retention = True
    intake_app.runtime.settings.retention_interval_s = 0.2
    [sweeper] = retention.sweepers(intake_app.runtime, intake_app.resources)
    # Started as start_workers starts it, and stopped with the app (runtime.stop, then the task is awaited).
    intake_app.runtime.tasks.append(asyncio.create_task(sweeper.run()))

    async def purged():
        [row] = await world.row(Report, Report.id == report_id)
        return row if row.personal_data_purged_at is not None else None

    after = await eventually(purged, what="the sweeper's purge")
    # The identity and its blind index are gone from the row itself ...
    assert (after.reporter_name_enc, after.reporter_id_number_enc, after.reporter_phone_enc,
            after.reporter_address_enc, after.reporter_blind_index) == (None, None, None, None, None)
    # ... the file's pieces and key, and the messages' texts ...
    [kept] = await world.row(Attachment, Attachment.report_id == report_id)
    assert kept.data_key_enc is None
    assert await world.row(AttachmentChunk, AttachmentChunk.attachment_id == photo.id) == []
    messages = await world.row(Message, Message.report_id == report_id)
    assert len(messages) == 2 and all(m.body_enc is None for m in messages)
    # ... while the facts and the hashes stay.
    assert (kept.received_sha256, kept.stored_sha256, kept.received_size, kept.stored_size, kept.media_type) == (
        photo.received_sha256, photo.stored_sha256, photo.received_size, photo.stored_size, "image/jpeg")
    assert kept.received_sha256 == report["photo_sha256"]
    assert [(m.author, m.kind) for m in sorted(messages, key=lambda m: m.posted_at)] == [
        ("officer", "question"), ("reporter", "answer")]
    assert (after.outcome, after.status, after.region_code, after.channel, after.flags, after.received_at,
            after.concluded_at, after.anonymous) == (before.outcome, "concluded", "330502", "online", before.flags,
                                                     before.received_at, before.concluded_at, False)
    assert [a.category for a in await world.row(Allegation, Allegation.report_id == report_id)] == ["bribery"]
    [audit] = await purge_audits(world)
    assert (audit.actor, audit.object_id) == (retention.SWEEPER, report_id)
    assert audit.details["identity_fields"] == ["name", "id_number", "phone", "address"]
    assert (audit.details["attachments"], audit.details["messages"], audit.details["blind_index"]) == (1, 2, True)
    assert audit.details["holds_asked"] == ["verification", "credit_blacklist"]

    # What people notice: the receipt still answers, the file's hash is still listed, the texts are empty, the
    # file and the identity are said to be gone -- never a 500.
    r = await world.intake.get(f"/v1/receipts/{report['receipt_code']}", headers=PUBLIC)
    assert r.status_code == 200 and (r.json()["status"], r.json()["outcome"]) == ("concluded", "untrue")
    listed = (await world.intake.get(f"/v1/reports/{report_id}/attachments", headers=world.reader)).json()
    assert [item["received_sha256"] for item in listed["items"]] == [report["photo_sha256"]]
    r = await world.intake.get(f"/v1/attachments/{photo.id}", headers=world.reader)
    assert r.status_code == 404 and r.json()["code"] == "attachment_not_found" and "deleted" in r.json()["detail"]
    r = await world.intake.get(f"/v1/reports/{report_id}/messages", headers=world.reader)
    assert r.status_code == 200 and [m["text"] for m in r.json()["items"]] == ["", ""]
    asked = (await world.intake.post(f"/v1/reports/{report_id}/identity-requests", headers=world.reader,
                                     json={"reason": IDENTITY_REASON})).json()
    r = await world.intake.post(f"/v1/identity-requests/{asked['id']}/decision", headers=world.custodian,
                                json={"decision": "approved", "reason": APPROVAL_REASON})
    assert r.status_code == 200, r.text
    r = await world.intake.get(f"/v1/reports/{report_id}/reporter", params={"request_id": asked["id"]},
                               headers=world.reader)
    assert r.status_code == 403 and (r.json()["code"], r.json()["rule"]) == ("identity_release_refused",
                                                                            "identity_purged")
    assert "李秀英" not in r.text
    [request] = await world.row(IdentityAccessRequest, IdentityAccessRequest.id == asked["id"])
    assert request.status == "approved"  # not spent on nothing


async def test_reports_an_active_listing_or_a_pending_correction_depends_on_are_kept_and_the_rest_purged(
        world, data_dir):
    listed = await world.report("malicious_approved", evidence=True)
    corrected = await world.report("untrue", evidence=True)
    r = await world.officers.request_correction(corrected["case"]["id"])
    assert r.status_code == 202, r.text
    free = await world.report("untrue", evidence=True)
    move_clock(data_dir, PAST_THE_PERIOD)
    entries = (await world.blacklist.get("/v1/entries", params={"report_id": listed["id"]},
                                         headers=world.blacklist_reader)).json()["items"]
    assert [e["status"] for e in entries] == ["active"]  # the objection window closed; 24 months run

    done = await world.purge()
    outcomes = {e.report_id: e for e in done.examined}
    assert {k: e.outcome for k, e in outcomes.items()} == {
        listed["id"]: "held", corrected["id"]: "held", free["id"]: "purged"}
    assert [(h.service, h.reason, h.object_id, h.status) for h in outcomes[listed["id"]].holds] == [
        ("credit_blacklist", "entry_live", entries[0]["id"], "active")]
    assert [(h.service, h.reason) for h in outcomes[corrected["id"]].holds] == [
        ("verification", "correction_pending")]
    for kept in (listed, corrected):
        [row] = await world.row(Report, Report.id == kept["id"])
        assert row.reporter_name_enc and row.reporter_blind_index and row.personal_data_purged_at is None
        [photo] = await world.row(Attachment, Attachment.report_id == kept["id"])
        assert photo.data_key_enc and await world.row(AttachmentChunk, AttachmentChunk.attachment_id == photo.id)
        assert all(m.body_enc for m in await world.row(Message, Message.report_id == kept["id"]))
    assert [a.object_id for a in await purge_audits(world)] == [free["id"]]

    # The correction is decided; the successor case is open: still held, by the case now.
    pending = (await world.verification.get(f"/v1/cases/{corrected['case']['id']}",
                                            headers=world.officers.investigator)).json()
    correction_id = pending["corrections"][0]["id"]
    assert (await world.officers.decide_correction(correction_id)).status_code == 200
    done = await world.purge()
    [(still, holds)] = [(e.outcome, e.holds) for e in done.examined if e.report_id == corrected["id"]]
    assert still == "held" and [(h.service, h.reason, h.status) for h in holds] == [
        ("verification", "case_open", "investigating")]
    # A second round purges nothing twice: one audit record per purged report.
    assert [a.object_id for a in await purge_audits(world)] == [free["id"]]


async def test_a_service_that_does_not_answer_holds_every_report_until_it_answers(world, data_dir):
    report = await world.report("untrue", evidence=True)
    move_clock(data_dir, PAST_THE_PERIOD)
    runtime = world.apps["intake"].runtime
    answering = runtime.peer_transports["credit_blacklist"]

    def refused(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    runtime.peer_transports["credit_blacklist"] = httpx.MockTransport(refused)
    before = await snapshot(world)
    done = await world.purge()
    [held] = done.examined
    assert held.outcome == "held" and ("credit_blacklist", retention.PEER_UNANSWERED) in [
        (h.service, h.reason) for h in held.holds]
    assert await snapshot(world) == before

    # An answer it cannot take for a holds answer (a 500, a body of another shape) holds as well.
    runtime.peer_transports["credit_blacklist"] = httpx.MockTransport(lambda request: httpx.Response(200, json={}))
    assert [e.outcome for e in (await world.purge()).examined] == ["held"]
    assert await snapshot(world) == before

    runtime.peer_transports["credit_blacklist"] = answering  # back: the next round purges
    assert [e.outcome for e in (await world.purge()).examined] == ["purged"]
    [row] = await world.row(Report, Report.id == report["id"])
    assert row.reporter_id_number_enc is None


class CrashingStore:
    """The real store, but the process dies (an exception, here) once it has deleted a file's pieces."""

    def __init__(self, store: Any) -> None:
        self.store = store

    async def delete(self, uow: Any, attachment_id: str) -> None:
        await self.store.delete(uow, attachment_id)
        raise KeyboardInterrupt("killed mid-purge")


async def test_a_purge_killed_halfway_leaves_the_report_whole_and_the_next_round_finishes_it(world, data_dir):
    report = await world.report("untrue", evidence=True)
    move_clock(data_dir, PAST_THE_PERIOD)
    app = world.apps["intake"]
    before = await snapshot(world)
    crashing = retention.Retention(years=YEARS, actor=retention.SWEEPER, store=CrashingStore(app.resources.evidence),
                                   uow=app.runtime.uow)
    with pytest.raises(KeyboardInterrupt):
        async with retention.peers_of(app.runtime) as peers:
            await retention.run_round(crashing, peers, limit=None, batch=10)
    assert await snapshot(world) == before  # not one piece gone, no text, no audit record
    [done] = (await world.purge()).examined
    assert (done.report_id, done.outcome) == (report["id"], "purged")
    assert len(await purge_audits(world)) == 1


async def test_a_dry_run_lists_what_would_be_purged_and_what_is_held_and_changes_nothing(world, data_dir):
    free = await world.report("untrue", evidence=True)
    listed = await world.report("malicious_approved")
    move_clock(data_dir, PAST_THE_PERIOD)
    before = await snapshot(world)
    done = await world.purge(dry_run=True)
    outcomes = {e.report_id: e for e in done.examined}
    assert outcomes[free["id"]].outcome == "would_purge"
    assert outcomes[free["id"]].removed == retention.Removed(
        identity_fields=("name", "id_number", "phone", "address"), blind_index=True, attachments=1,
        pieces=outcomes[free["id"]].removed.pieces, messages=2)
    assert outcomes[free["id"]].removed.pieces >= 1
    assert outcomes[listed["id"]].outcome == "held"
    assert await snapshot(world) == before  # not a byte, not an audit record


async def test_an_open_identity_access_request_holds_the_purge_until_it_is_used_or_expires(world, data_dir):
    report = await world.report("inconclusive")
    asked = (await world.intake.post(f"/v1/reports/{report['id']}/identity-requests", headers=world.reader,
                                     json={"reason": IDENTITY_REASON})).json()
    move_clock(data_dir, PAST_THE_PERIOD)
    [held] = (await world.purge()).examined
    assert [(h.service, h.reason, h.object_id, h.status) for h in held.holds] == [
        ("intake", retention.IDENTITY_REQUEST_OPEN, asked["id"], "pending")]
    r = await world.intake.post(f"/v1/identity-requests/{asked['id']}/decision", headers=world.custodian,
                                json={"decision": "refused", "reason": APPROVAL_REASON})
    assert r.status_code == 200, r.text
    assert [e.outcome for e in (await world.purge()).examined] == ["purged"]


async def test_content_that_arrives_after_a_purge_waits_its_own_period(world, data_dir):
    report = await world.report("untrue", evidence=True)
    move_clock(data_dir, PAST_THE_PERIOD)
    assert [e.outcome for e in (await world.purge()).examined] == ["purged"]
    late = "补充情况：我又找到了当晚的另一位证人，愿意当面说明。"
    r = await world.intake.post(f"/v1/receipts/{report['receipt_code']}/messages", headers=PUBLIC,
                                json={"text": late})
    assert r.status_code == 201, r.text
    assert (await world.purge()).examined == []  # read it first: it is not a year old
    r = await world.intake.get(f"/v1/reports/{report['id']}/messages", headers=world.reader)
    assert r.json()["items"][-1]["text"] == late
    move_clock(data_dir, PAST_THE_PERIOD * 2)
    [again] = (await world.purge()).examined
    assert again.outcome == "purged" and again.removed == retention.Removed((), False, 0, 0, 1)
    assert all(m.body_enc is None for m in await world.row(Message, Message.report_id == report["id"]))
    assert [a.object_id for a in await purge_audits(world)] == [report["id"], report["id"]]


async def test_a_report_still_open_or_an_anonymous_one_without_files_follows_the_same_rules(world, data_dir):
    still_open = await world.report("open")
    anonymous = await world.report("untrue", anonymous=True)
    move_clock(data_dir, PAST_THE_PERIOD)
    done = await world.purge()
    # Never concluded: never due. Anonymous: nothing of a person, yet marked and audited once.
    assert [(e.report_id, e.outcome) for e in done.examined] == [(anonymous["id"], "purged")]
    [row] = await world.row(Report, Report.id == still_open["id"])
    assert row.reporter_name_enc is not None
    [audit] = await purge_audits(world)
    assert audit.details["identity_fields"] == [] and audit.details["blind_index"] is False


# --- the holds endpoints --------------------------------------------------------------------------------


@pytest.mark.parametrize("service", ["verification", "credit_blacklist"])
async def test_the_holds_endpoints_answer_intakes_service_credential_only(world, service, make_token):
    report = await world.report("malicious_approved")
    client = world.verification if service == "verification" else world.blacklist
    params = {"report_id": report["id"], "verdict_version": 1}
    intake_key, blacklist_key = SERVICE_KEYS["intake"], SERVICE_KEYS["credit_blacklist"]
    r = await client.get(PATH, params=params, headers=bearer(intake_key.credential(audience=service)))
    assert r.status_code == 200, r.text
    assert r.json()["report_id"] == report["id"]
    assert r.json()["held"] is (service == "credit_blacklist")  # the entry is notified; the case is final
    everything = make_token(" ".join(["reports:submit reports:read reports:identity identity:custody",
                                      "verification:read blacklist:read audit:read"]), region="")
    refusals = {
        "no token": ({}, 401),
        "an officer's token with every scope": (bearer(everything), 403),
        "another service's credential": (bearer(blacklist_key.credential(audience=service)), 401),
        "intake's credential for another service": (bearer(intake_key.credential(
            audience="clarification")), 401),
    }
    for why, (headers, status) in refusals.items():
        r = await client.get(PATH, params=params, headers=headers)
        assert r.status_code == status, (why, r.text)
        assert r.headers["content-type"] == "application/problem+json" and report["id"] not in r.text, why


# --- the migration --------------------------------------------------------------------------------------


async def test_upgrading_to_retention_keeps_every_stored_file_piece_and_message(database_at, engine_for):
    """SQLite rebuilds a table to make a column nullable: the pieces that refer to it must survive."""
    url = await database_at("intake", "intake_0006")
    engine = engine_for(url)
    sealed = hashlib.sha256(b"piece").digest() * 4
    async with engine.begin() as conn:
        await conn.exec_driver_sql(
            "INSERT INTO reports (id, channel, subject_name, subject_position, subject_organization, region_code, "
            "status, anonymous, receipt_code_hash, received_at, submitted_by, subject_key, flags, flagged, "
            "linked_report_ids, verdict_version, fault_tolerance_exempted) VALUES ('r-1', 'online', 'a', 'b', "
            "'c', '330502', 'received', false, 'h', '2026-01-01 00:00:00', 's', 'k', '[]', false, '[]', 0, false)")
        await conn.exec_driver_sql(
            "INSERT INTO attachments (id, report_id, region_code, uploaded_via, uploaded_at, media_type, "
            "received_size, received_sha256, stored_size, stored_sha256, metadata_removed, original_kept, "
            "data_key_enc, chunk_count) VALUES ('a-1', 'r-1', '330502', 'officer', '2026-01-01 00:00:00', "
            "'image/jpeg', 5, 'x', 5, 'y', '[]', false, 'wrapped', 1)")
        await conn.exec_driver_sql("INSERT INTO attachment_chunks (attachment_id, part, seq, sealed) "
                                   "VALUES ('a-1', 'kept', 0, %s)" % ("X'" + sealed.hex() + "'" if "sqlite" in url
                                                                      else "'\\x" + sealed.hex() + "'"))
        await conn.exec_driver_sql(
            "INSERT INTO messages (id, report_id, region_code, author, kind, body_enc, posted_at) VALUES "
            "('m-1', 'r-1', '330502', 'reporter', 'supplement', 'ciphertext', '2026-01-01 00:00:00')")
    await engine.dispose()
    await asyncio.to_thread(upgrade, SERVICES["intake"].migrations_dir, url)
    async with engine.connect() as conn:
        assert (await conn.exec_driver_sql("SELECT sealed FROM attachment_chunks")).scalar() == sealed
        assert (await conn.exec_driver_sql("SELECT data_key_enc FROM attachments")).scalar() == "wrapped"
        assert (await conn.exec_driver_sql("SELECT body_enc FROM messages")).scalar() == "ciphertext"
        assert (await conn.exec_driver_sql("SELECT personal_data_purged_at FROM reports")).scalar() is None
