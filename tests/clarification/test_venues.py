"""The venue register over HTTP on a real database: meetings are booked only at a registered, active
venue of the officer's jurisdiction and within its hours; the free-slot answer, the meeting and its
.ics carry the venue's name and address; a database from before the register keeps its meetings."""

import asyncio
from datetime import UTC, date, datetime, time, timedelta

import sqlalchemy as sa
import vobject

from services.registry import SERVICES
from shared.calendar import CHINA_TZ
from shared.db import UTCDateTime
from shared.migrate import upgrade
from tests.clarification.helpers import WRITE
from tests.conftest import bearer

HALL = {"region_code": "330502", "name": "吴兴区纪委监委三楼会议室", "address": "浙江省湖州市吴兴区青铜路88号"}


async def test_a_venue_is_registered_once_then_replaced_and_the_audit_trail_says_so(office):
    r = await office.put("/v1/venues/wuxing-hall-3", json=HALL)
    assert r.status_code == 201
    assert r.json()["opens_at"] == "08:30" and r.json()["closes_at"] == "17:30"  # the service's day
    assert r.json()["updated_at"].endswith("+08:00") and r.json()["updated_by"] == "officer-chen"
    r = await office.put("/v1/venues/wuxing-hall-3", json={**HALL, "address": "湖州市吴兴区青铜路90号"})
    assert r.status_code == 200 and r.json()["address"] == "湖州市吴兴区青铜路90号"
    assert r.json()["opens_at"] == "08:30"  # omitted hours keep the entry's
    assert (await office.get("/v1/venues/wuxing-hall-3")).json()["address"] == "湖州市吴兴区青铜路90号"
    [registered] = [a for a in await office.audits("venue.registered") if a.object_id == "wuxing-hall-3"]
    [updated] = await office.audits("venue.updated")
    assert registered.details["address"] == HALL["address"] and updated.object_id == "wuxing-hall-3"
    assert updated.details["before"]["address"] == HALL["address"]


async def test_venues_of_another_jurisdiction_are_neither_registered_nor_seen(office):
    r = await office.put("/v1/venues/hz-hall", json={**HALL, "region_code": "330102"})
    assert r.status_code == 403
    other = bearer(office.make_token(WRITE, sub="officer-hz", region="3301"))
    assert (await office.put("/v1/venues/hz-hall", json={**HALL, "region_code": "330102"}, headers=other)
            ).status_code == 201
    assert (await office.get("/v1/venues/hz-hall")).status_code == 404
    assert (await office.get("/v1/venues/hz-hall/free-slots")).status_code == 404
    # Nor is a venue of 3301 taken over by re-registering it under 3305.
    assert (await office.put("/v1/venues/hz-hall", json=HALL)).status_code == 404
    listed = [v["id"] for v in (await office.get("/v1/venues")).json()["items"]]
    assert "hz-hall" not in listed and {"hall-1", "hall-2"} <= set(listed)
    assert (await office.get("/v1/venues", params={"region": "3301"})).status_code == 403


async def test_hours_that_end_before_they_begin_are_refused_naming_the_field(office):
    r = await office.put("/v1/venues/x", json={**HALL, "opens_at": "14:00", "closes_at": "09:00"})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["closes_at"]
    r = await office.put("/v1/venues/x", json={**HALL, "opens_at": "08:00+08:00"})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["opens_at"]
    # Keeping the entry's opening time, a new closing time before it is refused as well.
    await office.put("/v1/venues/x", json={**HALL, "opens_at": "13:00", "closes_at": "17:00"})
    r = await office.put("/v1/venues/x", json={**HALL, "closes_at": "12:00"})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["closes_at"]


async def test_a_meeting_needs_a_registered_active_venue(office):
    c = await office.consented("r-1")
    [start] = await office.slot()
    r = await office.book(c["id"], start, venue="nowhere")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "venue_id"
    assert "PUT /v1/venues/nowhere" in r.json()["errors"][0]["message"]
    assert (await office.get("/v1/venues/nowhere/free-slots")).status_code == 404
    retired = {**HALL, "active": False}
    assert (await office.put("/v1/venues/hall-2", json=retired)).status_code == 200
    r = await office.book(c["id"], start, venue="hall-2")
    assert r.status_code == 422 and "retired" in r.json()["errors"][0]["message"]
    assert (await office.get("/v1/venues/hall-2/free-slots")).json()["slots"] == []
    assert [v["id"] for v in (await office.get("/v1/venues", params={"active": "false"})).json()["items"]] == [
        "hall-2"]
    # A meeting already at a venue that is then retired cannot be moved within it either.
    m = (await office.book(c["id"], start)).json()
    await office.put("/v1/venues/hall-1", json=retired)
    r = await office.post(f"/v1/meetings/{m['id']}/reschedule", json={
        "starts_at": (start + timedelta(days=1)).isoformat(), "duration_minutes": 60, "reason": "改期"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "venue_id"
    assert (await office.get(f"/v1/meetings/{m['id']}")).json()["venue_name"] is not None  # the meeting stays


async def test_free_slots_and_bookings_keep_to_the_venue_hours(office):
    await office.put("/v1/venues/morning-room", json={**HALL, "opens_at": "09:00", "closes_at": "11:00"})
    answer = (await office.get("/v1/venues/morning-room/free-slots", params={"count": 6, "duration": 60})).json()
    assert answer["venue"]["name"] == HALL["name"] and answer["venue"]["address"] == HALL["address"]
    local = [(datetime.fromisoformat(s["starts_at"]).astimezone(CHINA_TZ),
              datetime.fromisoformat(s["ends_at"]).astimezone(CHINA_TZ)) for s in answer["slots"]]
    assert len(local) == 6
    assert all(time(9) <= s.time() and e.time() <= time(11) for s, e in local), local
    c = await office.consented("r-1")
    early = local[-1][0].replace(hour=8, minute=30)  # a working morning to come, before this venue opens
    r = await office.book(c["id"], early, venue="morning-room")
    assert r.status_code == 409
    [conflict] = r.json()["conflicts"]
    assert conflict["kind"] == "outside_working_hours" and "09:00-11:00" in conflict["detail"]
    assert (await office.book(c["id"], local[0][0], venue="morning-room")).status_code == 201


async def test_the_meeting_and_its_ics_carry_the_venue_as_booked_in_china_time(office):
    c = await office.consented("r-1")
    [start] = await office.slot()
    m = (await office.book(c["id"], start)).json()
    assert m["venue_name"] == "吴兴区纪委监委hall-1会议室" and m["venue_address"] == "湖州市吴兴区青铜路88号"
    event = vobject.readOne((await office.get(f"/v1/meetings/{m['id']}.ics")).text).vevent
    assert event.location.value == "吴兴区纪委监委hall-1会议室，湖州市吴兴区青铜路88号"
    assert start.astimezone(CHINA_TZ).isoformat() in event.description.value
    assert "+00:00" not in event.description.value and "+08:00" in event.description.value
    # Renaming the venue later does not rewrite where a meeting was booked; moving it does.
    await office.put("/v1/venues/hall-1", json={**HALL, "name": "新名称会议室"})
    assert (await office.get(f"/v1/meetings/{m['id']}")).json()["venue_name"] == "吴兴区纪委监委hall-1会议室"
    later = (await office.slot(venue="hall-2", start=start + timedelta(days=1)))[0]
    moved = (await office.post(f"/v1/meetings/{m['id']}/reschedule", json={
        "starts_at": later.isoformat(), "duration_minutes": 60, "venue_id": "hall-2", "reason": "换会场"})).json()
    assert moved["venue_name"] == "吴兴区纪委监委hall-2会议室"
    assert moved["history"][0]["venue_name"] == "吴兴区纪委监委hall-1会议室"


async def test_the_upgrade_registers_the_venues_meetings_already_used(database_at, engine_for):
    url = await database_at("clarification", "clarification_0007")
    engine = engine_for(url)
    at = datetime(2026, 11, 20, 1, 30, tzinfo=UTC)

    def table(name, plain, moments=(), documents=()):
        return sa.table(name, *(sa.column(c) for c in plain), *(sa.column(c, UTCDateTime) for c in moments),
                        *(sa.column(c, sa.JSON) for c in documents))

    clarifications = table("clarifications", (
        "id", "report_id", "verdict", "region_code", "subject_name", "subject_position", "subject_organization",
        "official_key", "mandatory", "status", "opened_by", "deadline"), ("opened_at", "updated_at"),
        ("refuted_allegations", "grounds", "methods"))
    meetings = table("meetings", (
        "id", "clarification_id", "status", "venue_id", "official_key", "host_organization", "scope", "sequence",
        "created_by"), ("starts_at", "ends_at", "created_at", "updated_at"), ("invitees", "history"))
    async with engine.begin() as conn:
        for n, region in ((1, "330502"), (2, "330503")):
            await conn.execute(sa.insert(clarifications).values(
                id=f"c-{n}", report_id=f"r-{n}", verdict="untrue", region_code=region, subject_name="王建国",
                subject_position="局长", subject_organization="某局", official_key="k", mandatory=False,
                status="in_progress", opened_by="system", deadline=date(2026, 12, 20), opened_at=at, updated_at=at,
                refuted_allegations=[], grounds=[], methods=["meeting"]))
            await conn.execute(sa.insert(meetings).values(
                id=f"m-{n}", clarification_id=f"c-{n}", status="scheduled", venue_id="old-hall", official_key="k",
                host_organization="某局", scope="unit", sequence=0, created_by="x", starts_at=at, ends_at=at,
                created_at=at, updated_at=at, invitees=[], history=[]))
    await engine.dispose()  # the old release's connections are closed before the upgrade runs

    await asyncio.to_thread(upgrade, SERVICES["clarification"].migrations_dir, url, "clarification_0008")

    engine = engine_for(url)
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.text("SELECT id, region_code, name, active FROM venues"))).all()
    assert [tuple(r) for r in rows] == [("old-hall", "330502", "old-hall", True)]
