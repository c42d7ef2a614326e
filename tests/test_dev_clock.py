"""The development clock (shared/clock.py): off by default and refused in production; when a
service turns it on, "now" moves for its rules and its sweeper in step with `zhengming clock`, and
every answer says so."""

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.credit_blacklist.settings import CreditBlacklistSettings
from shared import clock
from tests.conftest import bearer, build_app, serve
from tests.credit_blacklist.helpers import list_one
from tests.factories import NAMED_REPORTER_ID


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
