"""Case reads: jurisdiction, filters, cursor pagination, scopes."""

from dataclasses import replace

import pytest

from shared.events import SubjectV1
from tests.conftest import bearer, build_app, serve
from tests.factories import submitted
from tests.verification.helpers import on_report_submitted, received


@pytest.fixture
async def verification(new_database, settings_for, make_token):
    app = build_app("verification", settings_for("verification", await new_database("verification")))
    async with serve(app) as client:
        runtime = app.runtime
        for i, region in enumerate(["330502", "330502", "330503", "310101", "330502"]):
            data = submitted(f"r-{i}").model_copy(update={
                "region_code": region,
                "subject": SubjectV1(name="王", position="局长", organization="某局", region_code=region),
            })
            async with runtime.uow() as uow:
                await on_report_submitted(replace(received(f"e-{i}", f"r-{i}"), data=data), uow)
                await uow.commit()
        client.headers.update(bearer(make_token("verification:read", region="3305")))
        yield client


async def test_list_shows_only_the_officers_region(verification):
    items = (await verification.get("/v1/cases")).json()["items"]
    assert sorted(c["report_id"] for c in items) == ["r-0", "r-1", "r-2", "r-4"]
    assert all("reporter_blind_index" not in c for c in items)


async def test_filter_by_report_id(verification):
    items = (await verification.get("/v1/cases", params={"report_id": "r-2"})).json()["items"]
    assert [c["report_id"] for c in items] == ["r-2"]
    assert (await verification.get("/v1/cases", params={"report_id": "r-3"})).json()["items"] == []


async def test_cursor_pagination_walks_every_case_once(verification):
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await verification.get("/v1/cases", params=params)).json()
        seen += [c["report_id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == ["r-0", "r-1", "r-2", "r-4"]


async def test_bad_cursor_and_bad_status_are_422_problems(verification):
    r = await verification.get("/v1/cases", params={"cursor": "garbage!"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"
    r = await verification.get("/v1/cases", params={"status": "archived"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "status"


async def test_other_regions_case_is_404_and_scope_is_required(verification, make_token):
    items = (await verification.get("/v1/cases", headers=bearer(make_token("verification:read", region="31")))
             ).json()["items"]
    assert [c["report_id"] for c in items] == ["r-3"]
    r = await verification.get(f"/v1/cases/{items[0]['id']}")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    r = await verification.get("/v1/cases", headers=bearer(make_token("reports:read")))
    assert r.status_code == 403


async def test_cursor_with_a_naive_timestamp_or_nul_is_422(verification):
    import base64
    import json

    for forged in (["2026-11-21T08:00:00", "x"], ["2026-11-21T08:00:00+00:00", "a\x00b"]):
        cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
        r = await verification.get("/v1/cases", params={"cursor": cursor})
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "cursor"
    r = await verification.get("/v1/cases", params={"report_id": "r\x00"})
    assert r.status_code == 422
