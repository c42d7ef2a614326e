"""Repair and revocation over HTTP on a real database: each requested by one officer with a reason and
granted or refused by another with theirs, the rule checked when asked and again when granted."""

import asyncio
import json

from tests.conftest import bearer
from tests.credit_blacklist.helpers import (
    GRANT_REASON,
    REPAIR_REASON,
    REVOCATION_REASON,
    check,
    decide,
    object_to,
)
from tests.factories import resident_id

# --- repair and revocation -------------------------------------------------------------------------

REFUSE_REASON = "经审核，申请所附材料不足以证明所述情况，不予同意。"
PAST_MINIMUM = 15 + 3 * 31 + 2  # the objection window, then the 3-month minimum of an ordinary entry


async def ask(desk, entry_id, kind, reason=None, headers=None):
    path = {"repair": "repair", "revocation": "revocation"}[kind]
    return await desk.client.post(f"/v1/entries/{entry_id}/{path}",
                                  json={"reason": reason or (REPAIR_REASON if kind == "repair" else REVOCATION_REASON)},
                                  headers=headers or desk.writer)


async def answer(desk, kind, request_id, decision="grant", headers=None, reason=None):
    reason = reason or (GRANT_REASON if decision == "grant" else REFUSE_REASON)
    return await desk.client.post(f"/v1/{kind}s/{request_id}/decision", json={"decision": decision, "reason": reason},
                                  headers=headers or desk.decider)


async def test_repair_before_the_minimum_period_is_409_saying_when(desk):
    entry_id = await desk.listed()
    await desk.age(entry_id, 20)
    r = await ask(desk, entry_id, "repair")
    entry = (await desk.client.get(f"/v1/entries/{entry_id}", headers=desk.reader)).json()
    assert r.status_code == 409 and r.json()["code"] == "repair_not_yet_possible"
    assert r.json()["possible_from"] == entry["repair_possible_from"]
    assert entry["repair_possible_from"] in r.json()["detail"]
    assert entry["removal_requests"] == [] and await desk.audits("repair.requested") == []


async def test_repair_is_requested_by_one_officer_and_granted_by_another_with_both_reasons(desk, make_token):
    entry_id = await desk.listed()
    await desk.age(entry_id, PAST_MINIMUM)
    r = await ask(desk, entry_id, "repair")
    assert r.status_code == 201, r.text
    filed = r.json()
    assert (filed["kind"], filed["status"], filed["requested_by"], filed["reason"]) == (
        "repair", "pending", "officer-2", REPAIR_REASON)
    assert (await check(desk))["listed"] is True  # asking changes nothing yet
    queue = (await desk.client.get("/v1/repairs", params={"status": "pending"}, headers=desk.reader)).json()
    assert [x["id"] for x in queue["items"]] == [filed["id"]]

    r = await answer(desk, "repair", filed["id"])
    assert r.status_code == 200 and r.json()["status"] == "repaired" and r.json()["removal_reason"] == "credit_repaired"
    [decided] = r.json()["removal_requests"]
    assert (decided["status"], decided["decided_by"], decided["decision_reason"]) == ("granted", "officer-3",
                                                                                      GRANT_REASON)
    assert (await check(desk))["listed"] is False
    [asked] = await desk.audits("repair.requested")
    [granted] = await desk.audits("repair.granted")
    assert (asked.actor, asked.reason, asked.object_id) == ("officer-2", REPAIR_REASON, entry_id)
    assert (granted.actor, granted.reason, granted.details["requested_by"], granted.details["request_reason"]) == (
        "officer-3", GRANT_REASON, "officer-2", REPAIR_REASON)
    types = [t for t, _ in await desk.events()]
    assert types == ["blacklist.entry_notified.v1", "blacklist.entry_activated.v1", "blacklist.entry_removed.v1"]
    assert (await desk.events("blacklist.entry_removed.v1"))[0][1]["reason_code"] == "credit_repaired"
    assert (await desk.client.get("/v1/repairs", params={"status": "pending"}, headers=desk.reader)
            ).json()["items"] == []
    chain = (await desk.client.get("/v1/audit/verify", headers=bearer(make_token("audit:read")))).json()
    assert chain["valid"] is True and chain["records_checked"] >= 2


async def test_a_repair_granted_by_its_requester_is_403_naming_the_rule(desk):
    entry_id = await desk.listed()
    await desk.age(entry_id, PAST_MINIMUM)
    filed = (await ask(desk, entry_id, "repair")).json()
    r = await answer(desk, "repair", filed["id"], headers=desk.writer)
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    assert (r.json()["code"], r.json()["rule"]) == ("decision_refused", "separation_of_duties")
    assert (await check(desk))["listed"] is True and await desk.audits("repair.granted") == []
    assert (await answer(desk, "repair", filed["id"], "refuse", headers=desk.writer)).status_code == 403


async def test_a_refused_repair_leaves_the_entry_listed_and_can_be_asked_again(desk):
    entry_id = await desk.listed()
    await desk.age(entry_id, PAST_MINIMUM)
    filed = (await ask(desk, entry_id, "repair")).json()
    again = await ask(desk, entry_id, "revocation")
    assert again.status_code == 409 and again.json()["code"] == "removal_request_pending"
    assert again.json()["pending_request_id"] == filed["id"]
    r = await answer(desk, "repair", filed["id"], "refuse")
    assert r.status_code == 200 and r.json()["status"] == "active" and r.json()["removal_reason"] is None
    assert r.json()["removal_requests"][0]["status"] == "refused"
    assert (await check(desk))["listed"] is True
    [refused] = await desk.audits("repair.refused")
    assert (refused.actor, refused.reason) == ("officer-3", REFUSE_REASON)
    late = await answer(desk, "repair", filed["id"])
    assert late.status_code == 409 and late.json()["code"] == "removal_request_already_decided"
    assert (await ask(desk, entry_id, "repair")).status_code == 201
    assert [t for t, _ in await desk.events()] == ["blacklist.entry_notified.v1", "blacklist.entry_activated.v1"]


async def test_a_repair_or_revocation_reason_must_be_a_sentence(desk):
    entry_id = await desk.listed()
    await desk.age(entry_id, PAST_MINIMUM)
    for kind in ("repair", "revocation"):
        for reason in ("同意", "已道歉。", "aaaaaaaaaaaaaaaaaaaa", " " * 30):
            r = await ask(desk, entry_id, kind, reason=reason)
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason", (kind, reason)
    filed = (await ask(desk, entry_id, "repair")).json()
    r = await desk.client.post(f"/v1/repairs/{filed['id']}/decision", json={"decision": "grant", "reason": "同意"},
                               headers=desk.decider)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"
    for reason in ("同意。同意。同意。", "aaaaaaaaaaaaaaaaaaaa"):  # long enough, but not a sentence
        r = await answer(desk, "repair", filed["id"], "refuse", reason=reason)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason", reason
    assert await desk.audits("repair.refused") == [] and await desk.audits("repair.granted") == []


async def test_hostile_reasons_on_repair_and_revocation_bodies_are_422_naming_the_reason(desk):
    repaired, revoked = [await desk.listed(id_number=resident_id(seq=seq)) for seq in (11, 12)]
    await desk.age(repaired, PAST_MINIMUM)
    repair = (await ask(desk, repaired, "repair")).json()
    revocation = (await ask(desk, revoked, "revocation")).json()
    sentence = json.dumps(REPAIR_REASON)[1:-1]  # its JSON text, escaped to ASCII
    hostile = {"a lone surrogate": f'"{sentence}\\ud800"', "a NUL": f'"{sentence}\\u0000"',
               "too long": json.dumps(REPAIR_REASON * 40), "nested": "[" * 50 + "]" * 50, "a number": "1e999"}
    routes = [(f"/v1/entries/{repaired}/repair", "", desk.writer),
              (f"/v1/entries/{revoked}/revocation", "", desk.writer),
              (f"/v1/repairs/{repair['id']}/decision", '"decision": "grant", ', desk.decider),
              (f"/v1/revocations/{revocation['id']}/decision", '"decision": "grant", ', desk.decider)]
    for path, fields, headers in routes:
        for name, value in hostile.items():
            r = await desk.client.post(path, content=f'{{{fields}"reason": {value}}}'.encode(),
                                       headers={**headers, "content-type": "application/json"})
            assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", (path, name)
            assert r.json()["errors"][0]["field"] == "reason", (path, name, r.text)
    for entry_id in (repaired, revoked):
        [request] = (await desk.client.get(f"/v1/entries/{entry_id}", headers=desk.reader)).json()["removal_requests"]
        assert request["status"] == "pending"
    assert len(await desk.audits("repair.requested")) == 1 and len(await desk.audits("revocation.requested")) == 1
    assert await desk.events("blacklist.entry_removed.v1") == []


async def test_the_queue_pages_oldest_first_and_filters_by_status(desk):
    filed = []
    for seq in (21, 22, 23):
        entry_id = await desk.listed(id_number=resident_id(seq=seq))
        await desk.age(entry_id, PAST_MINIMUM)
        filed.append((await ask(desk, entry_id, "repair")).json()["id"])
    assert (await answer(desk, "repair", filed[0], "refuse")).status_code == 200
    seen, cursor = [], None
    for _ in range(3):
        page = (await desk.client.get("/v1/repairs", params={"limit": 2, **({"cursor": cursor} if cursor else {})},
                                      headers=desk.reader)).json()
        assert len(page["items"]) <= 2
        seen += [x["id"] for x in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert seen == filed
    pending = (await desk.client.get("/v1/repairs", params={"status": "pending", "limit": 1},
                                     headers=desk.reader)).json()
    assert [x["id"] for x in pending["items"]] == filed[1:2] and pending["next_cursor"] is not None
    assert (await desk.client.get("/v1/revocations", headers=desk.reader)).json()["items"] == []


async def test_revocation_is_requested_by_one_officer_and_granted_by_another(desk):
    entry_id = await desk.listed()
    await desk.age(entry_id, 20)
    filed = (await ask(desk, entry_id, "revocation")).json()
    assert (filed["kind"], filed["status"]) == ("revocation", "pending")
    assert (await check(desk))["listed"] is True
    r = await answer(desk, "revocation", filed["id"], headers=desk.writer)
    assert r.status_code == 403 and r.json()["rule"] == "separation_of_duties"
    assert "other than the one who requested it" in r.json()["detail"]
    assert (await answer(desk, "repair", filed["id"])).status_code == 404  # a revocation is not a repair
    r = await answer(desk, "revocation", filed["id"])
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    assert r.json()["removal_reason"] == "revocation_granted"
    assert (await check(desk))["listed"] is False
    [(_, removed)] = await desk.events("blacklist.entry_removed.v1")
    assert (removed["entry_id"], removed["status"], removed["reason_code"]) == (entry_id, "revoked",
                                                                                "revocation_granted")
    [asked] = await desk.audits("revocation.requested")
    [granted] = await desk.audits("revocation.granted")
    assert (asked.actor, asked.reason) == ("officer-2", REVOCATION_REASON)
    assert (granted.actor, granted.reason, granted.details["requested_by"]) == ("officer-3", GRANT_REASON,
                                                                                "officer-2")
    r = await ask(desk, entry_id, "revocation")
    assert r.status_code == 409 and r.json()["code"] == "revocation_not_possible"
    stored = await desk.stored(entry_id)
    assert (stored.removed_by, stored.removal_note) == ("officer-3", GRANT_REASON)


async def test_a_notice_can_be_revoked_but_not_while_its_objection_is_heard(desk):
    entry_id = await desk.listed()
    objection = (await object_to(desk, entry_id)).json()
    r = await ask(desk, entry_id, "revocation")
    assert r.status_code == 409 and r.json()["code"] == "revocation_not_possible"
    assert "decide the objection first" in r.json()["detail"]
    assert (await decide(desk, objection["id"], "reject")).json()["status"] == "notified"
    filed = (await ask(desk, entry_id, "revocation")).json()
    assert (await answer(desk, "revocation", filed["id"])).json()["status"] == "revoked"


async def test_a_grant_checks_the_rule_again_on_the_day_it_is_decided(desk):
    entry_id = await desk.listed()
    await desk.age(entry_id, 20)
    filed = (await ask(desk, entry_id, "revocation")).json()
    await object_to(desk, entry_id)  # an objection arrives while the request waits
    r = await answer(desk, "revocation", filed["id"])
    assert r.status_code == 409 and r.json()["code"] == "revocation_not_possible"
    entry = (await desk.client.get(f"/v1/entries/{entry_id}", headers=desk.reader)).json()
    assert entry["status"] == "under_review" and entry["removal_requests"][0]["status"] == "pending"


async def test_two_officers_deciding_one_request_at_once_decide_once(desk, make_token):
    entry_id = await desk.listed()
    await desk.age(entry_id, PAST_MINIMUM)
    filed = (await ask(desk, entry_id, "repair")).json()
    another = bearer(make_token("blacklist:read blacklist:write", region="3305", sub="officer-4"))
    first, second = await asyncio.gather(answer(desk, "repair", filed["id"]),
                                         answer(desk, "repair", filed["id"], "refuse", headers=another))
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    assert len(await desk.audits("repair.granted")) + len(await desk.audits("repair.refused")) == 1


async def test_requests_outside_jurisdiction_are_not_found(desk, make_token):
    other = await desk.listed(region="310101")
    await desk.age(other, PAST_MINIMUM)
    assert (await ask(desk, other, "repair")).status_code == 404
    outsider = bearer(make_token("blacklist:read blacklist:write", region="31", sub="officer-sh"))
    filed = (await ask(desk, other, "repair", headers=outsider)).json()
    r = await answer(desk, "repair", filed["id"])
    assert r.status_code == 404 and r.json()["code"] == "removal_request_not_found"
    assert (await desk.client.get("/v1/repairs", headers=desk.reader)).json()["items"] == []
    shanghai = (await desk.client.get("/v1/repairs", headers=outsider)).json()["items"]
    assert [x["id"] for x in shanghai] == [filed["id"]]
