"""The officer paths read and write on Core statements (#22): each change answers with what a fresh
read then shows, writes only what it changed, and two officers recording one meeting at once record
it once (the meetings are read after the clarification's lock, not before it)."""

import asyncio
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from services.clarification.models import Clarification, Meeting
from tests.clarification.helpers import verdict

RECORD = {"attendance": 46, "minutes_summary": "通报了核查结论，澄清了不实反映。", "bulletin_issued": False}


async def test_each_change_answers_with_the_clarification_a_fresh_read_shows(office):
    c = await office.feed(verdict("r-1"))
    consented = await office.post(f"/v1/clarifications/{c['id']}/consent",
                                  json={"consent": True, "notes": "本人同意。"})
    assert consented.status_code == 200
    assert consented.json() == (await office.get(f"/v1/clarifications/{c['id']}")).json()
    assert consented.json()["status"] == "in_progress" and consented.json()["consent"] is True
    planned = await office.put(f"/v1/clarifications/{c['id']}/plan",
                               json={"methods": ["meeting"], "scope": "unit", "grounds": ["harmed_rights_work_life"]})
    assert planned.status_code == 200
    assert planned.json() == (await office.get(f"/v1/clarifications/{c['id']}")).json()
    assert planned.json()["methods"] == ["meeting", "written"] and planned.json()["mandatory"] is True
    [first, second] = (await office.slot(count=5))[::4]
    later = await office.book(c["id"], second)
    earlier = await office.book(c["id"], first, venue="hall-2")
    assert later.status_code == earlier.status_code == 201
    fresh = (await office.get(f"/v1/clarifications/{c['id']}")).json()
    assert [m["id"] for m in fresh["meetings"]] == [earlier.json()["id"], later.json()["id"]]  # by start
    assert fresh["meetings"][0] == earlier.json() == (await office.get(f"/v1/meetings/{earlier.json()['id']}")).json()
    office.travel(second + timedelta(hours=2))
    held = await office.post(f"/v1/meetings/{later.json()['id']}/record", json=RECORD)
    assert held.status_code == 200
    assert held.json() == (await office.get(f"/v1/meetings/{later.json()['id']}")).json()
    assert held.json()["status"] == "held" and held.json()["attendance"] == 46


async def test_a_change_writes_the_columns_it_changed_and_leaves_the_rest(office):
    c = await office.consented("r-1")
    [start] = await office.slot()
    m = (await office.book(c["id"], start)).json()
    office.travel(start + timedelta(hours=2))
    assert (await office.post(f"/v1/meetings/{m['id']}/record", json=RECORD)).status_code == 200
    async with office.sessions() as s:
        row = await s.scalar(select(Meeting).where(Meeting.id == m["id"]))
        clarification = await s.scalar(select(Clarification).where(Clarification.id == c["id"]))
    assert (row.status, row.attendance, row.minutes_summary, row.bulletin_issued) == (
        "held", 46, RECORD["minutes_summary"], False)
    assert row.held_recorded_by == "officer-chen" and row.held_recorded_at is not None
    assert (row.venue_id, row.invitees, row.sequence, row.history) == ("hall-1", ["自然资源局全体干部"], 0, [])
    assert clarification.methods == ["meeting", "written"] and clarification.status == "in_progress"
    assert clarification.consent is True and clarification.official_key == row.official_key


async def test_two_officers_recording_one_meeting_at_once_record_it_once(office):
    c = await office.consented("r-1")
    [start] = await office.slot()
    m = (await office.book(c["id"], start)).json()
    office.travel(start + timedelta(hours=2))
    results = await asyncio.gather(*(office.post(f"/v1/meetings/{m['id']}/record", json=RECORD) for _ in range(2)))
    assert sorted(r.status_code for r in results) == [200, 409]
    assert len(await office.events("clarification.meeting_held.v1")) == 1
    assert len(await office.audits("meeting.held")) == 1


async def test_a_meeting_or_clarification_elsewhere_or_unknown_is_404_on_every_officer_path(office):
    c = await office.consented("r-1")
    [start] = await office.slot()
    m = (await office.book(c["id"], start)).json()
    office.headers.update({"Authorization": "Bearer " + office.make_token(
        "clarification:read clarification:write", sub="officer-wang", region="3306")})
    for method, path, body in [
            ("POST", f"/v1/clarifications/{c['id']}/consent", {"consent": True}),
            ("PUT", f"/v1/clarifications/{c['id']}/plan", {"methods": ["written"]}),
            ("POST", f"/v1/meetings/{m['id']}/record", RECORD),
            ("POST", "/v1/meetings/nope/record", RECORD)]:
        r = await office.request(method, path, json=body)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["code"] == ("meeting_not_found" if "/meetings/" in path else "clarification_not_found")


def test_a_fresh_process_whose_first_act_is_a_change_can_make_it():
    # Read rows skip the constructor that configures the mappers on first use: a fresh API process
    # whose first request was a consent answered 500 until the store configured them itself.
    code = ("from services.clarification import store\n"
            "c = store._detached(store.Clarification, {'id': 'x', 'status': 'pending_consent'})\n"
            "c.status = 'in_progress'\n"
            "assert dict(store.attributes.instance_state(c).committed_state) == {'status': 'pending_consent'}\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[2])
