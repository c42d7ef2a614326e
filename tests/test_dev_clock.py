"""The development clock (shared/clock.py): off by default and refused in production; when a
service turns it on, "now" moves for its rules and its sweeper in step with `zhengming clock`, and
every answer says so."""

from datetime import UTC, date, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.clarification import service as clarification_service
from services.credit_blacklist.settings import CreditBlacklistSettings
from shared import clock
from shared.calendar import china_date
from tests.clarification.helpers import verdict
from tests.conftest import bearer, build_app, serve
from tests.credit_blacklist.helpers import list_one
from tests.factories import NAMED_REPORTER_ID
from tests.verification.helpers import on_report_submitted, received


def test_the_clock_is_real_until_a_service_follows_a_moved_one(tmp_path):
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)
    clock.write_offset(tmp_path, timedelta(days=30))
    assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)  # nobody follows it yet
    try:
        clock.use(tmp_path)
        assert abs(clock.now() - datetime.now(UTC) - timedelta(days=30)) < timedelta(seconds=1)
        assert clock.moved_by() == timedelta(days=30)
    finally:
        clock.use(None)
    assert clock.moved_by() == timedelta(0)


def test_the_clock_moves_at_most_ten_years_and_a_file_claiming_more_is_the_real_clock(tmp_path):
    with pytest.raises(ValueError, match="at most"):
        clock.write_offset(tmp_path, timedelta(days=4000))
    (tmp_path / clock.FILE_NAME).write_text('{"offset_s": 1e300}', encoding="utf-8")
    try:
        clock.use(tmp_path)
        assert abs(clock.now() - datetime.now(UTC)) < timedelta(seconds=1)  # no overflow on every request
    finally:
        clock.use(None)


def test_production_refuses_the_development_clock():
    with pytest.raises(ValidationError, match="dev_clock"):
        CreditBlacklistSettings(environment="production", dev_clock=True, database_url="postgresql+asyncpg://db/b",
                                jwt_public_key_file="k", field_keys_file="f", signing_key_file="s",
                                event_trust_file="t", audit_keys_file="a", kafka_security_protocol="SASL_SSL")


async def test_moving_the_clock_activates_a_listing_after_its_window_and_ends_it_after_its_period(
        new_database, settings_for, data_dir, make_token):
    app = build_app("credit_blacklist", settings_for("credit_blacklist", await new_database("credit_blacklist"),
                                                     run_sweep=False, dev_clock=True))
    checker = bearer(make_token("blacklist:check"))
    reader = bearer(make_token("blacklist:read", region="3305"))
    try:
        async with serve(app) as client:
            entry_id = await list_one(app)

            async def checked():
                r = await client.post("/v1/checks", json={"id_number": NAMED_REPORTER_ID}, headers=checker)
                return r.json()["status"], r.headers.get("x-zhengming-dev-clock")

            assert await checked() == ("not_listed", None)  # notified, inside its objection window
            clock.write_offset(data_dir, timedelta(days=16))
            clock.use(data_dir)  # reread at once, without waiting for the next check of the file
            status, moved_to = await checked()
            assert status == "active" and moved_to.endswith("+08:00")
            assert datetime.fromisoformat(moved_to) - datetime.now(UTC) > timedelta(days=15)
            entry = (await client.get(f"/v1/entries/{entry_id}", headers=reader)).json()
            clock.write_offset(data_dir, timedelta(days=16 + 31 * 12))
            clock.use(data_dir)
            assert (await checked())[0] == "not_listed"  # its period ended on listed_until
            assert entry["listed_until"] is not None
    finally:
        clock.write_offset(data_dir, timedelta(0))


async def test_with_the_clock_moved_a_rejected_objection_activates_after_the_window_and_repair_opens_after_the_minimum(
        new_database, settings_for, data_dir, make_token):
    app = build_app("credit_blacklist", settings_for("credit_blacklist", await new_database("credit_blacklist"),
                                                     run_sweep=False, dev_clock=True))
    checker = bearer(make_token("blacklist:check"))
    writer = bearer(make_token("blacklist:read blacklist:write", region="3305", sub="officer-2"))
    decider = bearer(make_token("blacklist:read blacklist:write", region="3305", sub="officer-3"))

    def move(days):
        clock.write_offset(data_dir, timedelta(days=days))
        clock.use(data_dir)

    try:
        async with serve(app) as client:
            entry_id = await list_one(app)
            objection = (await client.post(f"/v1/entries/{entry_id}/objections", headers=writer, json={
                "grounds": "本人不服，举报时并不知情，请求复核。"})).json()
            r = await client.post(f"/v1/objections/{objection['id']}/decision", headers=decider,
                                  json={"decision": "reject", "reason": "经复核，原认定事实清楚。"})
            assert r.status_code == 200 and r.json()["status"] == "notified"  # back to its notice

            async def status():
                r = await client.post("/v1/checks", json={"id_number": NAMED_REPORTER_ID}, headers=checker)
                return r.json()["status"]

            assert await status() == "not_listed"
            move(16)
            assert await status() == "active"
            repair = {"reason": "本人已公开赔礼道歉并消除影响，申请信用修复，附相关证明材料。"}
            early = await client.post(f"/v1/entries/{entry_id}/repair", headers=writer, json=repair)
            assert early.status_code == 409 and early.json()["code"] == "repair_not_yet_possible"
            move(15 + 3 * 31 + 2)  # the window, then an ordinary entry's three-month minimum
            assert (await client.post(f"/v1/entries/{entry_id}/repair", headers=writer, json=repair)
                    ).status_code == 201
    finally:
        clock.write_offset(data_dir, timedelta(0))


async def test_with_the_clock_moved_an_open_case_falls_overdue(new_database, settings_for, data_dir, make_token):
    app = build_app("verification", settings_for("verification", await new_database("verification"),
                                                 dev_clock=True))
    investigator = bearer(make_token("verification:read", region="3305"))
    try:
        async with serve(app) as client:
            async with app.runtime.uow() as uow:
                await on_report_submitted(received("e-1", "r-1"), uow)
                await uow.commit()

            async def overdue():
                r = await client.get("/v1/cases", params={"overdue": "true"}, headers=investigator)
                return [c["report_id"] for c in r.json()["items"]]

            assert await overdue() == []
            clock.write_offset(data_dir, timedelta(days=200))  # past 60 working days
            clock.use(data_dir)
            assert await overdue() == ["r-1"]
    finally:
        clock.write_offset(data_dir, timedelta(0))


async def test_with_the_clock_moved_a_completed_clarification_falls_due_for_its_follow_up(
        new_database, settings_for, data_dir, make_token):
    app = build_app("clarification", settings_for("clarification", await new_database("clarification"),
                                                  dev_clock=True))
    officer = bearer(make_token("clarification:read clarification:write", region="3305"))
    try:
        async with serve(app) as client:
            client.headers.update(officer)
            async with app.runtime.uow() as uow:
                await clarification_service.on_verdict(uow=uow, verdict=verdict("r-1"), rules=app.resources)
                await uow.commit()
            [c] = (await client.get("/v1/clarifications")).json()["items"]
            today = china_date(clock.now())
            for step, body in (("consent", {"consent": True}), ("written", {
                    "issued_on": today.isoformat(), "reference": "吴纪澄〔2026〕3号"})):
                assert (await client.post(f"/v1/clarifications/{c['id']}/{step}", json=body)).status_code == 200
            assert (await client.put(f"/v1/clarifications/{c['id']}/plan", json={"methods": ["written"]})
                    ).status_code == 200
            closed = (await client.post(f"/v1/clarifications/{c['id']}/close")).json()
            assert closed["status"] == "closed" and closed["follow_up_due"]

            async def overdue():
                r = await client.get("/v1/clarifications", params={"overdue": "follow_up"})
                return r.json()["items"], r.headers.get("x-zhengming-dev-clock")

            assert await overdue() == ([], None)
            days = (date.fromisoformat(closed["follow_up_due"]) - today).days
            clock.write_offset(data_dir, timedelta(days=days + 1))
            clock.use(data_dir)
            [due], moved_to = await overdue()
            assert due["id"] == c["id"] and moved_to.endswith("+08:00")
            assert all(due[k].endswith("+08:00") for k in ("opened_at", "closed_at", "consent_given_at"))
            r = await client.post(f"/v1/clarifications/{c['id']}/follow-up", json={
                "visited_on": china_date(clock.now()).isoformat(), "notes": "回访：本人工作积极，单位评价良好。"})
            assert r.status_code == 200, r.text
            assert (await overdue())[0] == []
    finally:
        clock.write_offset(data_dir, timedelta(0))
