"""report.verified.v1 -> entries: listing, idempotency, anonymity, supersession, repeat offenders, and
intake's outages (retried until it is back, never dead-lettered)."""

import json
from types import SimpleNamespace

import httpx
import pytest
from sqlalchemy import func, select

from services.credit_blacklist.handlers import consumers
from services.credit_blacklist.identity import IdentityRefused, IntakeClient, IntakeUnavailable, VerdictSuperseded
from services.credit_blacklist.models import Entry, ReportVerdict
from services.credit_blacklist.service import BlacklistRules
from shared.calendar import WorkingCalendar, china_date
from shared.db import utcnow
from shared.events import PoisonEvent
from shared.models import AuditRecord, DeadLetter, OutboxMessage
from shared.uow import UnitOfWork
from tests.conftest import bearer, build_app, eventually, serve
from tests.credit_blacklist.helpers import FakeIntake, received, verdict
from tests.factories import NAMED_REPORTER_ID, report_body, resident_id
from tests.kafka_helpers import produce_event
from tests.keys import AUDIT_KEYS, SERVICE_KEYS


@pytest.fixture
async def desk(new_database, cipher, sessions_for):
    sessions = sessions_for(await new_database("credit_blacklist"))
    intake = FakeIntake()
    runtime = SimpleNamespace(cipher=cipher, calendar=WorkingCalendar())
    own = SimpleNamespace(identities=intake, rules=BlacklistRules())
    handler = consumers(runtime, own)[0].handler
    n = 0

    async def apply(data):
        nonlocal n
        n += 1
        async with UnitOfWork(sessions, signer=SERVICE_KEYS["credit_blacklist"], audit_keys=AUDIT_KEYS) as uow:
            await handler(received(f"e-{n}", data), uow)
            await uow.commit()

    async def entries():
        async with sessions() as s:
            return list(await s.scalars(select(Entry).order_by(Entry.created_at)))

    async def events():
        async with sessions() as s:
            rows = await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
            return [(r.event_type, r.message_key, json.loads(r.payload)) for r in rows]

    async def outcome(report_id):
        async with sessions() as s:
            return (await s.get(ReportVerdict, report_id)).outcome

    return SimpleNamespace(apply=apply, entries=entries, events=events, outcome=outcome, intake=intake,
                           sessions=sessions)


async def test_a_final_malicious_verdict_lists_the_reporter_notified_with_identity_encrypted(desk, cipher):
    desk.intake.add("r-1")
    await desk.apply(verdict("r-1"))
    [entry] = await desk.entries()
    assert entry.status == "notified" and entry.report_id == "r-1" and entry.case_id == "c-r-1-1"
    assert (entry.severity, entry.reason_code, entry.repeat_offender) == ("ordinary", "false_accusation", False)
    assert entry.legal_basis_ref and entry.legal_basis_text and entry.publication == "public"
    assert entry.period_months == 6 and entry.minimum_months == 3
    assert (entry.objection_deadline - china_date(entry.notified_at)).days >= 15
    assert "李秀英" not in entry.name_enc and NAMED_REPORTER_ID not in entry.id_number_enc
    assert cipher.decrypt(entry.id_number_enc, column="entries.id_number_enc") == NAMED_REPORTER_ID
    assert entry.blind_index == cipher.blind_index(NAMED_REPORTER_ID)
    assert desk.intake.calls == [("r-1", "v-r-1-1")]
    [(event_type, key, data)] = await desk.events()
    assert event_type == "blacklist.entry_notified.v1" and key == "r-1"
    assert data["entry_id"] == entry.id and data["objection_deadline"] == entry.objection_deadline.isoformat()
    text = json.dumps(data, ensure_ascii=False)
    assert "李秀英" not in text and NAMED_REPORTER_ID not in text and entry.blind_index not in text
    assert await desk.outcome("r-1") == "listed"


async def test_the_same_verdict_twice_lists_once_and_asks_intake_once(desk):
    desk.intake.add("r-1")
    await desk.apply(verdict("r-1"))
    await desk.apply(verdict("r-1"))  # e.g. re-published under a new event id by an outbox replay
    assert len(await desk.entries()) == 1 and len(desk.intake.calls) == 1
    assert len(await desk.events()) == 1


async def test_an_anonymous_reporter_is_recorded_unidentified_and_never_asked_for(desk):
    await desk.apply(verdict("r-1", anonymous=True))
    assert await desk.entries() == [] and desk.intake.calls == []
    assert await desk.outcome("r-1") == "unidentified"
    desk.intake.add("r-2", anonymous=True)  # intake says so even though the event did not
    await desk.apply(verdict("r-2"))
    assert await desk.entries() == [] and await desk.outcome("r-2") == "unidentified"


@pytest.mark.parametrize("outcome", ["untrue", "true", "inconclusive"])
async def test_verdicts_that_are_not_malicious_list_nobody(desk, outcome):
    await desk.apply(verdict("r-1", verdict=outcome))
    assert await desk.entries() == [] and desk.intake.calls == [] and await desk.events() == []
    assert await desk.outcome("r-1") == "not_listed"


async def test_a_superseding_verdict_that_is_not_malicious_revokes_the_entry(desk):
    desk.intake.add("r-1")
    await desk.apply(verdict("r-1"))
    await desk.apply(verdict("r-1", verdict="untrue", version=2, supersedes_verdict_id="v-r-1-1"))
    [entry] = await desk.entries()
    assert entry.status == "revoked" and entry.removal_reason == "verdict_superseded"
    removed = [d for t, _, d in await desk.events() if t == "blacklist.entry_removed.v1"]
    assert removed == [{**removed[0], "entry_id": entry.id, "report_id": "r-1", "status": "revoked",
                        "reason_code": "verdict_superseded"}]
    await desk.apply(verdict("r-1", version=1))  # the old verdict arriving late changes nothing
    assert [e.status for e in await desk.entries()] == ["revoked"]


async def test_a_superseding_malicious_verdict_replaces_the_entry_with_a_fresh_notice(desk):
    desk.intake.add("r-1")
    await desk.apply(verdict("r-1", severity="ordinary"))
    await desk.apply(verdict("r-1", version=2, severity="serious", supersedes_verdict_id="v-r-1-1"))
    old, new = await desk.entries()
    assert (old.status, new.status, new.severity) == ("revoked", "notified", "serious")
    assert new.repeat_offender is False  # the same report is not a repeat


async def test_a_repeat_offender_goes_to_the_top_of_the_range(desk):
    desk.intake.add("r-1")
    desk.intake.add("r-2")
    desk.intake.add("r-3", id_number=resident_id(seq=7))
    await desk.apply(verdict("r-1", severity="serious"))
    await desk.apply(verdict("r-2", severity="serious"))
    await desk.apply(verdict("r-3", severity="serious"))
    first, second, stranger = await desk.entries()
    assert (first.repeat_offender, first.period_months) == (False, 24)
    assert (second.repeat_offender, second.period_months) == (True, 36)
    assert (stranger.repeat_offender, stranger.period_months) == (False, 24)
    assert second.period_basis.startswith("P-REPEAT")


async def test_a_revoked_earlier_entry_does_not_make_a_repeat_offender(desk):
    desk.intake.add("r-1")
    desk.intake.add("r-2")
    await desk.apply(verdict("r-1"))
    await desk.apply(verdict("r-1", verdict="untrue", version=2))
    await desk.apply(verdict("r-2"))
    assert [e.repeat_offender for e in await desk.entries()] == [False, False]


async def test_a_report_intake_does_not_know_is_poison(desk):
    with pytest.raises(PoisonEvent, match="no report r-9"):
        await desk.apply(verdict("r-9"))
    assert await desk.entries() == []


# --- the HTTP client to intake ------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "rule", "error", "calls"), [
    (503, None, IntakeUnavailable, 3), (401, None, IntakeUnavailable, 3), (429, None, IntakeUnavailable, 3),
    (409, "verdict_not_recorded", IntakeUnavailable, 3),  # intake applies the verdict on its own: wait for it
    (409, "verdict_superseded", VerdictSuperseded, 1), (403, "no_malicious_verdict", IdentityRefused, 1),
    (422, None, RuntimeError, 1)])
async def test_intake_failures_are_sorted_into_transient_or_not(status, rule, error, calls):
    seen = []

    def answer(request):
        seen.append(request)
        return httpx.Response(status, json={"code": "x", "rule": rule})

    async with IntakeClient(base_url="http://intake", credential=lambda: "credential", attempts=3, backoff_s=0,
                            transport=httpx.MockTransport(answer)) as client:
        with pytest.raises(error):
            await client.reporter_identity(report_id="r-1", verdict_id="v-7", version=2)
    assert len(seen) == calls  # only transient answers are retried
    assert issubclass(IntakeUnavailable, ConnectionError)  # what the consumer retries without end
    request = seen[0]
    assert request.url.path == "/v1/reports/r-1/reporter"
    assert dict(request.url.params) == {"verdict_id": "v-7", "version": "2"}
    assert request.headers["Authorization"] == "Bearer credential"


async def test_a_verdict_intake_already_superseded_lists_nobody(desk):
    class Superseded(FakeIntake):
        async def reporter_identity(self, **kw):
            raise VerdictSuperseded("newer at intake")

    desk.intake.__class__ = Superseded
    await desk.apply(verdict("r-1"))
    assert await desk.entries() == [] and await desk.outcome("r-1") == "superseded"


async def test_a_malicious_verdict_without_an_approver_is_poison_and_asks_intake_nothing(desk):
    desk.intake.add("r-1")
    with pytest.raises(PoisonEvent, match="names no approver"):
        await desk.apply(verdict("r-1").model_copy(update={"approver": None}))
    assert desk.intake.calls == [] and await desk.entries() == []


class Switch(httpx.AsyncBaseTransport):
    """Intake's network path: down (connection refused) until switched on."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.up, self.refused = inner, False, 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not self.up:
            self.refused += 1
            raise httpx.ConnectError("connection refused", request=request)
        return await self.inner.handle_async_request(request)


async def test_while_intake_is_down_the_event_waits_and_is_applied_once_it_is_back(
    new_database, broker, settings_for, make_token, sessions_for
):
    intake_url = await new_database("intake")
    # Intake applies the same verdict (it records the approved malicious verdict it then releases for).
    intake_app = build_app("intake", settings_for("intake", intake_url, bootstrap=broker, workers=True))
    blacklist_url = await new_database("credit_blacklist")
    switch = Switch(httpx.ASGITransport(app=intake_app))
    from services.credit_blacklist.app import create_app

    blacklist_app = create_app(settings_for("credit_blacklist", blacklist_url, bootstrap=broker, workers=True,
                                            run_sweep=False, intake_attempts=1), intake_transport=switch)
    sessions = sessions_for(blacklist_url)

    async def count(model):
        async with sessions() as s:
            return await s.scalar(select(func.count()).select_from(model))

    async with serve(intake_app) as intake, serve(blacklist_app):
        r = await intake.post("/v1/reports", json=report_body(), headers=bearer(make_token("reports:submit")))
        report_id = r.json()["id"]
        await produce_event(broker, verdict(report_id), key=report_id)
        # Far more attempts than consumer_max_attempts (3): an outage is never the event's fault.
        async def refused_often():
            return switch.refused >= 8

        await eventually(refused_often, timeout_s=60, what="repeated identity attempts")
        assert await count(Entry) == 0 and await count(DeadLetter) == 0
        switch.up = True
        await eventually(lambda: count(Entry), timeout_s=30, what="the entry once intake is back")
        assert await count(DeadLetter) == 0
        async with sessions() as s:
            entry = await s.scalar(select(Entry))
        assert entry.report_id == report_id and entry.status == "notified"
        assert entry.notified_at <= utcnow()
    async with sessions_for(intake_url)() as s:
        releases = list(await s.scalars(select(AuditRecord).where(AuditRecord.action == "reporter.identity_released")))
    assert [(a.actor, a.object_id) for a in releases] == [("service:credit_blacklist", report_id)]
    assert entry.verdict_id in releases[0].reason and releases[0].details["fields"] == ["name", "id_number"]


async def test_a_verdict_with_ids_too_long_to_store_is_poison_at_once(desk):
    desk.intake.add("r-1")
    with pytest.raises(PoisonEvent, match="case_id"):
        await desk.apply(verdict("r-1").model_copy(update={"case_id": "c" * 37}))
    assert desk.intake.calls == []
