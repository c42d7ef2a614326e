"""Clarification rules over HTTP against a real database: opening, consent, methods, scheduling
with conflicts (also under concurrency), iCalendar, records, follow-up, plausible dates and statistics."""

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
import vobject

from shared.calendar import CHINA_TZ, china_date
from tests.clarification.helpers import WRITE, verdict
from tests.conftest import bearer


def today():
    return china_date(datetime.now(UTC))


# --- opening -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("kw", "opens"), [
    ({"verdict": "untrue"}, True), ({"verdict": "malicious"}, True),
    ({"verdict": "true", "exempted": True}, True), ({"verdict": "true"}, False),
    ({"verdict": "inconclusive"}, False),
])
async def test_which_verdicts_open_a_clarification(office, kw, opens):
    c = await office.feed(verdict("r-1", **kw))
    assert (c is not None) == opens
    if opens:
        assert c["status"] == "pending_consent" and c["mandatory"] is False
        assert [a["allegation_id"] for a in c["refuted_allegations"]] == ["a1", "a2"]
        assert c["deadline"] == (china_date(datetime.now(UTC)) + timedelta(days=30)).isoformat()
        [(kind, event)] = await office.events()
        assert kind == "clarification.opened.v1" and event["refuted_allegation_ids"] == ["a1", "a2"]


async def test_the_same_verdict_twice_opens_one_and_grounds_make_it_mandatory(office):
    await office.feed(verdict("r-1", grounds=["repeated_after_conclusion"]))
    c = await office.feed(verdict("r-1", grounds=["repeated_after_conclusion"]))
    assert c["mandatory"] is True and c["grounds"] == ["repeated_after_conclusion"]
    assert len((await office.get("/v1/clarifications")).json()["items"]) == 1
    assert len(await office.events()) == 1


async def test_a_superseding_verdict_that_no_longer_qualifies_cancels_everything(office):
    c = await office.consented("r-1")
    [start] = await office.slot()
    meeting = (await office.book(c["id"], start)).json()
    await office.feed(verdict("r-1", verdict="true", version=2, refuted=("a2",), held=("a1",)))
    after = (await office.get(f"/v1/clarifications/{c['id']}")).json()
    assert after["status"] == "closed" and after["outcome"] == "cancelled"
    assert after["meetings"][0]["status"] == "cancelled"
    assert after["meetings"][0]["history"][-1]["change"] == "cancelled"
    kinds = [(k, e.get("change") or e.get("outcome")) for k, e in await office.events()]
    assert kinds[-2:] == [("clarification.meeting_scheduled.v1", "cancelled"), ("clarification.closed.v1", "cancelled")]
    assert (await office.get(f"/v1/meetings/{meeting['id']}")).json()["status"] == "cancelled"
    await office.feed(verdict("r-1", verdict="untrue", version=1))  # a late, older verdict changes nothing
    assert len((await office.get("/v1/clarifications", params={"report_id": "r-1"})).json()["items"]) == 1


async def test_an_officer_opens_one_for_refuted_allegations_of_a_partially_true_report(office):
    assert await office.feed(verdict("r-1", verdict="true", refuted=("a2",), held=("a1",))) is None
    bad = await office.post("/v1/clarifications", json={"report_id": "r-1", "allegation_ids": ["a1"]})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "allegation_ids[0]"
    r = await office.post("/v1/clarifications", json={"report_id": "r-1", "allegation_ids": ["a2"],
                                                      "grounds": ["harmed_rights_work_life"]})
    assert r.status_code == 201 and r.json()["mandatory"] is True
    assert [a["allegation_id"] for a in r.json()["refuted_allegations"]] == ["a2"]
    assert (await office.post("/v1/clarifications", json={"report_id": "r-1", "allegation_ids": ["a2"]})
            ).status_code == 409
    assert (await office.post("/v1/clarifications", json={"report_id": "r-9", "allegation_ids": ["a2"]})
            ).status_code == 404


async def test_an_inconclusive_report_cannot_be_clarified_by_hand(office, sessions_for):
    """无法查实 is not 不实: nothing was refuted, so there is nothing to clear the official of."""
    assert await office.feed(verdict("r-1", verdict="inconclusive", refuted=("a1",))) is None
    r = await office.post("/v1/clarifications", json={"report_id": "r-1", "allegation_ids": ["a1"]})
    assert r.status_code == 409 and r.json()["code"] == "nothing_to_clarify" and r.json()["verdict"] == "inconclusive"
    assert "inconclusive" in r.json()["detail"]
    assert (await office.get("/v1/clarifications", params={"report_id": "r-1"})).json()["items"] == []


TYPICAL = {"issued_on": None, "issuing_body": "吴兴区纪委监委", "scope": "county",
           "document_number": "吴纪通〔2026〕9号", "accuser_shown": "王**",
           "summary": "王某捏造事实诬告陷害某局副局长，经查属实，已依规依纪严肃处理。"}


async def test_a_typical_case_bulletin_is_issued_once_for_a_final_malicious_verdict_and_counted_apart(office):
    await office.feed(verdict("r-1", verdict="malicious"))
    await office.feed(verdict("r-2", verdict="untrue"))
    body = {**TYPICAL, "report_id": "r-1", "issued_on": str(today())}
    for name in ("王建国", "王", "**", "王某某"):  # a name, no asterisks, no surname: never more than 王**
        r = await office.post("/v1/typical-case-bulletins", json={**body, "accuser_shown": name})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "accuser_shown", name
    r = await office.post("/v1/typical-case-bulletins", json={**body, "report_id": "r-2"})
    assert r.status_code == 409 and r.json()["verdict"] == "untrue"
    assert (await office.post("/v1/typical-case-bulletins", json={**body, "report_id": "r-9"})).status_code == 404
    before = (await office.get("/v1/stats")).json()
    r = await office.post("/v1/typical-case-bulletins", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["accuser_shown"] == "王**" and r.json()["recorded_at"].endswith("+08:00")
    assert (await office.post("/v1/typical-case-bulletins", json=body)).status_code == 409  # once per case
    after = (await office.get("/v1/stats")).json()
    assert after["typical_case_bulletins"] == before["typical_case_bulletins"] + 1
    assert after["bulletins_issued"] == before["bulletins_issued"]  # not a clarification's bulletin
    listed = (await office.get("/v1/typical-case-bulletins")).json()["items"]
    assert [b["report_id"] for b in listed] == ["r-1"]


async def test_an_exempted_official_is_cleared_of_blame_for_the_exempted_conduct_not_told_the_report_was_false(
        office):
    c = await office.feed(verdict("r-1", verdict="true", exempted=True, refuted=(), held=("a1",), excused=("a1",)))
    assert c["basis"] == ["fault_tolerance_exemption"] and c["refuted_allegations"] == []
    [excused] = c["exempted_allegations"]
    assert excused["allegation_id"] == "a1" and excused["reasons"] == [
        {"condition": "no_benefit_transfer", "text": "no transfer of benefits"}]
    [sentence] = c["statement"]
    assert "exempted under fault tolerance" in sentence and "untrue" not in sentence


async def test_a_partly_true_report_clears_each_allegation_on_its_own_basis(office):
    c = await office.feed(verdict("r-1", verdict="true", exempted=True, refuted=("a2",), held=("a1",),
                                  excused=("a1",)))
    assert c["basis"] == ["refuted", "fault_tolerance_exemption"]
    assert [a["allegation_id"] for a in c["refuted_allegations"]] == ["a2"]
    assert [a["allegation_id"] for a in c["exempted_allegations"]] == ["a1"]
    refuted_sentence, exempted_sentence = c["statement"]
    assert "a2" in refuted_sentence and "the report was untrue" in refuted_sentence
    assert "a1" in exempted_sentence and "exempted under fault tolerance" in exempted_sentence


# --- consent and methods -----------------------------------------------------------------------------


async def test_no_meeting_before_consent_and_declining_closes(office):
    c = await office.feed(verdict("r-1"))
    [start] = await office.slot()
    r = await office.book(c["id"], start)
    assert r.status_code == 409 and r.json()["code"] == "not_allowed_in_this_state"
    r = await office.post(f"/v1/clarifications/{c['id']}/consent", json={"consent": False, "notes": "本人不愿公开"})
    assert r.json()["status"] == "closed" and r.json()["outcome"] == "declined"
    assert (await office.events("clarification.closed.v1"))[0][1]["outcome"] == "declined"
    assert (await office.post(f"/v1/clarifications/{c['id']}/consent", json={"consent": True})).status_code == 409


async def test_public_methods_require_a_written_clarification_before_closing(office):
    c = await office.consented("r-1")
    r = await office.put(f"/v1/clarifications/{c['id']}/plan", json={"methods": ["bulletin"], "scope": "unit"})
    assert r.json()["methods"] == ["bulletin", "written"]
    r = await office.post(f"/v1/clarifications/{c['id']}/close")
    assert r.status_code == 409 and r.json()["blockers"] == ["the written clarification is not issued",
                                                             "the bulletin is not recorded"]
    r = await office.post(f"/v1/clarifications/{c['id']}/written", json={"issued_on": str(today()),
                                                                         "reference": "吴纪澄〔2026〕12号"})
    assert r.status_code == 200 and r.json()["written_issued_on"] == str(today())
    r = await office.post(f"/v1/clarifications/{c['id']}/close")
    assert r.status_code == 409 and r.json()["blockers"] == ["the bulletin is not recorded"]
    assert (await office.post(f"/v1/clarifications/{c['id']}/bulletin", json=BULLETIN)).status_code == 200
    r = await office.post(f"/v1/clarifications/{c['id']}/close")
    assert r.status_code == 200 and r.json()["outcome"] == "completed"


BULLETIN = {"issued_on": str(today()), "issuing_body": "吴兴区纪委监委", "scope": "unit",
            "document_number": "吴纪通〔2026〕5号"}


async def test_a_bulletin_is_recorded_once_for_a_plan_with_one_and_counted(office):
    c = await office.consented("r-1")
    r = await office.post(f"/v1/clarifications/{c['id']}/bulletin", json=BULLETIN)
    assert r.status_code == 409 and "no bulletin" in r.json()["detail"]  # not in the plan yet
    await office.put(f"/v1/clarifications/{c['id']}/plan", json={"methods": ["bulletin"], "scope": "unit"})
    future = {**BULLETIN, "issued_on": str(today() + timedelta(days=1))}
    r = await office.post(f"/v1/clarifications/{c['id']}/bulletin", json=future)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "issued_on"
    before = (await office.get("/v1/stats")).json()["bulletins_issued"]
    r = await office.post(f"/v1/clarifications/{c['id']}/bulletin", json=BULLETIN)
    assert r.status_code == 200
    bulletin = r.json()["bulletin"]
    assert {k: bulletin[k] for k in BULLETIN} == BULLETIN and bulletin["recorded_at"].endswith("+08:00")
    assert (await office.post(f"/v1/clarifications/{c['id']}/bulletin", json=BULLETIN)).status_code == 409
    assert (await office.get("/v1/stats")).json()["bulletins_issued"] == before + 1
    assert [a.details["document_number"] for a in await office.audits("bulletin.recorded")] == ["吴纪通〔2026〕5号"]


# --- scheduling -----------------------------------------------------------------------------------------


async def test_conflicts_name_the_clashing_meeting_and_the_rule(office):
    a = await office.consented("r-1", name="王建国")
    b = await office.consented("r-2", name="李四")
    [start] = await office.slot()
    first = (await office.book(a["id"], start)).json()
    r = await office.book(b["id"], start + timedelta(minutes=30))  # same venue, overlapping
    assert r.status_code == 409 and r.headers["content-type"] == "application/problem+json"
    [clash] = r.json()["conflicts"]
    assert clash["kind"] == "venue_booked" and clash["meeting_id"] == first["id"]
    assert datetime.fromisoformat(clash["starts_at"]) == start and clash["starts_at"].endswith("+08:00")
    assert first["starts_at"].endswith("+08:00")
    r = await office.book(a["id"], start + timedelta(minutes=45), venue="hall-2")  # the official is busy
    assert [c["kind"] for c in r.json()["conflicts"]] == ["official_booked"]
    local = start.astimezone(CHINA_TZ)
    saturday = local + timedelta(days=(5 - local.weekday()) % 7 or 7)
    kinds = [c["kind"] for c in (await office.book(b["id"], saturday, venue="hall-2")).json()["conflicts"]]
    assert "non_working_day" in kinds
    evening = local.replace(hour=18, minute=0)
    assert [c["kind"] for c in (await office.book(b["id"], evening, venue="hall-2")).json()["conflicts"]] == [
        "outside_working_hours"]
    late = (await office.slot(venue="hall-2", start=datetime.now(UTC) + timedelta(days=40)))[0]
    refused = (await office.book(b["id"], late, venue="hall-2")).json()
    assert "after_deadline" in [c["kind"] for c in refused["conflicts"]]


async def test_two_simultaneous_bookings_of_one_slot_give_one_201_and_one_409(office):
    a = await office.consented("r-1", name="王建国")
    b = await office.consented("r-2", name="李四")
    [start] = await office.slot()
    results = await asyncio.gather(office.book(a["id"], start), office.book(b["id"], start))
    assert sorted(r.status_code for r in results) == [201, 409]
    loser = next(r for r in results if r.status_code == 409)
    assert loser.json()["conflicts"][0]["kind"] == "venue_booked"


async def test_free_slots_are_bookable_and_disappear_once_booked(office):
    c = await office.consented("r-1")
    slots = await office.slot(count=3)
    assert len(slots) == 3 and slots == sorted(slots)
    assert (await office.book(c["id"], slots[0])).status_code == 201
    after = await office.slot(count=3)
    assert slots[0] not in after and all(s >= slots[0] + timedelta(minutes=90) for s in after[:1])


async def test_reschedule_and_cancel_keep_history_and_ics_follows(office):
    c = await office.consented("r-1")
    first, *_ = await office.slot(count=1)
    m = (await office.book(c["id"], first)).json()
    [later] = await office.slot(start=first + timedelta(days=1))
    r = await office.post(f"/v1/meetings/{m['id']}/reschedule", json={
        "starts_at": later.isoformat(), "duration_minutes": 90, "reason": "当事人出差，改期。"})
    assert r.status_code == 200
    assert [h["change"] for h in r.json()["history"]] == ["rescheduled"]
    assert datetime.fromisoformat(r.json()["history"][0]["starts_at"]) == first
    ics = await office.get(f"/v1/meetings/{m['id']}.ics")
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    event = vobject.readOne(ics.text).vevent
    assert event.dtstart.value == later and event.dtend.value == later + timedelta(minutes=90)
    assert event.dtstart.value.utcoffset() == timedelta(hours=8)
    assert event.uid.value == f"{m['id']}@zhengming" and event.sequence.value == "1"
    assert "王建国" in event.summary.value and event.status.value == "CONFIRMED"
    r = await office.post(f"/v1/meetings/{m['id']}/cancel", json={"reason": "改为书面澄清"})
    assert [h["change"] for h in r.json()["history"]] == ["rescheduled", "cancelled"]
    # Times on the wire are China time with their offset, in the meeting and in its history alike.
    read = (await office.get(f"/v1/meetings/{m['id']}")).json()
    times = [read["starts_at"], read["ends_at"],
             *(h[k] for h in read["history"] for k in ("starts_at", "ends_at", "at"))]
    assert all(t.endswith("+08:00") for t in times), times
    cancelled = vobject.readOne((await office.get(f"/v1/meetings/{m['id']}.ics")).text).vevent
    assert cancelled.status.value == "CANCELLED" and cancelled.sequence.value == "2"


async def test_ics_parses_with_an_independent_parser_and_keeps_local_time(office):
    c = await office.consented("r-1")
    [start] = await office.slot()
    m = (await office.book(c["id"], start, minutes=45)).json()
    text = (await office.get(f"/v1/meetings/{m['id']}.ics")).text
    cal = vobject.readOne(text)
    assert cal.vtimezone.tzid.value == "Asia/Shanghai"
    ev = cal.vevent
    assert ev.dtstart.value.utcoffset() == timedelta(hours=8)  # a local time in its zone, not floating
    assert ev.dtstart.value.astimezone(UTC) == start.astimezone(UTC)
    assert (ev.dtend.value - ev.dtstart.value) == timedelta(minutes=45)
    assert f"DTSTART;TZID=Asia/Shanghai:{start.astimezone(CHINA_TZ):%Y%m%dT%H%M%S}" in text.replace("\r\n ", "")


# --- record and follow-up ----------------------------------------------------------------------------


async def test_held_meeting_then_close_then_follow_up(office):
    c = await office.consented("r-1")
    [start] = await office.slot()
    m = (await office.book(c["id"], start)).json()
    record = {"attendance": 46, "minutes_summary": "通报了核查结论，澄清了不实反映。", "bulletin_issued": True}
    early = await office.post(f"/v1/meetings/{m['id']}/record", json=record)
    assert early.status_code == 409  # not before it happened
    office.travel(start + timedelta(hours=2))
    r = await office.post(f"/v1/meetings/{m['id']}/record", json=record)
    assert r.status_code == 200 and r.json()["status"] == "held" and r.json()["attendance"] == 46
    # A bulletin issued at the meeting makes it a bulletin clarification: its bulletin is recorded too.
    r = await office.post(f"/v1/clarifications/{c['id']}/close")
    assert r.status_code == 409 and r.json()["blockers"] == ["the written clarification is not issued",
                                                             "the bulletin is not recorded"]
    await office.post(f"/v1/clarifications/{c['id']}/written", json={"issued_on": str(start.date()),
                                                                     "reference": "吴纪澄〔2026〕13号"})
    r = await office.post(f"/v1/clarifications/{c['id']}/bulletin",
                          json={**BULLETIN, "issued_on": str(china_date(start))})
    assert r.status_code == 200, r.text
    closed = (await office.post(f"/v1/clarifications/{c['id']}/close")).json()
    assert closed["outcome"] == "completed"
    due = date.fromisoformat(closed["follow_up_due"])
    assert due == china_date(start + timedelta(hours=2)) + timedelta(days=90)
    assert (await office.get("/v1/clarifications", params={"overdue": "follow_up"})).json()["items"] == []
    office.travel(datetime.combine(due, datetime.min.time(), CHINA_TZ) + timedelta(hours=10))
    due_list = (await office.get("/v1/clarifications", params={"overdue": "follow_up"})).json()["items"]
    assert [x["id"] for x in due_list] == [c["id"]]
    r = await office.post(f"/v1/clarifications/{c['id']}/follow-up",
                          json={"visited_on": str(due), "notes": "回访：工作状态良好。"})
    assert r.status_code == 200 and r.json()["follow_up_done_on"] == str(due)
    assert (await office.get("/v1/clarifications", params={"overdue": "follow_up"})).json()["items"] == []
    kinds = [k for k, _ in await office.events()]
    assert kinds == ["clarification.opened.v1", "clarification.meeting_scheduled.v1",
                     "clarification.meeting_held.v1", "clarification.closed.v1"]
    closed_event = (await office.events("clarification.closed.v1"))[0][1]
    assert closed_event["outcome"] == "completed" and closed_event["meetings_held"] == 1
    assert set(closed_event["methods"]) == {"meeting", "written", "bulletin"}
    s = (await office.get("/v1/stats", params={"region": "3305"})).json()
    assert (s["opened"], s["consented"], s["completed"], s["meetings_held"], s["bulletins_issued"],
            s["follow_ups_done"]) == (1, 1, 1, 1, 1, 1)


async def test_other_regions_see_nothing_and_writes_need_the_scope(office):
    c = await office.feed(verdict("r-1"))
    other = bearer(office.make_token(WRITE, region="3301"))
    assert (await office.get(f"/v1/clarifications/{c['id']}", headers=other)).status_code == 404
    reader = bearer(office.make_token("clarification:read", region="3305"))
    assert (await office.post(f"/v1/clarifications/{c['id']}/consent", json={"consent": True},
                              headers=reader)).status_code == 403
    assert (await office.get("/v1/stats", params={"region": "31"})).status_code == 403


async def test_bad_times_are_422_naming_the_field(office):
    c = await office.consented("r-1")
    r = await office.post(f"/v1/clarifications/{c['id']}/meetings", json={
        "starts_at": "2026-11-24T09:00:00", "duration_minutes": 60, "venue_id": "hall-1",
        "host_organization": "纪委", "scope": "unit"})  # no UTC offset: ambiguous
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "starts_at"
    r = await office.post(f"/v1/clarifications/{c['id']}/meetings", json={
        "starts_at": "2026-11-24T09:00:00+08:00", "duration_minutes": 5, "venue_id": "hall 1/../x",
        "host_organization": "纪委", "scope": "galaxy"})
    assert {e["field"] for e in r.json()["errors"]} == {"duration_minutes", "venue_id", "scope"}


async def test_far_off_years_are_422_not_an_overflow(office):
    c = await office.consented("r-1")
    r = await office.post(f"/v1/clarifications/{c['id']}/meetings", json={
        "starts_at": "0001-01-01T00:00:00+08:00", "duration_minutes": 60, "venue_id": "hall-1",
        "host_organization": "纪委", "scope": "unit"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "starts_at"
    r = await office.get("/v1/venues/hall-1/free-slots", params={"from": "0001-01-01T00:00:00+08:00"})
    assert r.status_code == 422
    assert (await office.get("/v1/stats", params={"opened_from": "0001-01-01", "opened_to": "9999-12-31"})
            ).status_code == 200


# --- plausible dates ------------------------------------------------------------------------------------


def refused_naming(r, field):
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]
    return r.json()["errors"][0]


async def write(office, clarification_id, issued_on):
    return await office.post(f"/v1/clarifications/{clarification_id}/written",
                             json={"issued_on": str(issued_on), "reference": "吴纪澄〔2026〕12号"})


async def test_a_written_clarification_issued_on_0001_01_01_or_9999_12_31_is_422_naming_the_field(office):
    c = await office.consented("r-1")
    for attack in ("0001-01-01", "9999-12-31"):
        refused_naming(await write(office, c["id"], attack), "issued_on")
    after = (await office.get(f"/v1/clarifications/{c['id']}")).json()
    assert after["written_issued_on"] is None and after["written_reference"] is None


async def test_a_written_clarification_before_the_opening_or_tomorrow_is_422_and_today_is_fine(office):
    c = await office.consented("r-1")
    problem = refused_naming(await write(office, c["id"], today() - timedelta(days=1)), "issued_on")
    assert problem["type"] == "before_event" and "opened" in problem["message"]
    problem = refused_naming(await write(office, c["id"], today() + timedelta(days=1)), "issued_on")
    assert problem["type"] == "future_date"
    assert (await write(office, c["id"], today())).status_code == 200


async def test_consent_given_before_the_opening_or_in_the_future_is_422_naming_given_at(office):
    c = await office.feed(verdict("r-1"))
    now = datetime.now(UTC).astimezone(CHINA_TZ)
    for attack in ("0001-01-01T10:00:00+08:00", "1900-01-01T10:00:00+08:00", "9998-12-31T10:00:00+08:00",
                   (now - timedelta(days=1)).isoformat(), (now + timedelta(days=1)).isoformat()):
        r = await office.post(f"/v1/clarifications/{c['id']}/consent", json={"consent": True, "given_at": attack})
        refused_naming(r, "given_at")
    after = (await office.get(f"/v1/clarifications/{c['id']}")).json()
    assert after["status"] == "pending_consent" and after["consent"] is None
    r = await office.post(f"/v1/clarifications/{c['id']}/consent", json={"consent": True, "given_at": now.isoformat()})
    assert r.status_code == 200 and r.json()["status"] == "in_progress"


async def test_a_follow_up_visit_before_the_close_or_in_the_future_is_422_naming_visited_on(office):
    c = await office.consented("r-1")
    await office.put(f"/v1/clarifications/{c['id']}/plan", json={"methods": ["written"]})
    await write(office, c["id"], today())
    closed = (await office.post(f"/v1/clarifications/{c['id']}/close")).json()
    assert closed["outcome"] == "completed"
    for attack in ("0001-01-01", "9999-12-31", str(today() - timedelta(days=1)), str(today() + timedelta(days=1))):
        r = await office.post(f"/v1/clarifications/{c['id']}/follow-up",
                              json={"visited_on": attack, "notes": "回访：工作状态良好。"})
        refused_naming(r, "visited_on")
    assert (await office.get(f"/v1/clarifications/{c['id']}")).json()["follow_up_done_on"] is None
    r = await office.post(f"/v1/clarifications/{c['id']}/follow-up",
                          json={"visited_on": str(today()), "notes": "回访：工作状态良好。"})
    assert r.status_code == 200 and r.json()["follow_up_done_on"] == str(today())


async def test_a_follow_up_visit_is_bounded_by_the_close_not_the_opening(office):
    now = datetime.now(UTC)
    office.travel(now - timedelta(days=10))
    c = await office.consented("r-1")
    await office.put(f"/v1/clarifications/{c['id']}/plan", json={"methods": ["written"]})
    assert (await write(office, c["id"], china_date(now - timedelta(days=10)))).status_code == 200
    office.travel(now - timedelta(days=4))
    assert (await office.post(f"/v1/clarifications/{c['id']}/close")).json()["outcome"] == "completed"
    office.travel(now)
    closed_on = china_date(now - timedelta(days=4))
    r = await office.post(f"/v1/clarifications/{c['id']}/follow-up",  # after the opening, before the close
                          json={"visited_on": str(closed_on - timedelta(days=3)), "notes": "回访：工作状态良好。"})
    problem = refused_naming(r, "visited_on")
    assert problem["type"] == "before_event" and "closed" in problem["message"] and str(closed_on) in problem["message"]
    r = await office.post(f"/v1/clarifications/{c['id']}/follow-up",
                          json={"visited_on": str(closed_on), "notes": "回访：工作状态良好。"})
    assert r.status_code == 200 and r.json()["follow_up_done_on"] == str(closed_on)
