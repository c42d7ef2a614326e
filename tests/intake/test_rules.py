"""Intake rules end to end over HTTP on a real database (and the broker where events matter)."""

import asyncio
import json
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import func, select

from services.intake.models import IdempotencyRecord, Report
from shared.calendar import WorkingCalendar, china_date
from shared.events import ReportVerifiedV1
from shared.models import OutboxMessage
from tests.conftest import bearer, build_app, eventually, serve
from tests.factories import NAMED_REPORTER_ID, report_body, resident_id

OFFICER = "reports:submit reports:read"


@pytest.fixture
async def intake(new_database, settings_for, make_token, sessions_for):
    url = await new_database("intake")
    app = build_app("intake", settings_for("intake", url, receipt_lookups_per_minute=5))
    async with serve(app) as client:
        client.headers.update(bearer(make_token(OFFICER)))
        client.sessions = sessions_for(url)
        client.app = app
        yield client


async def rows(client, model, *where):
    async with client.sessions() as s:
        return (await s.scalars(select(model).where(*where))).all()


async def submit(client, body=None, **headers):
    r = await client.post("/v1/reports", json=body or report_body(), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def conclude(client, report_id, verdict="untrue", version=1):
    runtime = client.app.runtime
    async with runtime.uow() as uow:
        from services.intake.service import apply_verdict

        await apply_verdict(uow=uow, verdict=ReportVerifiedV1(
            report_id=report_id, case_id="c", verdict_id=f"v{version}", version=version, verdict=verdict,
            region_code="330502", anonymous=False, concluded_at=datetime.now(UTC)))
        await uow.commit()


# --- 1. validation -----------------------------------------------------------------------------


async def test_region_code_needs_an_existing_province(intake):
    r = await intake.post("/v1/reports", json=report_body(region_code="990101"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "subject.region_code"
    assert "province" in r.json()["errors"][0]["message"]


# --- 3. receipts ----------------------------------------------------------------------------------


async def test_receipt_shows_status_date_and_outcome_only(intake):
    created = await submit(intake)
    code = created["receipt_code"]
    r = await intake.get(f"/v1/receipts/{code}", headers={"Authorization": ""})
    assert r.status_code == 200
    assert r.json() == {"status": "received", "received_on": china_date(datetime.now(UTC)).isoformat(),
                        "outcome": None}
    await conclude(intake, created["id"], "untrue")
    r = await intake.get(f"/v1/receipts/{code.lower()}")  # read aloud and typed by hand
    assert r.json()["status"] == "concluded" and r.json()["outcome"] == "untrue"
    assert set(r.json()) == {"status", "received_on", "outcome"}


async def test_unknown_receipt_is_404_and_lookups_are_rate_limited(intake):
    r = await intake.get("/v1/receipts/AAAA-BBBB-CCCC-DDDD")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    statuses = [(await intake.get("/v1/receipts/AAAA-BBBB-CCCC-DDDD")).status_code for _ in range(6)]
    assert statuses[:4] == [404] * 4 and statuses[-1] == 429
    limited = await intake.get("/v1/receipts/AAAA-BBBB-CCCC-DDDD")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.json()["code"] == "rate_limited"


def random_code():
    from services.intake.domain import new_receipt_code

    return new_receipt_code()


async def test_a_new_x_forwarded_for_on_each_lookup_does_not_dodge_the_limit(intake):
    statuses = [(await intake.get(f"/v1/receipts/{random_code()}", headers={"X-Forwarded-For": f"10.0.0.{i}"})
                 ).status_code for i in range(30)]
    assert statuses[:5] == [404] * 5 and set(statuses[5:]) == {429}


@pytest.fixture
async def behind_a_proxy(new_database, settings_for):
    """Intake behind the documented ingress at 127.0.0.1 (the in-process client's address)."""
    app = build_app("intake", settings_for("intake", await new_database("intake"), trusted_proxies="127.0.0.1",
                                           receipt_lookups_per_minute=5, receipt_failed_lookups_per_minute=40))
    async with serve(app) as client:
        yield client


async def test_reporters_behind_a_trusted_proxy_each_have_their_own_bucket(behind_a_proxy):
    statuses = [(await behind_a_proxy.get(f"/v1/receipts/{random_code()}",
                                          headers={"X-Forwarded-For": f"203.0.113.{i}"})).status_code
                for i in range(20)]
    assert set(statuses) == {404}
    again = [(await behind_a_proxy.get(f"/v1/receipts/{random_code()}", headers={"X-Forwarded-For": "203.0.113.7"})
              ).status_code for _ in range(6)]
    assert again[:4] == [404] * 4 and again[-1] == 429  # one reporter still has one bucket


async def test_one_code_tried_from_many_addresses_is_limited(behind_a_proxy):
    code = random_code()
    statuses = [(await behind_a_proxy.get(f"/v1/receipts/{code}", headers={"X-Forwarded-For": f"198.51.100.{i}"})
                 ).status_code for i in range(12)]
    assert statuses[:10] == [404] * 10 and statuses[-1] == 429


async def test_guessing_from_many_addresses_at_once_is_bounded_in_total(behind_a_proxy, make_token):
    created = (await behind_a_proxy.post("/v1/reports", json=report_body(), headers=bearer(
        make_token("reports:submit")))).json()
    statuses = [(await behind_a_proxy.get(f"/v1/receipts/{random_code()}",
                                          headers={"X-Forwarded-For": f"192.0.2.{i}"})
                 ).status_code for i in range(45)]
    assert statuses.count(404) == 40 and statuses[-1] == 429
    # Once the failures of the minute are spent, a genuine code waits too: a guesser learns nothing.
    r = await behind_a_proxy.get(f"/v1/receipts/{created['receipt_code']}", headers={"X-Forwarded-For": "192.0.2.1"})
    assert r.status_code == 429


async def test_receipt_code_is_stored_only_as_a_hash(intake):
    code = (await submit(intake))["receipt_code"]
    async with intake.sessions() as s:
        dump = json.dumps([str(v) for r in (await s.execute(select(Report))).all() for v in r], ensure_ascii=False)
    assert code not in dump and code.replace("-", "") not in dump


# --- 4. status current, acceptance deadline ---------------------------------------------------


async def test_newest_verdict_version_wins_and_older_ones_are_ignored(intake):
    created = await submit(intake)
    await conclude(intake, created["id"], "malicious", version=2)
    await conclude(intake, created["id"], "untrue", version=1)  # late, superseded
    r = await intake.get(f"/v1/reports/{created['id']}")
    assert r.json()["status"] == "concluded" and r.json()["outcome"] == "malicious"


async def test_named_and_anonymous_reporters_alike_get_an_acceptance_deadline_in_working_days(intake):
    # An anonymous reporter reads the acceptance notice through the receipt code (#20), so is owed it too.
    named = await intake.get(f"/v1/reports/{(await submit(intake))['id']}")
    received = datetime.fromisoformat(named.json()["received_at"])
    expected = WorkingCalendar().add_working_days(china_date(received), 15)
    assert date.fromisoformat(named.json()["acceptance_notice_due"]) == expected
    anonymous = await intake.get(f"/v1/reports/{(await submit(intake, report_body(anonymous=True)))['id']}")
    assert date.fromisoformat(anonymous.json()["acceptance_notice_due"]) == expected


# --- 5. idempotency ---------------------------------------------------------------------------------


async def test_retry_with_the_same_key_returns_the_first_answer(intake):
    first = await intake.post("/v1/reports", json=report_body(), headers={"Idempotency-Key": "xf-123"})
    again = await intake.post("/v1/reports", json=report_body(), headers={"Idempotency-Key": "xf-123"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert again.headers["location"] == first.headers["location"]
    assert len(await rows(intake, Report)) == 1
    assert len(await rows(intake, OutboxMessage)) == 1
    stored = await rows(intake, IdempotencyRecord)
    assert first.json()["receipt_code"] not in stored[0].response_enc


async def test_same_key_with_another_body_is_422_and_another_client_is_separate(intake, make_token):
    await intake.post("/v1/reports", json=report_body(), headers={"Idempotency-Key": "k-1"})
    other_body = report_body()
    other_body["subject"]["name"] = "张三"
    r = await intake.post("/v1/reports", json=other_body, headers={"Idempotency-Key": "k-1"})
    assert r.status_code == 422 and r.json()["code"] == "idempotency_key_reused"
    other_client = bearer(make_token(OFFICER, sub="another-system"))
    r = await intake.post("/v1/reports", json=report_body(), headers={"Idempotency-Key": "k-1", **other_client})
    assert r.status_code == 201 and "idempotent-replayed" not in r.headers
    assert len(await rows(intake, Report)) == 2


async def test_concurrent_retries_with_one_key_store_one_report(intake):
    responses = await asyncio.gather(*(
        intake.post("/v1/reports", json=report_body(), headers={"Idempotency-Key": "burst"}) for _ in range(4)
    ))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert len(await rows(intake, Report)) == 1


# --- 6. repeats and duplicates ------------------------------------------------------------------


async def test_near_identical_allegations_about_the_same_subject_are_linked(intake):
    first = await submit(intake)
    body = report_body(anonymous=True)
    body["allegations"][0]["summary"] = "在土地出让过程中，收受开发商礼金人民币十万元！"  # punctuation differs
    second = await submit(intake, body)
    assert second["flags"] == ["near_duplicate"] and second["linked_report_ids"] == [first["id"]]
    other = report_body(anonymous=True)
    other["allegations"][0]["summary"] = "长期违规占用公车接送子女上下学，影响恶劣。"
    assert (await submit(intake, other))["flags"] == []
    elsewhere = report_body(anonymous=True, region_code="330503")  # same name, another county: another person
    assert (await submit(intake, elsewhere))["flags"] == []
    events = [json.loads(m.payload) for m in await rows(intake, OutboxMessage)]
    assert events[1]["flags"] == ["near_duplicate"] and events[1]["linked_report_ids"] == [first["id"]]
    listed = (await intake.get("/v1/reports", params={"flagged": "true"})).json()["items"]
    assert [r["id"] for r in listed] == [second["id"]]


async def test_same_reporter_after_a_conclusion_is_flagged_as_a_repeat(intake):
    first = await submit(intake)
    await conclude(intake, first["id"], "untrue")
    body = report_body()
    body["allegations"][0]["summary"] = "该同志还存在违规收受购物卡的问题，请组织再查。"
    repeat = await submit(intake, body)
    assert repeat["flags"] == ["repeat_after_conclusion"] and repeat["linked_report_ids"] == [first["id"]]
    body["reporter"]["id_number"] = resident_id(seq=7)  # someone else saying the same is not a repeat
    body["allegations"][0]["summary"] = "该同志经常在工作日午间饮酒，影响单位风气。"
    assert (await submit(intake, body))["flags"] == []


# --- 7. officer views ------------------------------------------------------------------------------


async def test_officer_of_3305_cannot_see_a_report_from_3301(intake, make_token):
    rid = (await submit(intake, report_body(region_code="330102")))["id"]
    officer_3305 = bearer(make_token("reports:read", region="3305"))
    assert (await intake.get(f"/v1/reports/{rid}", headers=officer_3305)).status_code == 404
    assert (await intake.get("/v1/reports", headers=officer_3305)).json()["items"] == []
    assert (await intake.get(f"/v1/reports/{rid}", headers=bearer(make_token("reports:read", region="3301")))
            ).status_code == 200


async def test_list_filters_and_stable_pagination(intake):
    ids = []
    for i, (channel, region, anonymous) in enumerate([("online", "330502", False), ("letter", "330502", True),
                                                      ("online", "330522", True), ("visit", "330102", False)]):
        body = report_body(anonymous=anonymous, region_code=region, channel=channel)
        body["allegations"][0]["summary"] = f"第{i}件：在项目审批中违规干预招投标，金额较大。"
        ids.append((await submit(intake, body))["id"])
    await conclude(intake, ids[0])

    async def listed(**params):
        return [r["id"] for r in (await intake.get("/v1/reports", params=params)).json()["items"]]

    assert await listed() == ids
    assert await listed(region="3305") == ids[:3]
    assert await listed(region="330502") == ids[:2]
    assert await listed(region="31") == []
    assert await listed(channel="online") == [ids[0], ids[2]]
    assert await listed(status="concluded") == [ids[0]]
    today = china_date(datetime.now(UTC)).isoformat()
    assert await listed(received_from=today, received_to=today) == ids
    assert await listed(received_to="2000-01-01") == []
    pages, cursor = [], None
    while True:
        page = (await intake.get("/v1/reports", params={"limit": 3, **({"cursor": cursor} if cursor else {})})).json()
        pages.append([r["id"] for r in page["items"]])
        if not (cursor := page["next_cursor"]):
            break
    assert pages == [ids[:3], ids[3:]]
    for bad in ({"region": "3"}, {"status": "lost"}, {"channel": "fax"}, {"received_from": "yesterday"},
                {"limit": 1000}):
        r = await intake.get("/v1/reports", params=bad)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == next(iter(bad)), bad


# --- 8. statistics ---------------------------------------------------------------------------------


async def test_statistics_by_region_and_period(intake, make_token):
    await submit(intake, report_body(channel="online"))
    await submit(intake, report_body(channel="letter", anonymous=True))
    dup = report_body(channel="letter", anonymous=True)
    await submit(intake, dup)  # near-identical to the ones before: a repeat
    await submit(intake, report_body(channel="visit", region_code="330102"))
    r = (await intake.get("/v1/stats", params={"region": "3305"})).json()
    assert r["received"] == 3
    assert r["by_channel"] == {"online": 1, "letter": 2}
    assert r["by_status"] == {"received": 3}
    assert r["anonymous_share"] == pytest.approx(2 / 3, abs=1e-3)
    assert r["repeat_share"] == pytest.approx(2 / 3, abs=1e-3)
    assert (await intake.get("/v1/stats", params={"received_to": "2000-01-01"})).json()["received"] == 0
    r = await intake.get("/v1/stats", params={"region": "31"}, headers=bearer(make_token("reports:read", region="33")))
    assert r.status_code == 403 and r.json()["code"] == "region_outside_jurisdiction"


# --- 9. OpenAPI ------------------------------------------------------------------------------------


async def test_openapi_has_examples_and_problem_responses(intake):
    spec = (await intake.get("/openapi.json")).json()
    body = spec["paths"]["/v1/reports"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = spec["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
    assert schema["examples"][0]["subject"]["region_code"] == "330502"
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            # The reporter's routes open with the receipt code alone (DESIGN.md §4.6).
            if path.startswith("/v1/") and not path.startswith("/v1/receipts/{receipt_code}"):
                assert {"401", "403"} <= set(op["responses"]), (method, path)
            if path == "/readyz":
                continue  # readiness answers its checks as JSON, 200 or 503, for probes
            problem_statuses = [s for s in op["responses"] if s >= "400"]
            for s in problem_statuses:
                assert "application/problem+json" in op["responses"][s]["content"], (method, path, s)


# --- the event carries no identity ---------------------------------------------------------------


async def test_no_identity_in_any_officer_response(intake, make_token):
    rid = (await submit(intake))["id"]
    reader = bearer(make_token("reports:read"))
    texts = [(await intake.get(p, headers=reader)).text for p in
             (f"/v1/reports/{rid}", "/v1/reports", "/v1/stats")]
    for text in texts:
        for secret in ("李秀英", NAMED_REPORTER_ID, "13800138000", "某街道1号"):
            assert secret not in text


async def test_counts_of_rows_never_move_on_rejected_bodies(intake):
    async with intake.sessions() as s:
        before = await s.scalar(select(func.count()).select_from(Report))
    await intake.post("/v1/reports", json={"channel": "online", "subject": "nope"})
    async with intake.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Report)) == before


async def test_verdict_arrives_through_the_broker(new_database, broker, settings_for, make_token):
    from tests.kafka_helpers import produce_event

    app = build_app("intake", settings_for("intake", await new_database("intake"), bootstrap=broker, workers=True))
    async with serve(app) as client:
        created = (await client.post("/v1/reports", json=report_body(), headers=bearer(make_token(OFFICER)))).json()
        await produce_event(broker, ReportVerifiedV1(
            report_id=created["id"], case_id="c-1", verdict_id="v-1", verdict="malicious", region_code="330502",
            anonymous=False, concluded_at=datetime.now(UTC)), key=created["id"])

        async def outcome():
            r = await client.get(f"/v1/reports/{created['id']}", headers=bearer(make_token(OFFICER)))
            return r.json()["outcome"]

        assert await eventually(outcome, what="the verdict on the report") == "malicious"
        receipt = (await client.get(f"/v1/receipts/{created['receipt_code']}")).json()
        assert receipt["status"] == "concluded" and receipt["outcome"] == "malicious"


