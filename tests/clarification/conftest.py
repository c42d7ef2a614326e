"""The `office` fixture: a clarification service on a fresh database, an officer of 3305 with
write scope, the venues of tests.clarification.helpers registered, and helpers to feed verdicts,
read events, book and travel in time."""

import json
from datetime import datetime

import pytest
from sqlalchemy import select

from services.clarification import consent, meetings, records, service
from shared.models import AuditRecord, OutboxMessage
from tests.clarification.helpers import VENUES, WRITE, verdict
from tests.conftest import bearer, build_app, serve


@pytest.fixture
async def office(new_database, settings_for, make_token, sessions_for, monkeypatch):
    url = await new_database("clarification")
    app = build_app("clarification", settings_for("clarification", url))
    async with serve(app) as client:
        client.headers.update(bearer(make_token(WRITE, sub="officer-chen", region="3305")))
        sessions = sessions_for(url)
        for venue in VENUES:
            r = await client.put(f"/v1/venues/{venue}", json={
                "region_code": "330502", "name": f"吴兴区纪委监委{venue}会议室", "address": "湖州市吴兴区青铜路88号"})
            assert r.status_code == 201, r.text

        async def feed(v):
            async with app.runtime.uow() as uow:
                await service.on_verdict(uow=uow, verdict=v, rules=app.resources)
                await uow.commit()
            items = (await client.get("/v1/clarifications", params={"report_id": v.report_id})).json()["items"]
            return items[-1] if items else None

        async def events(event_type=None):
            async with sessions() as s:
                rows = (await s.scalars(select(OutboxMessage).where(OutboxMessage.topic == "clarification.events")
                                        .order_by(OutboxMessage.id))).all()
            return [(r.event_type, json.loads(r.payload)) for r in rows if event_type in (None, r.event_type)]

        async def consented(report_id, **kw):
            c = await feed(verdict(report_id, **kw))
            r = await client.post(f"/v1/clarifications/{c['id']}/consent", json={"consent": True})
            assert r.status_code == 200, r.text
            return r.json()

        async def slot(venue="hall-1", count=1, duration=60, start=None):
            params = {"duration": duration, "count": count, **({"from": start.isoformat()} if start else {})}
            r = await client.get(f"/v1/venues/{venue}/free-slots", params=params)
            assert r.status_code == 200, r.text
            return [datetime.fromisoformat(s["starts_at"]) for s in r.json()["slots"]]

        def book(clarification_id, starts_at, venue="hall-1", minutes=60):
            return client.post(f"/v1/clarifications/{clarification_id}/meetings", json={
                "starts_at": starts_at.isoformat(), "duration_minutes": minutes, "venue_id": venue,
                "host_organization": "吴兴区纪委监委", "scope": "unit", "invitees": ["自然资源局全体干部"]})

        def travel(to):  # every module that reads the clock
            for module in (service, consent, meetings, records):
                monkeypatch.setattr(module, "utcnow", lambda: to)

        async def audits(action):
            async with sessions() as s:
                return list(await s.scalars(select(AuditRecord).where(AuditRecord.action == action)))

        client.feed, client.events, client.consented, client.slot, client.book = feed, events, consented, slot, book
        client.audits, client.sessions = audits, sessions
        client.travel, client.make_token = travel, make_token
        yield client
