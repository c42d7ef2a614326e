"""Risk filing (风险报备) over HTTP against a real database: the chain and its refusals, the link a case
opening makes, the filing in the fault-tolerance assessment and the verdict's rationale, the figures."""

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select

from shared.calendar import china_date
from shared.events import AllegationV1, SubjectV1
from shared.models import AuditRecord, OutboxMessage
from tests.conftest import bearer, build_app, serve
from tests.factories import submitted
from tests.verification.driver import EXEMPTION, REFORM, FilingOffice, Officers, filing_body
from tests.verification.helpers import on_report_submitted, received

OFFICIAL, TOWN = "李明", "湖州市吴兴区八里店镇党委"
DEVIATION = "因合作方变更，未经第三方复核即调整了资产折股比例。"


def today() -> date:
    return china_date(datetime.now(UTC))


@pytest.fixture
async def office(new_database, settings_for, make_token, sessions_for):
    url = await new_database("verification")
    app = build_app("verification", settings_for("verification", url))

    def officer(sub, scopes="risk:review risk:read", level="county", region="3305"):
        return bearer(make_token(scopes, sub=sub, region=region, org_level=level))

    async with serve(app) as client:
        desk = FilingOffice(client, filer=officer("clerk-zhou", "risk:file risk:read", "township", "330502"),
                            acceptor=officer("cty-qian"), reviewer=officer("cty-sun"))
        desk.officer, desk.sessions, desk.app = officer, sessions_for(url), app
        desk.cases = Officers(client, investigator=officer("inv-wang", "verification:read verification:write"),
                              approver=officer("dir-zhao", "verification:read verification:approve", "municipal", "33"))
        n = 0

        async def open_case(*dates, name=OFFICIAL, organization=TOWN, region_code="330502"):
            """A report about the official, one allegation per date given (None: undated), as intake sends it."""
            nonlocal n
            n += 1
            data = submitted(f"r-{n}").model_copy(update={
                "region_code": region_code, "received_at": datetime.now(UTC),
                "subject": SubjectV1(name=name, position="党委书记", organization=organization,
                                     region_code=region_code),
                "allegations": [AllegationV1(allegation_id=f"r-{n}-a{i}", category="abuse_of_power",
                                             summary="违规将村集体资产低价折股给合作企业。", occurred_on=day)
                                for i, day in enumerate(dates)]})
            async with app.runtime.uow() as uow:
                await on_report_submitted(replace(received(f"e-{n}", f"r-{n}"), data=data), uow)
                await uow.commit()
            r = await client.get("/v1/cases", params={"report_id": f"r-{n}"}, headers=desk.cases.investigator)
            return r.json()["items"][0]

        async def outbox(topic="risk_filings.events"):
            async with desk.sessions() as s:
                rows = (await s.scalars(select(OutboxMessage).where(OutboxMessage.topic == topic)
                                        .order_by(OutboxMessage.id))).all()
            return [(r.event_type, r.message_key, json.loads(r.payload)) for r in rows]

        async def audit(object_id):
            async with desk.sessions() as s:
                return [(r.actor, r.action) for r in await s.scalars(
                    select(AuditRecord).where(AuditRecord.object_id == object_id).order_by(AuditRecord.seq))]

        desk.open_case, desk.outbox, desk.audit = open_case, outbox, audit
        yield desk


def period(days=270):
    return today(), today() + timedelta(days=days)


# --- the chain ------------------------------------------------------------------------------------------------


async def test_a_filing_goes_through_its_chain_each_step_audited_and_filing_and_closing_published(office):
    r = await office.file(filing_body(*period()))
    assert r.status_code == 201, r.text
    filing = r.json()
    assert filing["status"] == "submitted" and filing["acceptance_level"] == "county"
    assert filing["filed_by"] == "clerk-zhou" and filing["submitted_at"].endswith("+08:00")
    assert filing["acceptance"] is None and filing["official"]["name"] == OFFICIAL
    fid = filing["id"]

    accepted = await office.accept(fid)
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    assert accepted.json()["acceptance"]["by"] == "cty-qian" and accepted.json()["acceptance"]["level"] == "county"
    assert (await office.assess(fid, "high")).json()["assessment"]["risk_level"] == "high"
    assessed = await office.assess(fid, "medium")  # again, before the review: it replaces the first
    assert assessed.json()["status"] == "assessed" and assessed.json()["assessment"]["risk_level"] == "medium"
    assert assessed.json()["assessment"]["conditions"] == ["每季度向区纪委监委报告进展", "资产评估须经第三方机构复核"]
    assert await office.outbox() == []  # nothing is published before the review files it

    reviewed = await office.review(fid)
    assert reviewed.status_code == 200 and reviewed.json()["status"] == "filed"
    assert reviewed.json()["review"]["by"] == "cty-sun" and reviewed.json()["review"]["at"].endswith("+08:00")
    [(kind, key, data)] = await office.outbox()
    assert (kind, key) == ("risk_filing.filed.v1", fid)
    assert data["official"]["name"] == OFFICIAL and data["matter"] == REFORM and data["risk_level"] == "medium"
    assert (data["starts_on"], data["ends_on"]) == (filing["matter"]["starts_on"], filing["matter"]["ends_on"])
    assert data["acceptance_level"] == "county" and len(data["conditions"]) == 2

    fed_back = await office.feedback(fid)
    assert fed_back.status_code == 200 and fed_back.json()["status"] == "filed"
    assert fed_back.json()["feedback"]["feedback"].startswith("已予备案")
    closed = await office.outcome(fid, today(), DEVIATION)
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert closed.json()["outcome"]["outcome"] == "deviated" and closed.json()["outcome"]["deviation"] == DEVIATION
    _, (kind, key, data) = await office.outbox()
    assert (kind, key, data["outcome"], data["deviation"]) == ("risk_filing.closed.v1", fid, "deviated", DEVIATION)

    assert await office.audit(fid) == [
        ("clerk-zhou", "risk_filing.submitted"), ("cty-qian", "risk_filing.accepted"),
        ("cty-qian", "risk_filing.assessed"), ("cty-qian", "risk_filing.assessed"), ("cty-sun", "risk_filing.filed"),
        ("cty-sun", "risk_filing.feedback_given"), ("cty-sun", "risk_filing.closed")]
    shown = (await office.get(fid)).json()
    assert shown == closed.json()


async def test_a_returned_filing_stops_and_a_declined_one_gets_feedback_but_no_outcome(office):
    returned = (await office.file(filing_body(*period()))).json()["id"]
    r = await office.accept(returned, "returned")
    assert r.json()["status"] == "returned" and r.json()["acceptance"]["decision"] == "returned"
    assert (await office.assess(returned)).status_code == 409
    declined = (await office.file(filing_body(*period()))).json()["id"]
    for step in (office.accept, office.assess):
        assert (await step(declined)).status_code == 200
    r = await office.review(declined, "not_filed")
    assert r.json()["status"] == "not_filed" and r.json()["review"]["decision"] == "not_filed"
    assert (await office.feedback(declined)).json()["feedback"] is not None
    r = await office.outcome(declined, today())
    assert r.status_code == 409 and r.json()["code"] == "risk_filing_not_editable"
    assert r.json()["filing_status"] == "not_filed"
    assert await office.outbox() == []  # a declined filing publishes nothing


async def test_steps_out_of_their_order_are_409_and_change_nothing(office):
    fid = (await office.file(filing_body(*period()))).json()["id"]
    r = await office.review(fid)
    assert r.status_code == 409 and r.json()["code"] == "risk_filing_not_editable"
    assert r.json()["filing_status"] == "submitted" and "submitted" in r.json()["detail"]
    assert (await office.feedback(fid)).status_code == 409
    await office.accept(fid)
    assert (await office.accept(fid)).status_code == 409  # decided once
    await office.assess(fid)
    await office.review(fid)
    assert (await office.assess(fid)).status_code == 409  # the review has decided
    assert (await office.review(fid)).status_code == 409
    r = await office.outcome(fid, today())
    assert r.status_code == 409 and "feedback" in r.json()["detail"]  # feedback comes first
    await office.feedback(fid)
    r = await office.feedback(fid)
    assert r.status_code == 409 and "already" in r.json()["detail"]
    assert (await office.outcome(fid, today())).json()["status"] == "closed"
    assert (await office.outcome(fid, today())).status_code == 409
    assert [kind for kind, _, _ in await office.outbox()] == ["risk_filing.filed.v1", "risk_filing.closed.v1"]


# --- who may take each step -------------------------------------------------------------------------------


async def test_the_review_by_the_accepting_or_assessing_officer_is_403_and_a_filer_decides_nothing(office):
    fid = (await office.file(filing_body(*period()))).json()["id"]
    filer_reviewing = office.officer("clerk-zhou", "risk:file risk:review risk:read", "county")
    r = await office.accept(fid, headers=filer_reviewing)
    assert r.status_code == 403 and r.json()["code"] == "risk_filing_refused"
    assert r.json()["rule"] == "separation_of_duties"
    await office.accept(fid)  # cty-qian
    await office.assess(fid, headers=office.officer("cty-li"))
    for handled in (office.acceptor, office.officer("cty-li")):
        r = await office.review(fid, headers=handled)
        assert r.status_code == 403 and r.json()["rule"] == "separation_of_duties", r.text
        assert r.headers["content-type"] == "application/problem+json"
    assert (await office.get(fid)).json()["status"] == "assessed" and await office.outbox() == []
    assert (await office.review(fid)).json()["status"] == "filed"  # cty-sun took no part
    r = await office.feedback(fid, headers=filer_reviewing)
    assert r.status_code == 403 and r.json()["rule"] == "separation_of_duties"
    r = await office.review(fid, headers=office.officer("clerk-x", "risk:file risk:read"))
    assert r.status_code == 403 and r.json()["missing_scopes"] == ["risk:review"]


@pytest.mark.parametrize(("official", "reach", "amount", "level"), [
    ("township", "township", 12_000_000, "county"),
    ("township", "township", 50_000_000, "municipal"),
    ("township", "municipal", 0, "municipal"),
    ("municipal", "township", 0, "municipal"),
])
async def test_each_matter_is_accepted_at_the_level_it_requires(office, official, reach, amount, level):
    body = filing_body(*period(), org_level=official, reach=reach, amount_yuan=amount)
    r = await office.file(body)
    assert r.status_code == 201 and r.json()["acceptance_level"] == level
    fid = r.json()["id"]
    below = {"county": "township", "municipal": "county"}[level]
    r = await office.accept(fid, headers=office.officer("low-he", level=below))
    assert r.status_code == 403 and r.json()["rule"] == "acceptance_level" and level in r.json()["detail"]
    assert (await office.get(fid)).json()["status"] == "submitted"
    assert (await office.accept(fid, headers=office.officer("at-he", level=level))).status_code == 200


async def test_the_large_amount_is_a_setting(new_database, settings_for, make_token):
    app = build_app("verification", settings_for("verification", await new_database("verification"),
                                                 risk_filing_large_amount_yuan=10_000_000))
    async with serve(app) as client:
        r = await client.post("/v1/risk-filings", json=filing_body(*period()), headers=bearer(
            make_token("risk:file", sub="clerk-zhou", region="3305", org_level="township")))
    assert r.status_code == 201 and r.json()["acceptance_level"] == "municipal"  # 12 million is large here


# --- what is filed ---------------------------------------------------------------------------------------------


async def test_a_filing_comes_before_the_act_for_at_most_five_years_and_names_the_field_at_fault(office):
    late = await office.file(filing_body(today() - timedelta(days=1), today() + timedelta(days=30)))
    assert late.status_code == 422 and [e["field"] for e in late.json()["errors"]] == ["matter.starts_on"]
    backwards = await office.file(filing_body(today() + timedelta(days=5), today() + timedelta(days=4)))
    assert [e["field"] for e in backwards.json()["errors"]] == ["matter.ends_on"]
    endless = await office.file(filing_body(today(), today() + timedelta(days=5 * 366)))
    assert endless.status_code == 422 and "5 years" in endless.json()["errors"][0]["message"]
    body = filing_body(*period())
    body["official"]["org_level"] = "village"
    assert (await office.file(body)).json()["errors"][0]["field"] == "official.org_level"
    fid = (await office.filed(filing_body(*period())))["id"]
    r = await office.client.post(f"/v1/risk-filings/{fid}/feedback", headers=office.reviewer,
                                 json={"kind": "outcome", "outcome": "deviated",
                                       "feedback": "已予备案，请按条件实施。"})
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["completed_on", "feedback", "deviation"]
    r = await office.outcome(fid, today() + timedelta(days=1))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "completed_on"
    assert (await office.get(fid)).json()["status"] == "filed" and len(await office.outbox()) == 1


async def test_another_region_neither_files_there_nor_sees_a_filing_and_lists_filter(office):
    r = await office.file(filing_body(*period(), region_code="320102"))
    assert r.status_code == 403 and r.json()["code"] == "region_outside_jurisdiction"
    first = (await office.filed(filing_body(*period())))["id"]
    other = (await office.file(filing_body(today() + timedelta(days=400), today() + timedelta(days=500),
                                           name="张华", organization="湖州市吴兴区织里镇党委"))).json()["id"]
    nanjing = office.officer("nj-zhao", level="municipal", region="3201")
    r = await office.get(first, headers=nanjing)
    assert r.status_code == 404 and r.json()["code"] == "risk_filing_not_found"
    assert (await office.accept(other, headers=nanjing)).status_code == 404
    assert (await office.client.get("/v1/risk-filings", headers=nanjing)).json()["items"] == []

    async def listed(**params):
        r = await office.client.get("/v1/risk-filings", params=params, headers=office.acceptor)
        assert r.status_code == 200, r.text
        return [f["id"] for f in r.json()["items"]]

    assert await listed() == [first, other]
    assert await listed(official=OFFICIAL) == [first]
    assert await listed(organization="湖州市吴兴区织里镇党委") == [other]
    assert await listed(status="submitted") == [other]
    assert await listed(period_from=(today() + timedelta(days=300)).isoformat()) == [other]
    assert await listed(period_to=(today() + timedelta(days=300)).isoformat()) == [first]
    assert await listed(region="330503") == []
    assert (await listed(limit=1))[0] == first


# --- the case: candidates, the fault-tolerance assessment, the rationale --------------------------------------


async def test_a_case_opening_shows_the_officials_filings_whose_period_covers_the_allegations(office):
    filed = (await office.filed(filing_body(*period())))["id"]
    in_progress = (await office.file(filing_body(*period(), title="八里店镇农旅项目合作经营"))).json()["id"]
    returned = (await office.file(filing_body(*period()))).json()["id"]
    await office.accept(returned, "returned")
    later = (await office.file(filing_body(today() + timedelta(days=60), today() + timedelta(days=90)))).json()["id"]
    elsewhere = (await office.filed(filing_body(*period(), organization="湖州市吴兴区织里镇党委")))["id"]
    case = await office.open_case(today(), None)
    links = {link["filing_id"]: link for link in case["risk_filing_links"]}
    assert set(links) == {filed, in_progress}  # not the returned one, nor one whose period starts later
    assert later not in links and elsewhere not in links  # another organization is another official
    ids = [a["allegation_id"] for a in case["allegations"]]
    assert links[filed]["covered_allegation_ids"] == ids  # dated within; undated, and the period began before
    assert links[filed]["status"] == "candidate" and links[filed]["filing"]["matter"] == REFORM
    assert links[filed]["filing"]["status"] == "filed" and links[filed]["linked_at"].endswith("+08:00")
    assert case["prior_filings"] == []  # nothing counts until the investigator confirms it
    spaced = await office.open_case(today(), name=" 李 明 ", organization="湖州市吴兴区八里店镇\u3000党委")
    assert {link["filing_id"] for link in spaced["risk_filing_links"]} == {filed, in_progress}
    assert (await office.open_case(today() + timedelta(days=400)))["risk_filing_links"] == []  # after the period
    assert (await office.open_case(today(), region_code="330503"))["risk_filing_links"] == []
    after_the_case = (await office.filed(filing_body(*period())))["id"]
    again = await office.cases.case(case["id"])
    assert after_the_case not in {link["filing_id"] for link in again["risk_filing_links"]}


async def test_a_confirmed_filed_filing_is_in_the_assessment_and_named_in_the_exempted_verdict(office):
    fid = (await office.filed(filing_body(*period())))["id"]
    case = await office.open_case(today())
    url = f"/v1/cases/{case['id']}/risk-filing-links/{fid}"
    r = await office.client.post(url, headers=office.cases.investigator,
                                 json={"decision": "confirmed", "reason": "举报反映的正是该镇已备案的改革事项。"})
    assert r.status_code == 200 and r.json()["status"] == "investigating"
    [link] = r.json()["risk_filing_links"]
    assert (link["status"], link["decided_by"]) == ("confirmed", "inv-wang") and link["decided_at"].endswith("+08:00")
    ft = await office.cases.exempt(case["id"])
    [prior] = ft.json()["prior_filings"]
    assert (prior["filing_id"], prior["matter"], prior["deviated"]) == (fid, REFORM, False)
    assert prior["risk_level"] == "medium" and prior["filed_at"].endswith("+08:00")
    await office.cases.find(case, "substantiated")
    conclusion = (await office.cases.conclude(case["id"])).json()
    assert conclusion["verdict"] == "true" and conclusion["fault_tolerance_exempted"] is True
    assert [h["rule"] for h in conclusion["rationale"]] == ["V-TRUE", "FT-PRIOR-FILING", "FT-EXEMPT"]
    assert fid in conclusion["rationale"][1]["reason"] and REFORM in conclusion["rationale"][1]["reason"]
    [event] = await office.outbox("reports.verified")
    assert event[2]["rationale"] == ["V-TRUE", "FT-PRIOR-FILING", "FT-EXEMPT"]
    assert ("inv-wang", "risk_filing_link.confirmed") in await office.audit(case["id"])
    r = await office.client.post(url, headers=office.cases.investigator,
                                 json={"decision": "dismissed", "reason": "复查认为与备案事项无关。"})
    assert r.status_code == 409 and r.json()["code"] == "case_not_editable"  # the case is final


@pytest.mark.parametrize("checks_hold", [True, False])
async def test_a_departure_from_the_filed_plan_is_shown_and_the_five_checks_still_decide(office, checks_hold):
    fid = (await office.filed(filing_body(*period())))["id"]
    case = await office.open_case(today())
    assert (await office.outcome(fid, today(), DEVIATION)).status_code == 200
    await office.client.post(f"/v1/cases/{case['id']}/risk-filing-links/{fid}", headers=office.cases.investigator,
                             json={"decision": "confirmed", "reason": "举报反映的正是该镇已备案的改革事项。"})
    body = {**EXEMPTION, "checks": {**EXEMPTION["checks"], "no_benefit_transfer": checks_hold}}
    r = await office.client.put(f"/v1/cases/{case['id']}/fault-tolerance", json=body,
                                headers=office.cases.investigator)
    [prior] = r.json()["prior_filings"]
    assert prior["deviated"] is True and prior["deviation"] == DEVIATION
    assert r.json()["risk_filing_links"][0]["filing"]["outcome"] == "deviated"
    await office.cases.find(case, "partially_substantiated")
    conclusion = (await office.cases.conclude(case["id"])).json()
    assert conclusion["verdict"] == "true" and conclusion["fault_tolerance_exempted"] is checks_hold
    assert [h["rule"] for h in conclusion["rationale"]] == [
        "V-TRUE", "FT-PRIOR-FILING", "FT-FILING-DEVIATED", "FT-EXEMPT" if checks_hold else "FT-NOT-MET"]
    assert DEVIATION in conclusion["rationale"][2]["reason"]


async def test_a_dismissed_or_unfiled_filing_is_no_factor_and_an_unlinked_one_is_404(office):
    filed = (await office.filed(filing_body(*period())))["id"]
    pending = (await office.file(filing_body(*period(), title="八里店镇农旅项目合作经营"))).json()["id"]
    case = await office.open_case(today())
    base = f"/v1/cases/{case['id']}/risk-filing-links"
    inv = office.cases.investigator
    confirm = {"decision": "confirmed", "reason": "举报反映的正是该镇报备的事项。"}
    r = await office.client.post(f"{base}/{pending}", json=confirm, headers=inv)
    assert r.status_code == 200 and r.json()["prior_filings"] == []  # confirmed, but not filed (yet)
    r = await office.client.post(f"{base}/{filed}", json=confirm, headers=inv)
    assert [p["filing_id"] for p in r.json()["prior_filings"]] == [filed]
    r = await office.client.post(f"{base}/{filed}", headers=inv,
                                 json={"decision": "dismissed", "reason": "核实后举报所涉并非该改革事项。"})
    assert r.json()["prior_filings"] == []  # changed while investigating
    link = next(x for x in r.json()["risk_filing_links"] if x["filing_id"] == filed)
    assert (link["status"], link["reason"]) == ("dismissed", "核实后举报所涉并非该改革事项。")
    other = (await office.file(filing_body(*period(), name="张华"))).json()["id"]
    r = await office.client.post(f"{base}/{other}", json=confirm, headers=inv)
    assert r.status_code == 404 and r.json()["code"] == "risk_filing_link_not_found"
    r = await office.client.post(f"{base}/{filed}", json=confirm, headers=office.acceptor)
    assert r.status_code == 403 and r.json()["missing_scopes"] == ["verification:write"]
    await office.cases.find(case, "substantiated")
    await office.cases.exempt(case["id"])
    conclusion = (await office.cases.conclude(case["id"])).json()
    assert [h["rule"] for h in conclusion["rationale"]] == ["V-TRUE", "FT-EXEMPT"]


async def test_the_figures_count_filings_by_status_and_level_and_exemptions_citing_one(office):
    cited = (await office.filed(filing_body(*period())))["id"]
    await office.file(filing_body(*period(), amount_yuan=60_000_000, title="八里店镇土地整治项目"))  # municipal
    assessed = (await office.file(filing_body(*period(), title="八里店镇农旅项目合作经营"))).json()["id"]
    await office.accept(assessed)
    await office.assess(assessed, "high")
    for path, confirm in (("cites", True), ("ignores", False)):
        case = await office.open_case(today())
        if confirm:
            await office.client.post(f"/v1/cases/{case['id']}/risk-filing-links/{cited}",
                                     headers=office.cases.investigator,
                                     json={"decision": "confirmed", "reason": "举报反映的正是该镇已备案的改革事项。"})
        assert (await office.cases.drive(case, "true_exempted"))["fault_tolerance_exempted"] is True, path
    reader = office.officer("stat-li", "verification:read")
    stats = (await office.client.get("/v1/stats", headers=reader)).json()
    assert stats["fault_tolerance_exempted"] == 2
    filings = stats["risk_filings"]
    assert filings["submitted"] == 3
    assert filings["by_status"] == {"filed": 1, "submitted": 1, "assessed": 1}
    assert filings["by_risk_level"] == {"medium": 1, "high": 1}
    assert filings["by_acceptance_level"] == {"county": 2, "municipal": 1}
    assert filings["exemptions_citing_filing"] == 1
    elsewhere = (await office.client.get("/v1/stats", params={"region": "330503"}, headers=reader)).json()
    assert elsewhere["risk_filings"]["submitted"] == 0 and elsewhere["risk_filings"]["exemptions_citing_filing"] == 0
