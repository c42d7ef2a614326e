"""The audit chain anchored outside its database, end to end on the real broker: intake publishes its
chain's head on a schedule and with every identity release, verification keeps it, and intake's
`/v1/audit/verify` asks verification for it -- so deleting the release record from intake's own
database is named as a cut-off tail. An auditor finds the release with its actor and reason."""

import httpx
from sqlalchemy import delete, func, select

from shared.models import AuditAnchor, AuditRecord
from tests.conftest import bearer, build_app, eventually, serve
from tests.factories import report_body

REASON = "核查中需当面向举报人核实所反映土地出让问题的具体细节和证据来源。"


async def test_an_identity_release_is_anchored_elsewhere_and_cutting_it_off_is_named(
        new_database, broker, settings_for, make_token, sessions_for):
    intake_url, verification_url = await new_database("intake"), await new_database("verification")
    intake_app = build_app("intake", settings_for("intake", intake_url, bootstrap=broker, workers=True,
                                                  audit_anchor_interval_s=0.2,
                                                  audit_peers="verification=http://verification"))
    verification_app = build_app("verification", settings_for("verification", verification_url, bootstrap=broker,
                                                              workers=True))
    kept = sessions_for(verification_url)

    async def held_by_verification():
        async with kept() as s:
            return await s.scalar(select(func.max(AuditAnchor.seq)).where(AuditAnchor.service == "intake"))

    officer = bearer(make_token("reports:submit reports:identity", sub="inv-wang", region="3305"))
    custodian = bearer(make_token("identity:custody", sub="cus-zhao", region="3305", org_level="municipal"))
    auditor = bearer(make_token("audit:read", sub="aud-zhou", region="33"))
    async with serve(intake_app) as intake, serve(verification_app):
        intake_app.runtime.peer_transports["verification"] = httpx.ASGITransport(app=verification_app)
        report_id = (await intake.post("/v1/reports", json=report_body(), headers=officer)).json()["id"]
        asked = (await intake.post(f"/v1/reports/{report_id}/identity-requests", json={"reason": REASON},
                                   headers=officer)).json()
        # The schedule anchors the request's record before anything else happens.
        assert await eventually(held_by_verification, what="the scheduled anchor") == 1
        await intake.post(f"/v1/identity-requests/{asked['id']}/decision", headers=custodian,
                          json={"decision": "approved", "reason": "核查确需当面核实，范围限于本案，同意一次性查阅。"})
        r = await intake.get(f"/v1/reports/{report_id}/reporter", params={"request_id": asked["id"]}, headers=officer)
        assert r.status_code == 200

        async def release_anchored():
            return await held_by_verification() == 3

        await eventually(release_anchored, what="the release's anchor at verification")
        verified = (await intake.get("/v1/audit/verify", headers=auditor)).json()
        assert verified["valid"] is True and verified["last_seq"] == 3
        [held] = verified["anchors"]
        assert (held["held_by"], held["newest_seq"], held["status"]) == ("verification", 3, "ok")
        assert verified["anchor_sources"] == {"verification": "ok"} and verified["truncation_checked"] is True

        releases = (await intake.get("/v1/audit/records", params={"action": "reporter.identity_released"},
                                     headers=auditor)).json()["items"]
        assert [(r["actor"], r["object_id"], r["reason"]) for r in releases] == [("inv-wang", report_id, REASON)]
        assert releases[0]["at"].endswith("+08:00")

        async with sessions_for(intake_url)() as s, s.begin():
            await s.execute(delete(AuditRecord).where(AuditRecord.seq == 3))
        cut = (await intake.get("/v1/audit/verify", headers=auditor)).json()
        assert cut["valid"] is False and cut["first_broken_seq"] == 3
        assert cut["problem"] == "truncated: the chain ends at 2, verification holds an anchor at 3"
