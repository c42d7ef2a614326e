"""End to end through the real broker: a report is found malicious with approval, its reporter is
listed `notified` with the identity fetched from intake over HTTP, the notice is published without
identity, and the check answers by the configured rule."""

import json

import httpx
from sqlalchemy import select

from services.credit_blacklist.app import create_app
from shared.models import AuditRecord
from tests.conftest import bearer, build_app, eventually, serve
from tests.credit_blacklist.helpers import age
from tests.factories import NAMED_REPORTER_ID, report_body
from tests.kafka_helpers import read_topic
from tests.verification.driver import Officers


async def test_a_malicious_verdict_lists_the_reporter_and_the_check_follows_the_rule(officer_headers,
    new_database, broker, settings_for, make_token, sessions_for
):
    intake_url = await new_database("intake")
    intake_app = build_app("intake", settings_for("intake", intake_url, bootstrap=broker, workers=True))
    verification_app = build_app("verification", settings_for(
        "verification", await new_database("verification"), bootstrap=broker, workers=True))
    blacklist_url = await new_database("credit_blacklist")
    blacklist_app = create_app(
        settings_for("credit_blacklist", blacklist_url, bootstrap=broker, workers=True, run_sweep=False),
        intake_transport=httpx.ASGITransport(app=intake_app))
    reader = bearer(make_token("blacklist:read", region="33"))
    checker = bearer(make_token("blacklist:check", region="", sub="svc-credit-platform"))
    async with serve(intake_app) as intake, serve(verification_app) as verification, \
            serve(blacklist_app) as blacklist:
        officers = Officers(verification, officer_headers.investigator, officer_headers.approver)
        r = await intake.post("/v1/reports", json=report_body(), headers=bearer(make_token("reports:submit")))
        report_id = r.json()["id"]

        async def case():
            items = (await verification.get("/v1/cases", params={"report_id": report_id},
                                            headers=officers.investigator)).json()["items"]
            return items[0] if items else None

        conclusion = await officers.drive(await eventually(case, what="the case"), "malicious_approved")
        assert conclusion["verdict"] == "malicious"

        async def entry():
            items = (await blacklist.get("/v1/entries", params={"report_id": report_id},
                                         headers=reader)).json()["items"]
            return items[0] if items else None

        listed = await eventually(entry, timeout_s=60, what="the blacklist entry")
        assert listed["status"] == "notified" and listed["name"] == "李秀英"
        assert listed["id_number_masked"] == "110105**********2X" and listed["severity"] == "ordinary"
        assert listed["reason_code"] == "false_accusation" and listed["region_code"] == "330502"

        [message] = await read_topic(broker, "blacklist.events", expect=1)
        notice = json.loads(message.value)
        assert message.key.decode() == report_id
        assert dict(message.headers)["ce_type"] == b"blacklist.entry_notified.v1"
        assert notice["entry_id"] == listed["id"] and notice["objection_deadline"] == listed["objection_deadline"]
        text = message.value.decode()
        assert "李秀英" not in text and NAMED_REPORTER_ID not in text and "13800138000" not in text

        check = {"id_number": NAMED_REPORTER_ID}
        r = await blacklist.post("/v1/checks", json=check, headers=checker)
        assert r.json() == {"listed": False, "status": "not_listed", "listed_until": None}  # notified: not yet
        await age(sessions_for(blacklist_url), listed["id"], 20)  # the objection window passes unused
        r = await blacklist.post("/v1/checks", json=check, headers=checker)
        assert r.json() == {"listed": True, "status": "active",
                            "listed_until": (await entry())["listed_until"]}

    async with sessions_for(intake_url)() as s:
        releases = list(await s.scalars(select(AuditRecord).where(AuditRecord.action == "reporter.identity_released")))
    assert [(a.actor, a.object_id) for a in releases] == [("service:credit_blacklist", report_id)]
