"""The blacklist over HTTP on a real database: reads and jurisdiction, the check, objections, repair
and revocation (each decided by an officer other than who asked), the sweep and the export, with their
audit records and events."""

import asyncio
import csv
import io
import json
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from services.credit_blacklist import service
from services.credit_blacklist.models import Entry
from shared.db import create_engine, session_factory
from shared.models import AuditRecord, OutboxMessage
from tests.conftest import bearer, build_app, serve
from tests.credit_blacklist.helpers import FakeIntake, age, verdict
from tests.factories import NAMED_REPORTER_ID, resident_id


@pytest.fixture
async def make_desk(new_database, settings_for, make_token):
    engines = []

    async def make(**overrides):
        url = await new_database("credit_blacklist")
        app = build_app("credit_blacklist", settings_for("credit_blacklist", url, run_sweep=False, **overrides))
        engine = create_engine(url)
        engines.append(engine)
        sessions = session_factory(engine)
        intake = FakeIntake()
        n = 0

        async def listed(region="330502", severity="ordinary", id_number=NAMED_REPORTER_ID):
            nonlocal n
            n += 1
            intake.add(f"r-{n}", id_number=id_number)
            runtime = app.runtime
            async with runtime.uow() as uow:
                seen = await service.apply_verdict(
                    uow=uow, verdict=verdict(f"r-{n}", severity=severity, region_code=region), identities=intake,
                    cipher=runtime.cipher, calendar=runtime.calendar, rules=service.BlacklistRules())
                await uow.commit()
            return seen.entry_id

        async def events(event_type=None):
            async with sessions() as s:
                rows = await s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "blacklist.events")
                                       .order_by(OutboxMessage.id))
                return [(r.event_type, json.loads(r.payload)) for r in rows
                        if event_type is None or r.event_type == event_type]

        async def audits(action):
            async with sessions() as s:
                return list(await s.scalars(select(AuditRecord).where(AuditRecord.action == action)))

        async def stored(entry_id):
            async with sessions() as s:
                return await s.get(Entry, entry_id)

        return SimpleNamespace(
            app=app, sessions=sessions, listed=listed, events=events, audits=audits, stored=stored,
            age=lambda entry_id, days: age(sessions, entry_id, days),
            sweep=lambda **kw: service.sweep(uow_factory=app.runtime.uow, **kw),
            reader=bearer(make_token("blacklist:read", region="3305", sub="clerk-1")),
            writer=bearer(make_token("blacklist:read blacklist:write", region="3305", sub="officer-2")),
            decider=bearer(make_token("blacklist:read blacklist:write", region="3305", sub="officer-3")),
            exporter=bearer(make_token("blacklist:export", region="3305", sub="svc-credit-export")),
            checker=bearer(make_token("blacklist:check", region="", sub="svc-credit-platform")),
        )

    yield make
    for engine in engines:
        await engine.dispose()


@pytest.fixture
async def desk(make_desk):
    d = await make_desk()
    async with serve(d.app) as client:
        d.client = client
        yield d


async def check(desk, id_number=NAMED_REPORTER_ID, headers=None):
    r = await desk.client.post("/v1/checks", json={"id_number": id_number}, headers=headers or desk.checker)
    assert r.status_code == 200, r.text
    return r.json()


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


# --- objections -------------------------------------------------------------------------------------


async def object_to(desk, entry_id, **body):
    return await desk.client.post(f"/v1/entries/{entry_id}/objections",
                                  json={"grounds": "本人不服，举报时并不知情，请求复核。", **body}, headers=desk.writer)


async def decide(desk, objection_id, decision, headers=None):
    return await desk.client.post(f"/v1/objections/{objection_id}/decision",
                                  json={"decision": decision, "reason": "经复核，决定如上。"},
                                  headers=headers or desk.decider)


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


# --- repair and revocation -------------------------------------------------------------------------

REPAIR_REASON = "当事人已向被反映人公开道歉并消除影响，最短公示期已满，申请信用修复。"
REVOCATION_REASON = "经复查，列入所依据的核查结论认定当事人身份有误，申请撤销该条失信记录。"
GRANT_REASON = "经审核，申请所述情况属实，材料齐全，同意该申请。"
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


# --- the sweep --------------------------------------------------------------------------------------


async def test_the_sweep_writes_down_activation_and_expiry_once_each(desk):
    entry_id = await desk.listed()
    assert await desk.sweep() == 0
    await desk.age(entry_id, 20)
    assert await asyncio.gather(desk.sweep(), desk.sweep()) in ([1, 0], [0, 1])  # two replicas at once
    stored = await desk.stored(entry_id)
    assert stored.status == "active" and stored.listed_from is not None
    assert await desk.sweep() == 0
    await desk.age(entry_id, 200)
    assert await desk.sweep() == 1
    assert (await desk.stored(entry_id)).status == "expired"
    events = await desk.events()
    assert [t for t, _ in events] == ["blacklist.entry_notified.v1", "blacklist.entry_activated.v1",
                                      "blacklist.entry_removed.v1"]
    assert events[2][1]["reason_code"] == "period_ended" and events[2][1]["status"] == "expired"
    assert events[1][1]["listed_until"] == stored.listed_until.isoformat()


async def test_the_sweep_works_through_more_than_one_batch(desk):
    ids = [await desk.listed(id_number=resident_id(seq=i)) for i in range(5)]
    for entry_id in ids:
        await desk.age(entry_id, 20)
    assert await desk.sweep(batch_size=2) == 5
    assert {(await desk.stored(i)).status for i in ids} == {"active"}


# --- export -----------------------------------------------------------------------------------------

EXPORT_REASON = "按月向社会信用信息平台报送本辖区公开的失信黑名单记录。"


async def export(desk, export_format="csv", reason=EXPORT_REASON, headers=None):
    params = {"format": export_format, **({"reason": reason} if reason is not None else {})}
    return await desk.client.get("/v1/entries/export", params=params, headers=headers or desk.exporter)


async def test_export_streams_active_public_entries_with_name_and_id_and_audits_it(desk):
    active = await desk.listed()
    minor = await desk.listed(severity="minor", id_number=resident_id(seq=1))
    notified = await desk.listed(id_number=resident_id(seq=2))
    elsewhere = await desk.listed(region="310101", id_number=resident_id(seq=3))
    for entry_id in (active, minor, elsewhere):
        await desk.age(entry_id, 20)
    r = await export(desk, "csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["x-entry-count"] == "1" and "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    entry = (await desk.client.get(f"/v1/entries/{active}", headers=desk.reader)).json()
    assert rows == [{"entry_id": active, "name": "李秀英", "id_number": NAMED_REPORTER_ID,
                     "reason_code": "false_accusation", "severity": "ordinary",
                     "legal_basis_ref": entry["legal_basis_ref"], "listed_from": entry["listed_from"],
                     "listed_until": entry["listed_until"], "region_code": "330502"}]
    assert minor != notified
    r = await export(desk, "json")
    assert r.headers["content-type"] == "application/json" and r.json() == rows
    first, second = await desk.audits("entries.exported")
    assert (first.actor, first.reason, first.details["scope"], first.details["entries"], first.details["format"]) == (
        "svc-credit-export", EXPORT_REASON, "blacklist:export", 1, "csv")
    assert second.details["format"] == "json" and "id_number" in second.details["fields"]
    assert (await export(desk, "xml")).status_code == 422


async def test_reading_entries_is_not_enough_to_export_them(desk, make_token):
    await desk.age(await desk.listed(), 20)
    for scopes in ("blacklist:read", "blacklist:read blacklist:write"):
        r = await export(desk, headers=bearer(make_token(scopes, region="3305")))
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
        assert "blacklist:export" in r.json()["detail"]
    assert await desk.audits("entries.exported") == []


async def test_an_export_without_a_real_reason_is_422_naming_the_reason(desk):
    await desk.age(await desk.listed(), 20)
    for reason in (None, "", "导出", "monthly", "报送报送报送报送报送报送报送报送"):
        r = await export(desk, reason=reason)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", reason
        assert r.json()["errors"][0]["field"] == "reason"
    assert await desk.audits("entries.exported") == []


async def test_export_pages_through_many_entries(desk, monkeypatch):
    from services.credit_blacklist import lookup

    monkeypatch.setattr(lookup, "EXPORT_BATCH", 2)
    ids = [await desk.listed(id_number=resident_id(seq=i)) for i in range(5)]
    for entry_id in ids:
        await desk.age(entry_id, 20)
    r = await export(desk, "json")
    assert sorted(e["entry_id"] for e in r.json()) == sorted(ids)


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
