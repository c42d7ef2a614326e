"""The blacklist over HTTP on a real database: every route's scope, reads and jurisdiction, the check,
and the contract the OpenAPI document states. Objections, repair and revocation, the sweep and the
export have their own modules."""

import json

from tests.conftest import bearer, serve
from tests.credit_blacklist.helpers import (
    GRANT_REASON,
    REPAIR_REASON,
    REVOCATION_REASON,
    check,
)
from tests.factories import NAMED_REPORTER_ID, resident_id

# --- scopes and jurisdiction ------------------------------------------------------------------------


async def test_every_route_needs_its_scope(desk, make_token):
    entry_id = await desk.listed()
    only_check = bearer(make_token("blacklist:check"))
    only_read = bearer(make_token("blacklist:read"))
    assert (await desk.client.get("/v1/entries")).status_code == 401
    assert (await desk.client.get("/v1/entries", headers=only_check)).status_code == 403
    assert (await desk.client.get("/v1/entries", headers=desk.exporter)).status_code == 403
    assert (await desk.client.get("/v1/entries/export", headers=only_check)).status_code == 403
    r = await desk.client.post("/v1/checks", json={"id_number": NAMED_REPORTER_ID}, headers=only_read)
    assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
    r = await desk.client.post(f"/v1/entries/{entry_id}/objections", json={"grounds": "本人不服，请求复核。"},
                               headers=only_read)
    assert r.status_code == 403
    for path, body in ((f"/v1/entries/{entry_id}/repair", {"reason": REPAIR_REASON}),
                       (f"/v1/entries/{entry_id}/revocation", {"reason": REVOCATION_REASON}),
                       ("/v1/repairs/x/decision", {"decision": "grant", "reason": GRANT_REASON}),
                       ("/v1/revocations/x/decision", {"decision": "grant", "reason": GRANT_REASON})):
        r = await desk.client.post(path, json=body, headers=only_read)
        assert r.status_code == 403 and r.json()["code"] == "forbidden", path
    for path in ("/v1/repairs", "/v1/revocations"):
        assert (await desk.client.get(path, headers=only_check)).status_code == 403


async def test_officers_see_only_their_region_with_the_id_number_masked(desk):
    mine = await desk.listed(region="330502")
    other = await desk.listed(region="310101", id_number=resident_id(seq=5))
    items = (await desk.client.get("/v1/entries", headers=desk.reader)).json()["items"]
    assert [e["id"] for e in items] == [mine]
    assert (await desk.client.get(f"/v1/entries/{other}", headers=desk.reader)).status_code == 404
    entry = (await desk.client.get(f"/v1/entries/{mine}", headers=desk.reader)).json()
    assert entry["name"] == "李秀英" and entry["id_number_masked"] == "110105**********2X"
    text = json.dumps(entry, ensure_ascii=False)
    assert NAMED_REPORTER_ID not in text and "13800138000" not in text and "某街道" not in text
    assert "blind_index" not in text and "_enc" not in text
    assert entry["status"] == "notified" and entry["legal_basis_ref"] and entry["objections"] == []
    assert entry["listed_from"] > entry["objection_deadline"]  # expected dates, shown while notified


async def test_list_filters_and_cursor_pagination(desk):
    ids = [await desk.listed(), await desk.listed(severity="serious"), await desk.listed()]
    await desk.age(ids[0], 20)  # window closed: active today, though not yet swept
    page = (await desk.client.get("/v1/entries", params={"limit": 2}, headers=desk.reader)).json()
    rest = (await desk.client.get("/v1/entries", params={"limit": 2, "cursor": page["next_cursor"]},
                                  headers=desk.reader)).json()
    assert [e["id"] for e in page["items"] + rest["items"]] == ids and rest["next_cursor"] is None

    async def ids_for(**params):
        return [e["id"] for e in (await desk.client.get("/v1/entries", params=params,
                                                        headers=desk.reader)).json()["items"]]

    assert await ids_for(status="active") == [ids[0]]
    assert await ids_for(status="notified") == ids[1:]
    assert await ids_for(severity="serious") == [ids[1]]
    assert await ids_for(report_id="r-3") == [ids[2]]
    assert await ids_for(region="31") == []
    r = await desk.client.get("/v1/entries", params={"cursor": "nonsense"}, headers=desk.reader)
    assert r.status_code == 422 and r.json()["code"] == "invalid_cursor"


async def test_reads_show_todays_status_before_the_sweep_writes_it(desk):
    entry_id = await desk.listed()
    await desk.age(entry_id, 20)
    entry = (await desk.client.get(f"/v1/entries/{entry_id}", headers=desk.reader)).json()
    assert entry["status"] == "active" and (await desk.stored(entry_id)).status == "notified"
    await desk.age(entry_id, 400)  # past the whole 6-month period
    entry = (await desk.client.get(f"/v1/entries/{entry_id}", headers=desk.reader)).json()
    assert entry["status"] == "expired"


# --- the check --------------------------------------------------------------------------------------


async def test_check_answers_listed_only_for_active_entries_and_nothing_else(desk):
    assert await check(desk) == {"listed": False, "status": "not_listed", "listed_until": None}
    entry_id = await desk.listed()
    assert (await check(desk))["listed"] is False  # notified: the window is still open
    await desk.age(entry_id, 20)
    answer = await check(desk)
    entry = (await desk.client.get(f"/v1/entries/{entry_id}", headers=desk.reader)).json()
    assert answer == {"listed": True, "status": "active", "listed_until": entry["listed_until"]}
    assert (await check(desk, NAMED_REPORTER_ID.lower()))["listed"] is True  # same person, same index
    assert (await check(desk, resident_id(seq=9)))["listed"] is False
    await desk.age(entry_id, 400)
    assert (await check(desk))["listed"] is False  # the period is over


async def test_check_refuses_an_invalid_id_number(desk):
    for bad in ("11010519491231002Y", "12345", "1101051949123100X2"):
        r = await desk.client.post("/v1/checks", json={"id_number": bad}, headers=desk.checker)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "id_number"
    r = await desk.client.post("/v1/checks", json={"id_number": NAMED_REPORTER_ID, "name": "x"},
                               headers=desk.checker)
    assert r.status_code == 422


async def test_notified_entries_are_listed_where_configured(make_desk):
    desk = await make_desk(check_lists_notified=True)
    async with serve(desk.app) as client:
        desk.client = client
        await desk.listed()
        answer = await check(desk)
        assert answer["listed"] is True and answer["status"] == "notified" and answer["listed_until"]


async def test_check_is_rate_limited_per_client(make_desk, make_token):
    desk = await make_desk(check_requests_per_minute=2)
    async with serve(desk.app) as client:
        desk.client = client
        await check(desk)
        await check(desk)
        r = await client.post("/v1/checks", json={"id_number": NAMED_REPORTER_ID}, headers=desk.checker)
        assert r.status_code == 429 and r.json()["code"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
        await check(desk, headers=bearer(make_token("blacklist:check", sub="another-system")))


async def test_the_fast_check_is_measured_under_its_route(desk):
    await check(desk)
    r = await desk.client.post("/v1/checks", json={"id_number": "12345"}, headers=desk.checker)
    assert r.status_code == 422
    metrics = (await desk.client.get("/metrics")).text
    for status in ("200", "422"):
        assert ('zm_http_request_duration_seconds_count{method="POST",route="/v1/checks",'
                f'service="credit_blacklist",status="{status}"}} 1.0') in metrics


# --- the contract ----------------------------------------------------------------------------------


async def test_openapi_documents_the_contract_paths(desk):
    paths = (await desk.client.get("/openapi.json")).json()["paths"]
    for path in ("/v1/entries", "/v1/entries/{entry_id}", "/v1/checks", "/v1/entries/{entry_id}/objections",
                 "/v1/objections/{objection_id}/decision", "/v1/entries/{entry_id}/repair", "/v1/entries/export",
                 "/v1/entries/{entry_id}/revocation", "/v1/repairs/{request_id}/decision",
                 "/v1/revocations/{request_id}/decision", "/v1/repairs", "/v1/revocations"):
        assert path in paths
    assert "409" in paths["/v1/entries/{entry_id}/repair"]["post"]["responses"]
    assert "201" in paths["/v1/entries/{entry_id}/repair"]["post"]["responses"]
    for decision in ("/v1/objections/{objection_id}/decision", "/v1/repairs/{request_id}/decision",
                     "/v1/revocations/{request_id}/decision"):
        assert "separation_of_duties" in paths[decision]["post"]["description"]
    [reason] = [p for p in paths["/v1/entries/export"]["get"]["parameters"] if p["name"] == "reason"]
    assert reason["required"] is True
