"""GET /v1/stats and GET /v1/unidentified-cases: the blacklist's figures for a jurisdiction and a
period, and the malicious cases nobody could be listed for."""

from datetime import timedelta

from services.credit_blacklist import service
from tests.conftest import bearer
from tests.credit_blacklist.helpers import FakeIntake, decide, object_to, verdict
from tests.factories import resident_id


async def unidentified(desk, report_id, region="330502"):
    """A final malicious verdict whose reporter is anonymous: recorded, never listed."""
    runtime = desk.app.runtime
    async with runtime.uow() as uow:
        await service.apply_verdict(uow=uow, verdict=verdict(report_id, anonymous=True, region_code=region),
                                    identities=FakeIntake(), cipher=runtime.cipher, calendar=runtime.calendar,
                                    rules=service.BlacklistRules())
        await uow.commit()


async def test_the_figures_count_what_stands_today_and_what_happened_in_the_period(desk):
    kept = await desk.listed(severity="ordinary", id_number=resident_id(seq=1))
    upheld = await desk.listed(severity="serious", id_number=resident_id(seq=2))
    rejected = await desk.listed(severity="serious", id_number=resident_id(seq=3))
    await desk.listed(region="310101", id_number=resident_id(seq=4))  # outside the reader's 3305
    await desk.age(kept, 20)  # its objection window closed: active today, before any sweep
    for entry, decision in ((upheld, "uphold"), (rejected, "reject")):
        objection = (await object_to(desk, entry)).json()
        assert (await decide(desk, objection["id"], decision)).status_code == 200
    await unidentified(desk, "r-anon-1")
    await unidentified(desk, "r-anon-2", region="310101")

    r = await desk.client.get("/v1/stats", headers=desk.reader)
    assert r.status_code == 200, r.text
    figures = r.json()
    assert figures["region"] == "3305"
    assert figures["by_status"] == {"notified": 1, "active": 1, "under_review": 0, "revoked": 1, "expired": 0,
                                    "repaired": 0}
    assert figures["listed"] == 3 and figures["listed_by_severity"] == {"ordinary": 1, "serious": 2}
    assert (figures["objections_upheld"], figures["objections_rejected"]) == (1, 1)
    assert figures["revoked"] == 1 and figures["unidentified_cases"] == 1

    earlier = (await desk.client.get("/v1/stats", params={"from": "2020-01-01", "to": "2020-12-31"},
                                     headers=desk.reader)).json()
    assert (earlier["listed"], earlier["objections_upheld"], earlier["unidentified_cases"]) == (0, 0, 0)
    assert earlier["by_status"]["active"] == 1  # what stands today does not depend on the period


async def test_the_unidentified_cases_are_listed_in_the_jurisdiction_oldest_first(desk):
    for report_id in ("r-anon-1", "r-anon-2", "r-anon-3"):
        await unidentified(desk, report_id)
    await unidentified(desk, "r-elsewhere", region="310101")
    await desk.listed()  # listed, not unidentified
    first = await desk.client.get("/v1/unidentified-cases", params={"limit": 2}, headers=desk.reader)
    assert first.status_code == 200, first.text
    rest = await desk.client.get("/v1/unidentified-cases", params={"cursor": first.json()["next_cursor"]},
                                 headers=desk.reader)
    items = first.json()["items"] + rest.json()["items"]
    assert [i["report_id"] for i in items] == ["r-anon-1", "r-anon-2", "r-anon-3"]
    assert rest.json()["next_cursor"] is None
    assert all(i["recorded_at"].endswith("+08:00") and i["region_code"] == "330502" for i in items)


async def test_the_figures_need_the_read_scope(desk, make_token):
    for path in ("/v1/stats", "/v1/unidentified-cases"):
        assert (await desk.client.get(path)).status_code == 401
        assert (await desk.client.get(path, headers=bearer(make_token("blacklist:check")))).status_code == 403


async def test_an_expiry_counts_in_the_period_that_holds_its_last_listed_day(desk):
    entry_id = await desk.listed()
    await desk.age(entry_id, 20)
    await desk.sweep()  # its window closed: active, with its listed days written down
    await desk.age(entry_id, 500)  # and that long ago: its period has ended
    last_day = (await desk.stored(entry_id)).listed_until
    assert last_day is not None

    async def expired(first, last):
        r = await desk.client.get("/v1/stats", params={"from": str(first), "to": str(last)}, headers=desk.reader)
        return r.json()["expired"]

    assert await expired(last_day, last_day) == 1
    assert await expired(last_day + timedelta(days=1), last_day + timedelta(days=30)) == 0
    assert await expired(last_day - timedelta(days=30), last_day - timedelta(days=1)) == 0
