"""The officer routes read and write a case with plain statements (casefile.py), off the ORM: each of
their answers must be the case exactly as the ORM reads it (service.get and api.respond, which the
other routes still use), on cases with every kind of content: allegations with findings, candidate and
confirmed risk filings, verdicts pending, rejected and final, a pending and an approved correction, a
successor case."""

import asyncio
import json
from typing import Any

from sqlalchemy import text

from services.verification import api, casefile, recording, service
from services.verification.schemas import FindingsIn
from shared.auth import Principal
from tests.verification.driver import Officers, filing_body
from tests.verification.test_risk_filing import office, period, today  # noqa: F401 - the fixture

OFFICER = Principal(subject="reader", scopes=frozenset({"verification:read"}), region="3305", org_level="county")


async def orm_answer(desk: Any, case_id: str) -> dict[str, Any]:
    """The case as the ORM path answers it, in a unit of work of its own."""
    async with desk.app.runtime.uow() as uow:
        case = await service.get(uow=uow, case_id=case_id, principal=OFFICER)
        return dict(json.loads((await api.respond(uow, case)).model_dump_json()))


async def same_as_orm(desk: Any, response: Any) -> dict[str, Any]:
    """The answer, asserted to hold what the ORM path answers for the case now, field for field in order."""
    assert response.status_code == 200, response.text
    body, expected = response.json(), await orm_answer(desk, response.json()["id"])
    assert body == expected and json.dumps(body) == json.dumps(expected)
    return dict(body)


async def test_every_officer_route_answers_the_case_exactly_as_the_orm_reads_it(office):  # noqa: F811
    cases = Officers(office.client, investigator=office.cases.investigator, approver=office.cases.approver,
                     corrector=office.officer("dir-sun", "verification:read verification:approve", "municipal", "33"))
    inv = cases.investigator
    filed = (await office.filed(filing_body(*period())))["id"]
    assert (await office.file(filing_body(*period()))).status_code == 201  # a candidate never filed
    exempted = await office.open_case(today(), today())
    assert len(exempted["risk_filing_links"]) == 2
    r = await office.client.post(f"/v1/cases/{exempted['id']}/risk-filing-links/{filed}", headers=inv,
                                 json={"decision": "confirmed", "reason": "举报反映的正是该镇已备案的改革事项。"})
    assert r.status_code == 200
    await same_as_orm(office, await cases.exempt(exempted["id"]))
    await same_as_orm(office, await cases.find(exempted, "partially_substantiated", "unsubstantiated"))
    r = await cases.conclude(exempted["id"])
    assert r.status_code == 200 and r.json()["fault_tolerance_exempted"] is True
    assert (await cases.request_correction(exempted["id"])).status_code == 202
    pending = await same_as_orm(office, await office.client.get(f"/v1/cases/{exempted['id']}", headers=inv))
    assert pending["pending_correction"] is not None and pending["prior_filings"]
    decided = await cases.decide_correction(pending["pending_correction"]["id"])
    assert decided.status_code == 200
    successor = await same_as_orm(office, await office.client.get(
        f"/v1/cases/{decided.json()['successor_case_id']}", headers=inv))
    assert successor["supersedes_case_id"] == exempted["id"]

    malicious = await office.open_case(None)
    await same_as_orm(office, await cases.find(malicious, "unsubstantiated"))
    await same_as_orm(office, await cases.malice(malicious["id"]))
    assert (await cases.conclude(malicious["id"])).json()["status"] == "awaiting_approval"
    await same_as_orm(office, await cases.decide(malicious["id"], "reject"))
    assert (await cases.conclude(malicious["id"])).json()["status"] == "awaiting_approval"
    approved = await same_as_orm(office, await cases.decide(malicious["id"], "approve"))
    assert [v["state"] for v in approved["verdicts"]] == ["rejected", "final"]

    untouched = await office.open_case(today())
    listed = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        r = await office.client.get("/v1/cases", params=params, headers=inv)
        assert r.status_code == 200
        listed += r.json()["items"]
        if (cursor := r.json()["next_cursor"]) is None:
            break
    assert [c["id"] for c in listed] == [exempted["id"], successor["id"], malicious["id"], untouched["id"]]
    for item in listed:
        expected = await orm_answer(office, item["id"])
        assert item == expected and json.dumps(item) == json.dumps(expected)
        r = await office.client.get(f"/v1/cases/{item['id']}", headers=inv)
        assert r.json() == item


async def test_a_conclusion_waiting_for_a_concurrent_findings_call_classifies_the_findings_it_recorded(office):  # noqa: F811
    """The case and its allegations come in one statement that locks the case: when it waited for
    another writer, it reads again, so a conclusion never classifies the allegations as they were
    before the findings it waited for (PostgreSQL; SQLite writes one at a time)."""
    if office.app.runtime.settings.database_url.startswith("sqlite"):
        return
    case = await office.open_case(today(), today())
    writer = Principal(subject="inv-li", scopes=frozenset({"verification:write"}), region="3305", org_level="county")
    body = FindingsIn.model_validate({"findings": [{"allegation_id": a["allegation_id"], "finding": "unsubstantiated"}
                                                   for a in case["allegations"]]})
    async with office.app.runtime.uow() as uow:
        file = await casefile.get_file(uow=uow, case_id=case["id"], principal=writer, for_writing=True)
        await recording.record_findings(uow=uow, file=file, principal=writer, body=body)
        conclusion = asyncio.create_task(office.cases.conclude(case["id"]))
        deadline = asyncio.get_running_loop().time() + 60
        async with office.sessions() as s:  # the conclusion waits for this unit's lock on the case
            while True:
                waiting = await s.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                              "AND datname = current_database()"))
                # pg_stat_activity is read once per transaction and kept until it ends: end it, or a first
                # look taken before the conclusion reached the lock is all this loop would ever see.
                await s.rollback()
                if waiting:
                    break
                assert asyncio.get_running_loop().time() < deadline, ("the conclusion never waited for the lock",
                                                                       conclusion.done() and conclusion.result().text)
                await asyncio.sleep(0.01)
        await uow.commit()
    r = await conclusion
    assert r.status_code == 200, r.text
    assert r.json()["verdict"] == "untrue" and r.json()["refuted_allegation_ids"] == [
        a["allegation_id"] for a in case["allegations"]]
