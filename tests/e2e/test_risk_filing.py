"""Risk filing end to end (#21), on the real broker: a township's risky collective-economy reform is filed
before acting, accepted by the county, assessed, filed by a second officer (the accepting officer may not
review it) and answered with feedback. Three months later (the development clock moved) reports through
intake accuse the township's party secretary over that reform: each case shows the filing as a candidate,
the investigator confirms it, the fault-tolerance assessment shows it, and with the five checks holding the
verdict is true and exempted, its rationale naming the filing. Once the outcome says the plan was departed
from, the filing is still shown, the departure named, and the exemption still depends on the checks.
Another region sees neither the filing nor the cases; the figures count the filing and the exemptions
citing it; the filed and closed events are on their topic, signed, and valid against the catalog and the
AsyncAPI document."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from services.verification.domain import DISTINCTIONS, FIVE_CHECKS
from shared import clock
from shared.asyncapi import document
from shared.calendar import china_date
from shared.events import RiskFilingClosedV1, RiskFilingFiledV1, decode
from tests.conftest import bearer, build_app, eventually, serve
from tests.factories import report_body
from tests.kafka_helpers import read_topic
from tests.keys import TRUST
from tests.test_asyncapi import validator
from tests.verification.driver import REFORM, FilingOffice, Officers, filing_body

SECRETARY, TOWN = "李明", "湖州市吴兴区八里店镇党委"
DEVIATION = "因合作方变更，未经第三方复核即调整了三个村的资产折股比例。"
CONFIRMED = {"decision": "confirmed", "reason": "举报反映的正是该镇已备案的集体经济股份合作制改革。"}


async def test_a_filed_reform_is_weighed_in_a_later_reports_fault_tolerance_but_never_decides_it(
        new_database, broker, settings_for, make_token, data_dir):
    apps = {name: build_app(name, settings_for(name, await new_database(name), bootstrap=broker, workers=True,
                                               dev_clock=True))
            for name in ("intake", "verification")}

    def officer(sub, scopes, level="county", region="3305"):
        return bearer(make_token(scopes, sub=sub, region=region, org_level=level))

    investigator = officer("inv-wang", "verification:read verification:write")
    nanjing = officer("nj-zhao", "verification:read risk:read", "municipal", "3201")
    start = china_date(datetime.now(UTC))
    try:
        async with serve(apps["intake"]) as intake, serve(apps["verification"]) as verification:
            clerk = officer("clerk-zhou", "risk:file risk:read", "township", "330502")
            office = FilingOffice(verification, filer=clerk,
                                  acceptor=officer("cty-qian", "risk:review risk:read"),
                                  reviewer=officer("cty-sun", "risk:review risk:read"))
            officers = Officers(verification, investigator, officer("dir-zhao", "verification:approve", "municipal"))

            # The township files its reform before acting; the county accepts and assesses it.
            r = await office.file(filing_body(start, start + timedelta(days=270), name=SECRETARY, organization=TOWN))
            assert r.status_code == 201 and r.json()["acceptance_level"] == "county"
            filing_id = r.json()["id"]
            assert (await office.accept(filing_id)).status_code == 200
            assert (await office.assess(filing_id)).status_code == 200
            own = await office.review(filing_id, headers=office.acceptor)  # the accepting officer themself
            assert own.status_code == 403 and own.json()["rule"] == "separation_of_duties"
            assert (await office.review(filing_id)).json()["status"] == "filed"  # a different officer
            assert (await office.feedback(filing_id)).json()["feedback"]["by"] == "cty-sun"
            assert (await office.get(filing_id, headers=nanjing)).status_code == 404

            # Three months later, reports about the reform, dated within the matter's period.
            clock.write_offset(data_dir, timedelta(days=92))
            clock.use(data_dir)  # the apps here reread it at once
            submitter = bearer(make_token("reports:submit"))

            async def report_and_case(summary):
                body = report_body(anonymous=True, subject={"name": SECRETARY, "position": "党委书记",
                                                            "organization": TOWN, "region_code": "330502"},
                                   allegations=[{"category": "abuse_of_power", "summary": summary,
                                                 "occurred_on": (start + timedelta(days=30)).isoformat()}])
                r = await intake.post("/v1/reports", json=body, headers=submitter)
                assert r.status_code == 201, r.text

                async def opened():
                    items = (await verification.get("/v1/cases", params={"report_id": r.json()["id"]},
                                                    headers=investigator)).json()["items"]
                    return items[0] if items else None

                return await eventually(opened, timeout_s=60, what="the case")

            async def confirmed_and_assessed(case, checks_hold=True):
                [link] = case["risk_filing_links"]
                assert (link["filing_id"], link["status"]) == (filing_id, "candidate")
                assert link["filing"]["matter"] == REFORM and link["covered_allegation_ids"] == [
                    case["allegations"][0]["allegation_id"]]
                r = await verification.post(f"/v1/cases/{case['id']}/risk-filing-links/{filing_id}", json=CONFIRMED,
                                            headers=investigator)
                assert r.status_code == 200, r.text
                assessment = {"distinctions": {k: True for k in DISTINCTIONS},
                              "checks": {**{k: True for k in FIVE_CHECKS}, "collective_decision": checks_hold}}
                r = await verification.put(f"/v1/cases/{case['id']}/fault-tolerance", json=assessment,
                                           headers=investigator)
                [prior] = r.json()["prior_filings"]  # the fault-tolerance assessment shows it
                assert prior["filing_id"] == filing_id and prior["matter"] == REFORM
                await officers.find(case, "partially_substantiated")
                conclusion = (await officers.conclude(case["id"])).json()
                return prior, conclusion

            as_planned = await report_and_case("在股份合作制改革中违规将村集体经营性资产低价折股给合作企业。")
            prior, conclusion = await confirmed_and_assessed(as_planned)
            assert prior["deviated"] is False
            assert (conclusion["verdict"], conclusion["fault_tolerance_exempted"]) == ("true", True)
            assert [h["rule"] for h in conclusion["rationale"]] == ["V-TRUE", "FT-PRIOR-FILING", "FT-EXEMPT"]
            assert filing_id in conclusion["rationale"][1]["reason"]
            assert (await verification.get(f"/v1/cases/{as_planned['id']}", headers=nanjing)).status_code == 404

            # The outcome: the plan was departed from. Later cases show it; the five checks still decide.
            moved_today = china_date(clock.now())
            closed = await office.outcome(filing_id, moved_today, DEVIATION)
            assert closed.status_code == 200 and closed.json()["status"] == "closed"
            for summary, checks_hold in (("改革中擅自调整折股比例，未经第三方复核，损害部分农户利益。", True),
                                         ("改革方案调整未经村民代表大会集体表决即付诸实施。", False)):
                prior, conclusion = await confirmed_and_assessed(await report_and_case(summary), checks_hold)
                assert prior["deviated"] is True and prior["deviation"] == DEVIATION
                assert (conclusion["verdict"], conclusion["fault_tolerance_exempted"]) == ("true", checks_hold)
                assert [h["rule"] for h in conclusion["rationale"]] == [
                    "V-TRUE", "FT-PRIOR-FILING", "FT-FILING-DEVIATED", "FT-EXEMPT" if checks_hold else "FT-NOT-MET"]

            stats = (await verification.get("/v1/stats", headers=officer("stat-li", "verification:read"))).json()
            assert stats["fault_tolerance_exempted"] == 2
            assert stats["risk_filings"] == {"submitted": 1, "by_status": {"closed": 1},
                                             "by_risk_level": {"medium": 1}, "by_acceptance_level": {"county": 1},
                                             "exemptions_citing_filing": 2}

            messages = await read_topic(broker, "risk_filings.events", expect=2)
    finally:
        clock.write_offset(data_dir, timedelta(0))
        clock.use(None)

    doc = document()
    received = [decode(m.headers, m.key, m.value, trust=TRUST) for m in messages]  # signed, in the catalog
    assert [type(e.data) for e in received] == [RiskFilingFiledV1, RiskFilingClosedV1]
    assert {e.key for e in received} == {e.subject for e in received} == {filing_id}
    filed, closed_event = (e.data for e in received)
    assert isinstance(filed, RiskFilingFiledV1) and isinstance(closed_event, RiskFilingClosedV1)
    assert (filed.official.name, filed.matter, filed.risk_level) == (SECRETARY, REFORM, "medium")
    assert (closed_event.outcome, closed_event.deviation) == ("deviated", DEVIATION)
    for message, event in zip(messages, received, strict=True):
        payload = validator(doc, f"/components/messages/{event.type}/payload")
        headers = validator(doc, f"/components/messages/{event.type}/headers")
        assert not [e.message for e in payload.iter_errors(json.loads(message.value))]
        assert not [e.message for e in headers.iter_errors({k: v.decode() for k, v in message.headers})]
