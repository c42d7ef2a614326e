"""The blacklist desk the API tests work at: the service on a fresh database, verdicts listed through
the service, its events, audit records and stored entries, and the officers' and systems' credentials."""

import json
from types import SimpleNamespace

import pytest
from sqlalchemy import select

from services.credit_blacklist import service
from services.credit_blacklist.models import Entry
from shared.models import AuditRecord, OutboxMessage
from tests.conftest import bearer, build_app, serve
from tests.credit_blacklist.helpers import FakeIntake, age, verdict
from tests.factories import NAMED_REPORTER_ID


@pytest.fixture
def make_desk(new_database, settings_for, make_token, sessions_for):
    async def make(**overrides):
        url = await new_database("credit_blacklist")
        app = build_app("credit_blacklist", settings_for("credit_blacklist", url, run_sweep=False, **overrides))
        sessions = sessions_for(url)
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

    return make


@pytest.fixture
async def desk(make_desk):
    d = await make_desk()
    async with serve(d.app) as client:
        d.client = client
        yield d
