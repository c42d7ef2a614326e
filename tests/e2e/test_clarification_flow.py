"""End to end: a report through intake and verification to a held clarification meeting and its
follow-up, over HTTP, through the real broker."""

from datetime import datetime, timedelta

from services.clarification import records as clarification_service
from shared.calendar import CHINA_TZ
from tests.conftest import bearer, build_app, eventually, serve
from tests.factories import report_body
from tests.kafka_helpers import read_topic
from tests.verification.driver import Officers


async def test_from_submission_to_a_held_meeting_and_follow_up(officer_headers, new_database, broker, settings_for,
                                                               make_token,
                                                               monkeypatch):
    apps = {name: build_app(name, settings_for(name, await new_database(name), bootstrap=broker, workers=True))
            for name in ("intake", "verification", "clarification")}
    async with serve(apps["intake"]) as intake, serve(apps["verification"]) as verification, \
            serve(apps["clarification"]) as clarification:
        clarification.headers.update(bearer(make_token("clarification:read clarification:write", region="3305")))
        report = (await intake.post("/v1/reports", json=report_body(),
                                    headers=bearer(make_token("reports:submit")))).json()
        officers = Officers(verification, officer_headers.investigator, officer_headers.approver)

        async def case():
            items = (await verification.get("/v1/cases", params={"report_id": report["id"]},
                                            headers=officers.investigator)).json()["items"]
            return items[0] if items else None

        await officers.drive(await eventually(case, what="the case"), "untrue")

        async def opened():
            items = (await clarification.get("/v1/clarifications", params={"report_id": report["id"]})).json()
            return items["items"][0] if items["items"] else None

        c = await eventually(opened, what="the clarification")
        assert c["subject_name"] == "王建国" and c["verdict"] == "untrue" and c["status"] == "pending_consent"
        assert [a["summary"] for a in c["refuted_allegations"]] == ["在土地出让过程中收受开发商礼金人民币十万元。"]
        await clarification.post(f"/v1/clarifications/{c['id']}/consent", json={"consent": True})
        await clarification.put(f"/v1/clarifications/{c['id']}/plan", json={"methods": ["meeting"], "scope": "unit"})
        assert (await clarification.put("/v1/venues/wuxing-hall-3", json={
            "region_code": "330502", "name": "吴兴区纪委监委三楼会议室", "address": "浙江省湖州市吴兴区青铜路88号"})
        ).status_code == 201
        slot = (await clarification.get("/v1/venues/wuxing-hall-3/free-slots", params={"duration": 60})).json()
        start = datetime.fromisoformat(slot["slots"][0]["starts_at"])
        meeting = (await clarification.post(f"/v1/clarifications/{c['id']}/meetings", json={
            "starts_at": start.isoformat(), "duration_minutes": 60, "venue_id": "wuxing-hall-3",
            "host_organization": "吴兴区纪委监委", "scope": "unit"})).json()
        assert meeting["status"] == "scheduled"
        monkeypatch.setattr(clarification_service, "utcnow", lambda: start + timedelta(hours=3))
        held = await clarification.post(f"/v1/meetings/{meeting['id']}/record", json={
            "attendance": 52, "minutes_summary": "通报核查结论，为王建国同志澄清正名。", "bulletin_issued": False})
        assert held.json()["status"] == "held"
        await clarification.post(f"/v1/clarifications/{c['id']}/written", json={
            "issued_on": str(start.astimezone(CHINA_TZ).date()), "reference": "吴纪澄〔2026〕1号"})
        closed = (await clarification.post(f"/v1/clarifications/{c['id']}/close")).json()
        assert closed["outcome"] == "completed" and closed["follow_up_due"]
        due = datetime.fromisoformat(closed["follow_up_due"] + "T10:00:00+08:00")
        monkeypatch.setattr(clarification_service, "utcnow", lambda: due)
        done = (await clarification.post(f"/v1/clarifications/{c['id']}/follow-up", json={
            "visited_on": closed["follow_up_due"], "notes": "回访：本人工作积极，单位评价良好。"})).json()
        assert done["follow_up_done_on"] == closed["follow_up_due"]

        published = await read_topic(broker, "clarification.events", expect=4)
        types = [dict(m.headers)["ce_type"].decode() for m in sorted(published, key=lambda m: m.offset)]
        assert types == ["clarification.opened.v1", "clarification.meeting_scheduled.v1",
                         "clarification.meeting_held.v1", "clarification.closed.v1"]
        assert {m.key.decode() for m in published} == {report["id"]}
