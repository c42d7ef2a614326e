"""The security review's attack, on the real broker: anyone who can reach it publishes a verdict.

Forged `report.verified.v1` events for a fresh report whose case is still open -- the hand-written
malicious verdict with no approver and no signature, a genuine verdict replayed with this report's
id in its data, verification's type signed with intake's key, one signed by a key nobody trusts --
change nothing in any of the three services that consume verdicts: no identity is fetched, no entry
or clarification is made, the receipt stays as it was. Each lands on the dead-letter topic with its
reason and is counted; the genuine path goes on working for this report and for others."""

import json

import httpx
from sqlalchemy import func, select

from services.clarification.models import Clarification
from services.credit_blacklist.app import create_app as create_blacklist_app
from services.credit_blacklist.models import Entry, ReportVerdict
from shared.events import ReportVerifiedV1, encode
from shared.models import AuditRecord, DeadLetter
from tests.conftest import bearer, build_app, eventually, serve
from tests.factories import report_body, resident_id
from tests.kafka_helpers import produce_raw, read_topic
from tests.keys import SERVICE_KEYS, STRANGER
from tests.verification.driver import Officers

SUBSCRIBERS = ("intake", "clarification", "credit_blacklist")


async def test_forged_verdicts_on_the_broker_change_nothing_and_genuine_ones_still_flow(officer_headers,
        new_database, broker, settings_for, make_token, sessions_for):
    urls = {s: await new_database(s) for s in ("intake", "verification", "clarification", "credit_blacklist")}

    def settings(service, **kw):
        return settings_for(service, urls[service], bootstrap=broker, workers=True, **kw)

    intake_app = build_app("intake", settings("intake", receipt_lookups_per_minute=1000))
    verification_app = build_app("verification", settings("verification"))
    clarification_app = build_app("clarification", settings("clarification"))
    blacklist_app = create_blacklist_app(settings("credit_blacklist", run_sweep=False),
                                         intake_transport=httpx.ASGITransport(app=intake_app))
    sessions = {s: sessions_for(url) for s, url in urls.items()}

    async def count(service, model, *where):
        async with sessions[service]() as s:
            return await s.scalar(select(func.count()).select_from(model).where(*where))

    submitter = bearer(make_token("reports:submit reports:read"))
    async with serve(intake_app) as intake, serve(verification_app) as verification, \
            serve(clarification_app), serve(blacklist_app) as blacklist:
        officers = Officers(verification, officer_headers.investigator, officer_headers.approver)

        async def submit(i):
            body = report_body()
            body["reporter"]["id_number"] = resident_id(seq=i)
            body["allegations"][0]["summary"] = f"第{i}号线索：在土地出让过程中收受开发商礼金。"
            r = await intake.post("/v1/reports", json=body, headers=submitter)
            assert r.status_code == 201, r.text
            return r.json()

        async def case_of(report_id):
            async def found():
                items = (await verification.get("/v1/cases", params={"report_id": report_id},
                                                headers=officers.investigator)).json()["items"]
                return items[0] if items else None
            return await eventually(found, what=f"the case of {report_id}")

        # Another report takes the genuine malicious path first: its verdict is the one replayed below.
        other = await submit(1)
        await officers.drive(await case_of(other["id"]), "malicious_approved")
        await eventually(lambda: count("credit_blacklist", Entry), timeout_s=60, what="the genuine listing")
        [genuine] = [m for m in await read_topic(broker, "reports.verified", expect=1)
                     if m.key.decode() == other["id"]]

        victim = await submit(2)
        victim_id = victim["id"]
        victim_case = await case_of(victim_id)
        assert victim_case["status"] == "open"

        # 1. The review's forgery: hand-written, malicious, approver null, unsigned.
        forged = ReportVerifiedV1(report_id=victim_id, case_id=victim_case["id"], verdict_id=victim_case["id"],
                                  verdict="malicious", malice_kind="false_accusation", severity="serious",
                                  approver=None, region_code="330502", anonymous=False,
                                  reporter_blind_index="ab" * 32, concluded_at=victim_case["opened_at"])
        _, unsigned = encode(forged, key=victim_id, source="/zhengming/verification")
        # 2. The genuine verdict of the other report, replayed with the victim's id in its data.
        replayed = genuine.value.replace(other["id"].encode(), victim_id.encode())
        replayed_headers = [(k, v.replace(other["id"].encode(), victim_id.encode())) for k, v in genuine.headers]
        # 3. Verification's type, signed with intake's key (as intake, and claiming to be verification).
        approved = forged.model_copy(update={"approver": "dir-1", "approver_org_level": "municipal"})
        _, as_intake = encode(approved, key=victim_id, source="/zhengming/intake", signer=SERVICE_KEYS["intake"])
        _, posing = encode(approved, key=victim_id, source="/zhengming/verification", signer=STRANGER)
        attacks = [
            (unsigned.headers, unsigned.value, "signature_invalid"),
            (dict((k, v.decode()) for k, v in replayed_headers), replayed, "signature_invalid"),
            (as_intake.headers, as_intake.value, "type_not_allowed"),
            (posing.headers, posing.value, "signature_invalid"),
        ]
        for headers, value, _ in attacks:
            await produce_raw(broker, "reports.verified", key=victim_id.encode(), value=value,
                              headers=[(k, v.encode()) for k, v in headers.items()])

        async def all_dead_lettered():
            counts = [await count(s, DeadLetter) for s in SUBSCRIBERS]
            return all(n == len(attacks) for n in counts)

        await eventually(all_dead_lettered, timeout_s=60, what="every forged event dead-lettered by every consumer")

        # Nothing changed for the victim anywhere.
        receipt = (await intake.get(f"/v1/receipts/{victim['receipt_code']}")).json()
        assert receipt["status"] == "received" and receipt["outcome"] is None
        assert await count("credit_blacklist", Entry, Entry.report_id == victim_id) == 0
        assert await count("credit_blacklist", ReportVerdict, ReportVerdict.report_id == victim_id) == 0
        assert await count("clarification", Clarification, Clarification.report_id == victim_id) == 0
        assert await count("intake", AuditRecord, AuditRecord.object_id == victim_id) == 0  # no identity released
        assert (await officers.case(victim_case["id"]))["status"] == "open"
        for service in SUBSCRIBERS:
            async with sessions[service]() as s:
                reasons = sorted(d.reason for d in await s.scalars(select(DeadLetter)))
            assert reasons == sorted(reason for *_, reason in attacks), service
        letters = await read_topic(broker, "reports.verified.DLT", expect=len(attacks) * len(SUBSCRIBERS))
        assert len(letters) == len(attacks) * len(SUBSCRIBERS)
        assert {dict(m.headers)["dlt_reason"].decode() for m in letters} == {"signature_invalid", "type_not_allowed"}
        metrics = (await blacklist.get("/metrics")).text
        assert 'zm_events_rejected_total{reason="signature_invalid",service="credit_blacklist",' \
               'topic="reports.verified"} 3.0' in metrics

        # The genuine path still works, for the victim's report too: its real verdict arrives and applies.
        await officers.drive(victim_case, "untrue")

        async def concluded():
            r = (await intake.get(f"/v1/receipts/{victim['receipt_code']}")).json()
            return r["outcome"] == "untrue"

        await eventually(concluded, what="the genuine verdict on the receipt")
        await eventually(lambda: count("clarification", Clarification, Clarification.report_id == victim_id),
                         what="the genuine clarification")
        assert await count("credit_blacklist", Entry, Entry.report_id == victim_id) == 0
        releases = await count("intake", AuditRecord, AuditRecord.action == "reporter.identity_released")
        assert releases == 1  # the other report's genuine listing, and nothing else
    assert json.loads(genuine.value)["approver"] == "dir-1"
