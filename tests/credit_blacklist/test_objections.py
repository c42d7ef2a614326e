"""Objections over HTTP on a real database: recorded by one officer, decided by another, the entry under
review (and unlisted) meanwhile, upheld (revoked) or rejected (back where it was), with events and audit."""

import asyncio
import subprocess
import sys
from pathlib import Path

from tests.credit_blacklist.helpers import (
    check,
    decide,
    object_to,
)

# --- objections -------------------------------------------------------------------------------------


async def test_an_objection_decided_by_its_recorder_is_403_naming_the_rule(desk):
    entry_id = await desk.listed()
    objection = (await object_to(desk, entry_id)).json()
    assert objection["filed_by"] == "officer-2"
    for decision in ("uphold", "reject"):
        r = await decide(desk, objection["id"], decision, headers=desk.writer)
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
        assert (r.json()["code"], r.json()["rule"]) == ("decision_refused", "separation_of_duties")
        assert "other than the one who recorded it" in r.json()["detail"]
    entry = (await desk.client.get(f"/v1/entries/{entry_id}", headers=desk.reader)).json()
    assert entry["status"] == "under_review" and entry["objections"][0]["decision"] is None
    assert await desk.audits("objection.upheld") == [] and await desk.audits("objection.rejected") == []
    assert (await decide(desk, objection["id"], "uphold")).json()["status"] == "revoked"  # another officer may


async def test_an_objection_puts_the_entry_under_review_and_unlisted_until_decided(desk):
    entry_id = await desk.listed()
    await desk.age(entry_id, 20)
    assert (await check(desk))["listed"] is True
    r = await object_to(desk, entry_id)  # while active
    assert r.status_code == 201 and r.json()["status_before"] == "active"
    entry = (await desk.client.get(f"/v1/entries/{entry_id}", headers=desk.reader)).json()
    assert entry["status"] == "under_review" and entry["objections"][0]["id"] == r.json()["id"]
    assert (await check(desk))["listed"] is False
    again = await object_to(desk, entry_id)
    assert again.status_code == 409 and again.json()["code"] == "objection_refused"
    rejected = await decide(desk, r.json()["id"], "reject")
    assert rejected.status_code == 200
    assert (rejected.json()["status"], rejected.json()["listed_until"]) == ("active", entry["listed_until"])
    assert (await check(desk))["listed"] is True
    assert (await decide(desk, r.json()["id"], "uphold")).json()["code"] == "objection_already_decided"
    [filed] = await desk.audits("objection.filed")
    [decided] = await desk.audits("objection.rejected")
    assert (filed.actor, decided.actor, decided.reason) == ("officer-2", "officer-3", "经复核，决定如上。")
    assert decided.details["recorded_by"] == "officer-2"


async def test_an_upheld_objection_revokes_the_entry_and_says_so(desk):
    entry_id = await desk.listed()
    objection = (await object_to(desk, entry_id)).json()
    r = await decide(desk, objection["id"], "uphold")
    assert r.status_code == 200 and r.json()["status"] == "revoked"
    assert r.json()["removal_reason"] == "objection_upheld"
    assert r.json()["objections"][0]["decision"] == "upheld"
    [(_, removed)] = await desk.events("blacklist.entry_removed.v1")
    assert (removed["entry_id"], removed["status"], removed["reason_code"]) == (entry_id, "revoked",
                                                                                "objection_upheld")
    assert (await object_to(desk, entry_id)).status_code == 409
    assert len(await desk.audits("objection.upheld")) == 1


async def test_two_officers_deciding_at_once_decide_once(desk):
    entry_id = await desk.listed()
    objection = (await object_to(desk, entry_id)).json()
    first, second = await asyncio.gather(decide(desk, objection["id"], "uphold"),
                                         decide(desk, objection["id"], "reject"))
    assert sorted([first.status_code, second.status_code]) == [200, 409]
    assert len(await desk.audits("objection.upheld")) + len(await desk.audits("objection.rejected")) == 1


async def test_a_rejected_objection_after_the_window_lists_from_the_decision_day(desk):
    entry_id = await desk.listed()
    objection = (await object_to(desk, entry_id)).json()
    assert objection["status_before"] == "notified"
    await desk.age(entry_id, 20)  # the review outlasted the window
    r = (await decide(desk, objection["id"], "reject")).json()
    assert r["status"] == "active" and r["listed_from"] == (await desk.stored(entry_id)).listed_from.isoformat()
    [(_, activated)] = await desk.events("blacklist.entry_activated.v1")
    assert activated["listed_from"] == r["listed_from"] and activated["listed_until"] == r["listed_until"]


async def test_a_rejected_objection_inside_the_window_returns_to_notified(desk):
    entry_id = await desk.listed()
    objection = (await object_to(desk, entry_id)).json()
    assert (await decide(desk, objection["id"], "reject")).json()["status"] == "notified"


async def test_objections_outside_jurisdiction_or_out_of_range_are_refused(desk):
    other = await desk.listed(region="310101")
    assert (await object_to(desk, other)).status_code == 404
    mine = await desk.listed()
    r = await object_to(desk, mine, received_on="2020-01-01")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "received_on"
    r = await desk.client.post("/v1/objections/nope/decision", json={"decision": "uphold", "reason": "理由充分。"},
                               headers=desk.writer)
    assert r.status_code == 404 and r.json()["code"] == "objection_not_found"


async def test_two_objections_to_one_entry_at_once_record_one(desk):
    entry_id = await desk.listed()
    first, second = await asyncio.gather(object_to(desk, entry_id), object_to(desk, entry_id))
    assert sorted([first.status_code, second.status_code]) == [201, 409]
    assert len(await desk.audits("objection.filed")) == 1
    entry = (await desk.client.get(f"/v1/entries/{entry_id}", headers=desk.reader)).json()
    assert entry["status"] == "under_review" and len(entry["objections"]) == 1


async def test_filing_and_deciding_answer_with_what_a_fresh_read_shows(desk):
    entry_id = await desk.listed()
    filed = await object_to(desk, entry_id)
    assert filed.status_code == 201
    entry = (await desk.client.get(f"/v1/entries/{entry_id}", headers=desk.reader)).json()
    assert entry["objections"] == [filed.json()]
    stored = await desk.stored(entry_id)
    assert (stored.status, stored.status_before_review) == ("under_review", "notified")
    decided = await decide(desk, filed.json()["id"], "reject")
    assert decided.status_code == 200
    assert decided.json() == (await desk.client.get(f"/v1/entries/{entry_id}", headers=desk.reader)).json()
    assert decided.json()["status"] == "notified" and decided.json()["objections"][0]["decision"] == "rejected"
    stored = await desk.stored(entry_id)
    assert (stored.status, stored.status_before_review) == ("notified", None)


def test_a_fresh_process_whose_first_act_is_an_objection_can_make_it():
    # As for clarification's store: rows read skip the constructor that configures the mappers.
    code = ("from services.credit_blacklist import objections\n"
            "e = objections._detached(objections.Entry, {'id': 'x', 'status': 'notified'})\n"
            "e.status = 'under_review'\n"
            "assert dict(objections.attributes.instance_state(e).committed_state) == {'status': 'notified'}\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
