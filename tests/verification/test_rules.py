"""Verification rules over HTTP against a real database: every step and refusal."""

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from services.verification.domain import DISTINCTIONS, FIVE_CHECKS
from shared.audit import verify_chain
from shared.events import AllegationV1, SubjectV1
from shared.models import AuditRecord, OutboxMessage
from tests.conftest import bearer, build_app, serve
from tests.factories import submitted
from tests.keys import AUDIT_KEYS
from tests.verification.driver import DECISION_REASON, EXEMPTION, MALICE, Officers
from tests.verification.helpers import on_report_submitted, received


@pytest.fixture
async def desk(new_database, settings_for, make_token, sessions_for):
    url = await new_database("verification")
    app = build_app("verification", settings_for("verification", url))
    async with serve(app) as client:
        sessions = sessions_for(url)
        officers = Officers(
            client,
            investigator=bearer(make_token("verification:read verification:write", sub="inv-wang", region="3305",
                                           org_level="county")),
            approver=bearer(make_token("verification:read verification:approve", sub="dir-zhao", region="33",
                                       org_level="municipal")),
            corrector=bearer(make_token("verification:read verification:approve", sub="dir-sun", region="33",
                                        org_level="municipal")),
        )
        n = 0

        async def open_case(allegations=2, blind_index="ab" * 32, subject="王建国", received_at=None,
                            linked=()):
            nonlocal n
            n += 1
            data = submitted(f"r-{n}").model_copy(update={
                "allegations": [AllegationV1(allegation_id=f"r-{n}-a{i}", category="bribery",
                                             summary="收受礼金十万元整") for i in range(allegations)],
                "reporter_blind_index": blind_index, "anonymous": blind_index is None,
                "subject": SubjectV1(name=subject, position="局长", organization="某局", region_code="330502"),
                "received_at": received_at or datetime.now(UTC), "linked_report_ids": list(linked)})
            async with app.runtime.uow() as uow:
                await on_report_submitted(replace(received(f"e-{n}", f"r-{n}"), data=data), uow)
                await uow.commit()
            items = (await client.get("/v1/cases", params={"report_id": f"r-{n}"},
                                      headers=officers.investigator)).json()["items"]
            return items[0]

        async def events():
            async with sessions() as s:
                rows = (await s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "reports.verified")
                                        .order_by(OutboxMessage.id))).all()
            return [json.loads(r.payload) for r in rows]

        officers.open_case, officers.events, officers.sessions = open_case, events, sessions
        async def audit():
            async with sessions() as s:
                return (await s.scalars(select(AuditRecord).order_by(AuditRecord.seq))).all()

        def officer(sub, level, scopes="verification:read verification:write verification:approve", region="33"):
            return bearer(make_token(scopes, sub=sub, region=region, org_level=level))

        officers.make_token, officers.audit, officers.officer = make_token, audit, officer
        yield officers


async def test_findings_move_the_case_to_investigating_and_are_validated(desk):
    case = await desk.open_case()
    assert case["status"] == "open" and case["verification_due"] > case["opened_at"][:10]
    r = await desk.find(case, "unsubstantiated", "unverifiable")
    assert r.status_code == 200 and r.json()["status"] == "investigating"
    assert [a["finding"] for a in r.json()["allegations"]] == ["unsubstantiated", "unverifiable"]
    assert r.json()["allegations"][0]["finding_recorded_by"] == "inv-wang"
    bad = await desk.client.put(f"/v1/cases/{case['id']}/findings", headers=desk.investigator, json={
        "findings": [{"allegation_id": "nope", "finding": "substantiated"}]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "findings[0].allegation_id"
    twice = {"findings": [{"allegation_id": case["allegations"][0]["allegation_id"], "finding": "substantiated"}] * 2}
    r = await desk.client.put(f"/v1/cases/{case['id']}/findings", headers=desk.investigator, json=twice)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "findings"
    r = await desk.client.put(f"/v1/cases/{case['id']}/findings", json=twice, headers=bearer(
        desk.make_token("verification:read", region="3305")))
    assert r.status_code == 403


async def test_conclusion_without_all_findings_is_409_listing_them(desk):
    case = await desk.open_case(allegations=3)
    await desk.client.put(f"/v1/cases/{case['id']}/findings", headers=desk.investigator, json={
        "findings": [{"allegation_id": case["allegations"][1]["allegation_id"], "finding": "unsubstantiated"}]})
    r = await desk.conclude(case["id"])
    assert r.status_code == 409 and r.json()["code"] == "findings_missing"
    assert r.json()["missing_allegation_ids"] == [case["allegations"][0]["allegation_id"],
                                                  case["allegations"][2]["allegation_id"]]
    assert await desk.events() == []


@pytest.mark.parametrize(("path", "verdict", "exempted", "rules"), [
    ("untrue", "untrue", False, ["V-UNTRUE"]),
    ("true", "true", False, ["V-TRUE"]),
    ("true_exempted", "true", True, ["V-TRUE", "FT-EXEMPT"]),
    ("inconclusive", "inconclusive", False, ["V-INCONCLUSIVE"]),
])
async def test_non_malicious_verdicts_are_final_and_published_once(desk, path, verdict, exempted, rules):
    case = await desk.open_case()
    conclusion = await desk.drive(case, path)
    assert conclusion["verdict"] == verdict and conclusion["status"] == "final"
    assert conclusion["fault_tolerance_exempted"] is exempted
    assert [h["rule"] for h in conclusion["rationale"]] == rules
    [event] = await desk.events()
    assert event["verdict"] == verdict and event["fault_tolerance_exempted"] is exempted
    assert event["rationale"] == rules and event["version"] == 1 and event["approver"] is None
    assert event["refuted_allegation_ids"] == [a["allegation_id"] for a in case["allegations"]
                                               if a["allegation_id"] in conclusion["refuted_allegation_ids"]]
    assert (await desk.case(case["id"]))["verdict"] == verdict
    # An exemption covers the allegations found true (the first, on this path), each with the conditions
    # that held; the others are refuted and cleared as untrue.
    exempted_ones = event["exempted_allegations"]
    if exempted:
        [only] = exempted_ones
        assert only["allegation_id"] == case["allegations"][0]["allegation_id"] and only["summary"]
        assert [r["condition"] for r in only["reasons"]] == [*DISTINCTIONS, *FIVE_CHECKS]
        assert only["allegation_id"] not in event["refuted_allegation_ids"]
    else:
        assert exempted_ones == []


async def test_malicious_waits_for_a_different_municipal_officer(desk):
    case = await desk.open_case()
    await desk.find(case, "unsubstantiated", "unsubstantiated")
    await desk.malice(case["id"])
    r = await desk.conclude(case["id"])
    assert r.json()["verdict"] == "malicious" and r.json()["status"] == "awaiting_approval"
    assert await desk.events() == []  # nothing published while approval is pending
    own = bearer(desk.make_token("verification:read verification:approve", sub="inv-wang", region="3305",
                                 org_level="municipal"))
    r = await desk.decide(case["id"], "approve", own)
    assert r.status_code == 403 and r.json()["code"] == "approval_refused" and "second officer" in r.json()["detail"]
    assert r.json()["rule"] == "approver_recorded_on_case"
    county = bearer(desk.make_token("verification:read verification:approve", sub="dir-li", region="3305",
                                    org_level="county"))
    r = await desk.decide(case["id"], "approve", county)
    assert r.status_code == 403 and "municipal" in r.json()["detail"] and r.json()["rule"] == "approver_level"
    r = await desk.decide(case["id"], "approve", desk.investigator)
    assert r.status_code == 403 and r.json()["missing_scopes"] == ["verification:approve"]
    r = await desk.decide(case["id"], "approve")
    assert r.status_code == 200 and r.json()["status"] == "final"
    verdict = r.json()["verdicts"][-1]
    assert (verdict["decided_by"], verdict["decided_by_level"]) == ("dir-zhao", "municipal")
    [event] = await desk.events()
    assert event["verdict"] == "malicious" and event["malice_kind"] == "false_accusation"
    assert event["severity"] == "ordinary" and event["approver_org_level"] == "municipal"
    assert "M-AGGRAVATING-REPEATED_AFTER_CONCLUSION" in event["rationale"]
    assert (await desk.decide(case["id"], "approve")).status_code == 409


async def test_rejected_malicious_goes_back_to_investigating_then_can_be_approved(desk):
    case = await desk.open_case()
    await desk.drive(case, "malicious_rejected_then_approved")
    current = await desk.case(case["id"])
    assert [v["state"] for v in current["verdicts"]] == ["rejected", "final"]
    assert current["verdicts"][0]["decision_reason"]
    assert len(await desk.events()) == 1


async def test_the_concluding_officers_notes_are_kept_with_the_verdict_and_shown_with_it(desk):
    """Notes on a conclusion belong to the case file: each verdict keeps its own, the answer to the
    conclusion and the case show them; a conclusion sent without a body has none."""
    case = await desk.open_case()
    await desk.find(case, "unsubstantiated", "unsubstantiated")
    await desk.malice(case["id"])
    r = await desk.client.post(f"/v1/cases/{case['id']}/conclusion", headers=desk.investigator,
                               json={"notes": " 举报人承认编造收受礼金情节，提请审批。 "})
    assert r.status_code == 200 and r.json()["notes"] == "举报人承认编造收受礼金情节，提请审批。"
    assert (await desk.decide(case["id"], "reject")).status_code == 200
    again = await desk.conclude(case["id"])
    assert again.status_code == 200 and again.json()["notes"] is None
    shown = await desk.case(case["id"])
    assert [(v["id"], v["notes"]) for v in shown["verdicts"]] == [
        (r.json()["verdict_id"], "举报人承认编造收受礼金情节，提请审批。"), (again.json()["verdict_id"], None)]
    too_long = await desk.client.post(f"/v1/cases/{case['id']}/conclusion", headers=desk.investigator,
                                      json={"notes": "记" * 5001})
    assert too_long.status_code == 422 and too_long.json()["errors"][0]["field"] == "notes"


async def test_malicious_without_kind_or_severity_is_409(desk):
    case = await desk.open_case()
    await desk.find(case, "unsubstantiated", "unsubstantiated")
    await desk.malice(case["id"], kind=None, severity=None)
    r = await desk.conclude(case["id"])
    assert r.status_code == 409 and r.json()["code"] == "assessment_incomplete"


async def test_an_honest_mistake_is_untrue_not_malicious(desk):
    case = await desk.open_case()
    await desk.find(case, "unsubstantiated", "unsubstantiated")
    await desk.malice(case["id"], knew_false=False, meant_punishment=False)
    r = await desk.conclude(case["id"])
    assert r.json()["verdict"] == "untrue" and "M-NOT-MET" in [h["rule"] for h in r.json()["rationale"]]


async def test_final_case_is_locked_until_a_correction_is_approved_and_the_correction_supersedes(desk):
    case = await desk.open_case()
    first = await desk.drive(case, "untrue")
    assert (await desk.find(case, "substantiated", "substantiated")).status_code == 409
    requested = await desk.request_correction(case["id"])
    assert requested.status_code == 202
    assert requested.json()["status"] == "pending" and requested.json()["requested_by"] == "inv-wang"
    assert requested.json()["min_approver_level"] == "county"  # the level of the officer who concluded
    pending = await desk.case(case["id"])
    assert pending["status"] == "final" and pending["superseded_by_case_id"] is None  # nothing moved yet
    assert pending["pending_correction"]["id"] == requested.json()["id"]
    assert len(await desk.events()) == 1
    decided = await desk.decide_correction(requested.json()["id"])
    assert decided.status_code == 200 and decided.json()["status"] == "approved"
    assert decided.json()["decided_by"] == "dir-sun"
    successor = await desk.case(decided.json()["successor_case_id"])
    assert successor["status"] == "investigating" and successor["supersedes_case_id"] == case["id"]
    assert [a["finding"] for a in successor["allegations"]] == ["unsubstantiated", "unsubstantiated"]
    old = await desk.case(case["id"])
    assert old["status"] == "superseded" and old["verdict"] == "untrue"  # kept as it was
    assert old["verdicts"][0]["state"] == "final" and old["pending_correction"] is None
    assert [c["status"] for c in old["corrections"]] == ["approved"]
    assert (await desk.request_correction(case["id"])).status_code == 409
    await desk.find(successor, "substantiated", "unsubstantiated")
    second = (await desk.conclude(successor["id"])).json()
    assert second["verdict"] == "true"
    events = await desk.events()
    assert [(e["verdict"], e["version"]) for e in events] == [("untrue", 1), ("true", 2)]
    assert events[1]["supersedes_verdict_id"] == first["verdict_id"]
    listed = (await desk.client.get("/v1/cases", params={"report_id": case["report_id"]},
                                    headers=desk.investigator)).json()["items"]
    assert [c["status"] for c in listed] == ["superseded", "final"]


# --- separation of duties ---------------------------------------------------------------------------


async def test_approval_by_the_findings_author_is_403(desk):
    """An officer recorded the findings and the malice assessment, a county colleague concluded, and the
    first officer tried to approve."""
    chen = desk.officer("inv-chen", "municipal")
    case = await desk.open_case()
    body = {"findings": [{"allegation_id": a["allegation_id"], "finding": "unsubstantiated"}
                         for a in case["allegations"]]}
    assert (await desk.client.put(f"/v1/cases/{case['id']}/findings", json=body, headers=chen)).status_code == 200
    malice = await desk.client.put(f"/v1/cases/{case['id']}/malice-assessment", headers=chen, json={
        "facts_invented": True, "material_forged": False, "knew_false": True, "meant_punishment": True,
        "kind": "false_accusation", "severity": "ordinary"})
    assert malice.status_code == 200
    assert (await desk.conclude(case["id"])).json()["status"] == "awaiting_approval"  # inv-wang, county
    r = await desk.decide(case["id"], "approve", chen)
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "approval_refused" and r.json()["rule"] == "approver_recorded_on_case"
    assert (await desk.case(case["id"]))["status"] == "awaiting_approval" and await desk.events() == []
    assert (await desk.decide(case["id"], "approve")).status_code == 200  # dir-zhao recorded nothing


async def test_an_officer_whose_assessment_was_replaced_still_may_not_approve(desk):
    chen = desk.officer("inv-chen", "municipal")
    case = await desk.open_case()
    await desk.client.put(f"/v1/cases/{case['id']}/malice-assessment", headers=chen, json={
        "facts_invented": False, "material_forged": False, "knew_false": False, "meant_punishment": False})
    await desk.find(case, "unsubstantiated", "unsubstantiated")
    await desk.malice(case["id"])  # inv-wang replaces it: the case no longer shows inv-chen's
    await desk.conclude(case["id"])
    assessment = (await desk.case(case["id"]))["malice_assessment"]
    assert assessment["recorded_by"] == "inv-wang" and assessment["recorded_at"].endswith("+08:00")
    r = await desk.decide(case["id"], "approve", chen)
    assert r.status_code == 403 and r.json()["rule"] == "approver_recorded_on_case"


@pytest.mark.parametrize("act", ["findings", "malice_assessment", "fault_tolerance", "conclusion"])
async def test_an_officer_who_recorded_any_one_part_of_a_malicious_verdict_may_not_approve_it(desk, act):
    """inv-chen (municipal) records one part of the case, inv-wang every other; inv-chen is refused."""
    chen = desk.officer("inv-chen", "municipal")
    by = {part: chen if part == act else desk.investigator for part in
          ("findings", "malice_assessment", "fault_tolerance", "conclusion")}
    case = await desk.open_case()
    base = f"/v1/cases/{case['id']}"
    findings = {"findings": [{"allegation_id": a["allegation_id"], "finding": "unsubstantiated"}
                             for a in case["allegations"]]}
    assert (await desk.client.put(f"{base}/findings", json=findings, headers=by["findings"])).status_code == 200
    assert (await desk.client.put(f"{base}/malice-assessment", json=MALICE,
                                  headers=by["malice_assessment"])).status_code == 200
    assert (await desk.client.put(f"{base}/fault-tolerance", json=EXEMPTION,
                                  headers=by["fault_tolerance"])).status_code == 200
    concluded = await desk.client.post(f"{base}/conclusion", headers=by["conclusion"])
    assert concluded.json()["status"] == "awaiting_approval"
    r = await desk.decide(case["id"], "approve", chen)
    assert r.status_code == 403 and r.json()["rule"] == "approver_recorded_on_case", act
    assert (await desk.decide(case["id"], "approve")).status_code == 200  # dir-zhao recorded nothing


async def test_who_recorded_on_a_corrected_case_may_not_approve_its_successors_malicious_verdict(desk):
    chen = desk.officer("inv-chen", "municipal")
    case = await desk.open_case()
    body = {"findings": [{"allegation_id": a["allegation_id"], "finding": "unsubstantiated"}
                         for a in case["allegations"]]}
    await desk.client.put(f"/v1/cases/{case['id']}/findings", json=body, headers=chen)
    await desk.conclude(case["id"])  # untrue, final
    successor = await desk.correct(case["id"])
    await desk.malice(successor["id"])  # inv-wang alone records on the successor
    assert (await desk.conclude(successor["id"])).json()["status"] == "awaiting_approval"
    r = await desk.decide(successor["id"], "approve", chen)
    assert r.status_code == 403 and r.json()["rule"] == "approver_recorded_on_case"
    assert (await desk.decide(successor["id"], "approve")).status_code == 200


async def _malicious_approved(desk):
    case = await desk.open_case()
    await desk.drive(case, "malicious_approved")  # inv-wang recorded and concluded, dir-zhao approved
    return case


async def test_a_correction_applied_by_its_requester_alone_is_refused(desk):
    case = await _malicious_approved(desk)
    qian = desk.officer("dir-qian", "provincial")
    requested = await desk.request_correction(case["id"], qian)
    assert requested.status_code == 202 and requested.json()["min_approver_level"] == "municipal"
    r = await desk.decide_correction(requested.json()["id"], headers=qian)
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "correction_refused" and r.json()["rule"] == "separation_of_duties"
    unchanged = await desk.case(case["id"])
    assert unchanged["status"] == "final" and unchanged["verdict"] == "malicious"
    assert unchanged["superseded_by_case_id"] is None and unchanged["pending_correction"]["status"] == "pending"
    assert len(await desk.events()) == 1  # nothing downstream learns of it


async def test_a_county_officer_may_not_approve_correcting_a_municipal_approved_malicious_verdict(desk):
    case = await _malicious_approved(desk)
    requested = (await desk.request_correction(case["id"])).json()  # inv-wang, county
    r = await desk.decide_correction(requested["id"], headers=desk.officer("dir-li", "county"))
    assert r.status_code == 403 and r.json()["rule"] == "approver_level" and "municipal" in r.json()["detail"]
    assert (await desk.case(case["id"]))["status"] == "final"


async def test_who_decided_or_recorded_on_the_verdict_may_not_approve_its_correction(desk):
    case = await _malicious_approved(desk)
    requested = (await desk.request_correction(case["id"], desk.officer("dir-qian", "municipal"))).json()
    for insider in (desk.approver, desk.officer("inv-wang", "municipal")):  # approved it; recorded and concluded
        r = await desk.decide_correction(requested["id"], headers=insider)
        assert r.status_code == 403 and r.json()["rule"] == "separation_of_duties"
    assert (await desk.decide_correction(requested["id"])).json()["status"] == "approved"  # dir-sun


async def test_who_took_part_in_a_corrected_case_may_not_approve_correcting_its_successor(desk):
    """inv-chen recorded the findings and dir-zhao approved the malicious verdict of the first case; its
    successor's verdict is then to be corrected in turn: neither may approve that."""
    chen = desk.officer("inv-chen", "municipal")
    case = await desk.open_case()
    body = {"findings": [{"allegation_id": a["allegation_id"], "finding": "unsubstantiated"}
                         for a in case["allegations"]]}
    await desk.client.put(f"/v1/cases/{case['id']}/findings", json=body, headers=chen)
    await desk.malice(case["id"])
    await desk.conclude(case["id"])
    assert (await desk.decide(case["id"], "approve")).status_code == 200  # dir-zhao
    successor = await desk.correct(case["id"])  # inv-wang asks, dir-sun approves
    await desk.find(successor, "substantiated", "unsubstantiated")
    assert (await desk.conclude(successor["id"])).json()["verdict"] == "true"  # inv-wang alone
    requested = (await desk.request_correction(successor["id"], desk.officer("dir-qian", "municipal"))).json()
    for insider in (chen, desk.approver):
        r = await desk.decide_correction(requested["id"], headers=insider)
        assert r.status_code == 403 and r.json()["rule"] == "separation_of_duties", r.text
    ok = await desk.decide_correction(requested["id"], headers=desk.officer("dir-he", "provincial"))
    assert ok.status_code == 200 and ok.json()["status"] == "approved"


async def test_correcting_a_verdict_approved_higher_up_needs_that_level(desk):
    case = await desk.open_case()
    await desk.find(case, "unsubstantiated", "unsubstantiated")
    await desk.malice(case["id"])
    await desk.conclude(case["id"])
    await desk.decide(case["id"], "approve", desk.officer("dir-wu", "provincial"))
    requested = (await desk.request_correction(case["id"])).json()
    assert requested["min_approver_level"] == "provincial"
    r = await desk.decide_correction(requested["id"])  # dir-sun is municipal
    assert r.status_code == 403 and r.json()["rule"] == "approver_level"
    ok = await desk.decide_correction(requested["id"], headers=desk.officer("dir-he", "central"))
    assert ok.status_code == 200 and ok.json()["decided_by_level"] == "central"


async def test_one_pending_correction_per_case_and_a_decided_one_stays_decided(desk):
    case = await desk.open_case()
    await desk.drive(case, "untrue")
    first = (await desk.request_correction(case["id"])).json()
    second = await desk.request_correction(case["id"], desk.officer("dir-qian", "municipal"))
    assert second.status_code == 409 and second.json()["code"] == "correction_pending"
    assert second.json()["pending_correction_id"] == first["id"]
    rejected = await desk.decide_correction(first["id"], "reject")
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert rejected.json()["successor_case_id"] is None
    still = await desk.case(case["id"])
    assert still["status"] == "final" and still["pending_correction"] is None and len(await desk.events()) == 1
    again = await desk.decide_correction(first["id"])
    assert again.status_code == 409 and again.json()["code"] == "correction_already_decided"
    assert (await desk.request_correction(case["id"])).status_code == 202  # asked afresh, decided afresh


async def warm_pool(desk, case):
    """Open enough pooled connections that requests sent together really overlap (a request that had
    to connect first would trail the others)."""
    await asyncio.gather(*(desk.case(case["id"]) for _ in range(4)))


async def test_officers_deciding_one_correction_at_once_decide_it_once(desk):
    """Three officers answer the same request at the same moment: one decision stands, the others are
    told it was decided, and at most one successor case opens (row locks on PostgreSQL)."""
    for _ in range(3):
        case = await desk.open_case()
        await desk.drive(case, "untrue")
        requested = (await desk.request_correction(case["id"])).json()
        await warm_pool(desk, case)
        answers = await asyncio.gather(
            desk.decide_correction(requested["id"], "approve"),
            desk.decide_correction(requested["id"], "reject", headers=desk.officer("dir-qian", "municipal")),
            desk.decide_correction(requested["id"], "approve", headers=desk.officer("dir-he", "provincial")))
        assert sorted(r.status_code for r in answers) == [200, 409, 409], [r.text for r in answers]
        assert {r.json()["code"] for r in answers if r.status_code == 409} == {"correction_already_decided"}
        [won] = [r.json() for r in answers if r.status_code == 200]
        listed = (await desk.client.get("/v1/cases", params={"report_id": case["report_id"]},
                                        headers=desk.investigator)).json()["items"]
        assert len(listed) == (2 if won["status"] == "approved" else 1)
        [kept] = (await desk.case(case["id"]))["corrections"]
        assert (kept["status"], kept["decided_by"], kept["successor_case_id"]) == (
            won["status"], won["decided_by"], won["successor_case_id"])
    decisions = [r for r in await desk.audit() if r.action in ("correction.approved", "correction.rejected")]
    assert len(decisions) == 3 and len(await desk.events()) == 3  # each first verdict, nothing more


async def test_two_officers_requesting_one_correction_at_once_file_one(desk):
    """The second is told a correction is pending (the case row is locked), never a 500."""
    for _ in range(3):
        case = await desk.open_case()
        await desk.drive(case, "untrue")
        await warm_pool(desk, case)
        answers = await asyncio.gather(desk.request_correction(case["id"]),
                                       desk.request_correction(case["id"], desk.officer("inv-zhou", "county")))
        assert sorted(r.status_code for r in answers) == [202, 409], [r.text for r in answers]
        assert {r.json()["code"] for r in answers if r.status_code == 409} == {"correction_pending"}
        assert [c["status"] for c in (await desk.case(case["id"]))["corrections"]] == ["pending"]


async def test_a_correction_is_only_for_a_final_verdict_and_needs_a_reason_sentence(desk):
    case = await desk.open_case()
    r = await desk.request_correction(case["id"])
    assert r.status_code == 409 and r.json()["code"] == "case_not_editable"
    await desk.drive(case, "untrue")
    r = await desk.client.post(f"/v1/cases/{case['id']}/correction", json={"reason": "改一下"},
                               headers=desk.investigator)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    r = await desk.request_correction(case["id"], bearer(desk.make_token("verification:read", region="3305")))
    assert r.status_code == 403 and r.json()["missing_scopes"] == ["verification:write"]
    requested = (await desk.request_correction(case["id"])).json()
    r = await desk.decide_correction(requested["id"], headers=desk.investigator)
    assert r.status_code == 403 and r.json()["missing_scopes"] == ["verification:approve"]
    elsewhere = desk.officer("dir-hu", "municipal", region="31")
    assert (await desk.decide_correction(requested["id"], headers=elsewhere)).status_code == 404
    assert (await desk.decide_correction("no-such-correction")).status_code == 404


async def test_hostile_bodies_on_the_correction_routes_are_a_4xx_and_change_nothing(desk):
    """On a real final case and a real pending request (the generic walk only reaches unknown ids):
    lone surrogates, NUL, nesting, oversized or mistyped values are refused before anything is written."""
    case = await desk.open_case()
    await desk.drive(case, "untrue")
    requested = (await desk.request_correction(case["id"])).json()
    sentence = json.dumps(DECISION_REASON)[1:-1]
    request_url, decision_url = f"/v1/cases/{case['id']}/correction", f"/v1/corrections/{requested['id']}/decision"
    hostile = [  # REASON stands for a valid reason sentence
        (request_url, '{"reason": "REASON\\ud800"}', 422, "reason"),
        (request_url, '{"reason": "REASON\\u0000"}', 422, "reason"),
        (request_url, '{"reason": ' + "[" * 1000 + "]" * 1000 + "}", 400, None),
        (decision_url, '{"decision": "approve", "reason": "REASON\\udfff"}', 422, "reason"),
        (decision_url, '{"decision": "\\ud800", "reason": "REASON"}', 422, "decision"),
        (decision_url, '{"decision": ["approve"], "reason": "REASON"}', 422, "decision"),
        (decision_url, '{"decision": "approve", "reason": {"reason": "REASON"}}', 422, "reason"),
        (decision_url, '{"decision": "approve", "reason": "' + "REASON" * 40 + '"}', 422, "reason"),
        (decision_url, '{"decision": "approve", "reason": ' + "9" * 5000 + "}", 400, None),
    ]
    for url, body, status, field in hostile:
        r = await desk.client.post(url, content=body.replace("REASON", sentence).encode(), headers={
            "content-type": "application/json", **(desk.corrector if "decision" in url else desk.investigator)})
        assert r.status_code == status and r.headers["content-type"] == "application/problem+json", (body[:60], r.text)
        if field is not None:
            assert r.json()["errors"][0]["field"] == field, (body[:60], r.text)
    after = await desk.case(case["id"])
    assert after["status"] == "final" and [c["status"] for c in after["corrections"]] == ["pending"]
    assert [r.action for r in await desk.audit() if r.action.startswith("correction.")] == ["correction.requested"]


async def test_every_correction_request_and_decision_is_audited_with_both_officers(desk):
    case = await desk.open_case()
    await desk.drive(case, "untrue")
    rejected = (await desk.request_correction(case["id"])).json()
    await desk.decide_correction(rejected["id"], "reject")
    await desk.correct(case["id"])
    records = [r for r in await desk.audit() if r.action.startswith("correction.")]
    assert [(r.action, r.actor) for r in records] == [
        ("correction.requested", "inv-wang"), ("correction.rejected", "dir-sun"),
        ("correction.requested", "inv-wang"), ("correction.approved", "dir-sun")]
    assert records[-1].details["requested_by"] == "inv-wang" and records[-1].details["successor_case_id"]
    assert all(r.reason for r in records) and all(r.object_id == case["id"] for r in records)
    async with desk.sessions() as s:
        assert (await verify_chain(s, AUDIT_KEYS)).valid


async def test_every_officer_action_is_in_an_unbroken_audit_chain(desk):
    case = await desk.open_case()
    await desk.drive(case, "malicious_approved")
    async with desk.sessions() as s:
        report = await verify_chain(s, AUDIT_KEYS)
    assert report.valid and report.records_checked == 4  # findings, malice, conclusion, approval


async def test_triage_signals_on_a_new_case(desk):
    first = await desk.open_case(subject="王建国")
    await desk.drive(first, "untrue")
    await desk.open_case(subject="李四")
    third = await desk.open_case(subject="张三", linked=[first["report_id"]])
    assert third["signals"]["repeat_reporter"] is True
    assert third["signals"]["earlier_untrue_verdicts"] == 1
    assert third["signals"]["targets_many_subjects"] is True
    assert third["signals"]["duplicate_of_concluded"] is True
    anonymous = await desk.open_case(blind_index=None)
    assert anonymous["signals"]["repeat_reporter"] is False
    # Owed to an anonymous reporter as to a named one (intake posts it through the receipt code).
    assert anonymous["acceptance_notice_due"] is not None


async def test_overdue_cases_are_listable_and_counted(desk):
    late = await desk.open_case(received_at=datetime.now(UTC) - timedelta(days=200))
    fresh = await desk.open_case()
    listed = (await desk.client.get("/v1/cases", params={"overdue": "true"}, headers=desk.investigator)).json()
    assert [c["id"] for c in listed["items"]] == [late["id"]] and listed["items"][0]["overdue"] is True
    not_late = (await desk.client.get("/v1/cases", params={"overdue": "false"}, headers=desk.investigator)).json()
    assert [c["id"] for c in not_late["items"]] == [fresh["id"]]
    await desk.drive(late, "untrue")  # concluded cases are no longer overdue
    assert (await desk.client.get("/v1/cases", params={"overdue": "true"}, headers=desk.investigator)
            ).json()["items"] == []


async def test_statistics(desk):
    for path in ("untrue", "untrue", "true_exempted"):
        await desk.drive(await desk.open_case(), path)
    pending = await desk.open_case()
    await desk.find(pending, "unsubstantiated", "unsubstantiated")
    await desk.malice(pending["id"])
    await desk.conclude(pending["id"])
    s = (await desk.client.get("/v1/stats", params={"region": "3305"}, headers=desk.investigator)).json()
    assert s["cases"] == 4 and s["by_verdict"] == {"untrue": 2, "true": 1}
    assert s["fault_tolerance_exempted"] == 1 and s["awaiting_approval"] == 1 and s["overdue"] == 0
    r = await desk.client.get("/v1/stats", params={"region": "31"}, headers=desk.investigator)
    assert r.status_code == 403


async def test_filters_by_verdict_and_status(desk):
    a, b = await desk.open_case(), await desk.open_case()
    await desk.drive(a, "untrue")
    ids = lambda r: [c["id"] for c in r.json()["items"]]  # noqa: E731
    assert ids(await desk.client.get("/v1/cases", params={"verdict": "untrue"}, headers=desk.investigator)) == [a["id"]]
    assert ids(await desk.client.get("/v1/cases", params={"status": "open"}, headers=desk.investigator)) == [b["id"]]
    assert ids(await desk.client.get("/v1/cases", params={"region": "330503"}, headers=desk.investigator)) == []
