"""Each service remembers the trace a report's journey started with (`trace_links`): the first event
about the report it applies, or at intake the submission's request. Remembered once, in the same
transaction as the effect, and never replaced; events about the report raised later in another
trace -- an officer's request, a sweeper's round -- continue it, naming the officer's request too."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from sqlalchemy import select

from shared.inbox import Message
from shared.models import InboxMark, OutboxMessage, TraceLink
from shared.tracing import TraceContext, request_id, trace_context
from shared.uow import UnitOfWork
from tests.conftest import bearer, build_app, serve
from tests.factories import report_body
from tests.keys import AUDIT_KEYS, SERVICE_KEYS
from tests.shared.inbox_helpers import TOPIC, failing_on, make_inbox, settle
from tests.shared.test_tracing import message, verdict_for

ORIGIN = TraceContext.new(request_id="abc")


async def ignore(event, uow):
    """A handler whose only effect is the inbox's own mark."""


async def links(sessions) -> dict[str, tuple[str, str | None]]:
    async with sessions() as s:
        return {link.key: (link.traceparent, link.tracestate) for link in await s.scalars(select(TraceLink))}


async def outbox_by_subject(sessions) -> dict[str, dict[str, str]]:
    async with sessions() as s:
        return {row.headers["ce_subject"]: row.headers for row in await s.scalars(select(OutboxMessage))}


@contextlib.contextmanager
def within(trace: TraceContext | None) -> Iterator[None]:
    """Run as a request whose span is `trace` would (None: as a sweeper, in no context)."""
    tokens = trace_context.set(trace), request_id.set(trace.request_id if trace else None)
    try:
        yield
    finally:
        request_id.reset(tokens[1])
        trace_context.reset(tokens[0])


def unit(sessions) -> UnitOfWork:
    return UnitOfWork(sessions, signer=SERVICE_KEYS["verification"], audit_keys=AUDIT_KEYS)


async def test_the_first_event_about_a_report_is_remembered_and_no_later_one_replaces_it(verification_db):
    inbox, first = make_inbox(verification_db, ignore), message(ORIGIN, "r-1", 0)
    redelivered = Message(topic=TOPIC, partition=0, offset=1, key=first.key, headers=first.headers, value=first.value)
    assert await settle(inbox, first) and await settle(inbox, redelivered)
    assert await settle(inbox, message(TraceContext.new(request_id="later"), "r-1", 2))
    assert await links(verification_db) == {"r-1": (ORIGIN.traceparent, "zhengming=abc")}
    assert len(await links(verification_db)) == 1


async def test_the_first_of_a_batch_about_one_report_is_the_one_remembered(verification_db):
    second = TraceContext.new(request_id="second")
    inbox = make_inbox(verification_db, ignore)
    assert await inbox.apply_together([message(ORIGIN, "r-1", 0), message(second, "r-1", 1),
                                       message(second, "r-2", 2)], {})
    assert await links(verification_db) == {"r-1": (ORIGIN.traceparent, "zhengming=abc"),
                                            "r-2": (second.traceparent, "zhengming=second")}


async def test_an_event_that_is_not_applied_leaves_no_trace_remembered(verification_db):
    assert await settle(make_inbox(verification_db, failing_on("r-1", {})), message(ORIGIN, "r-1"))
    async with verification_db() as s:
        assert [mark.outcome for mark in await s.scalars(select(InboxMark))] == ["dead_lettered"]
    assert await links(verification_db) == {}


async def test_a_trace_is_remembered_with_the_effect_or_not_at_all(verification_db):
    async with unit(verification_db) as uow:
        uow.remember_traces({"r-1": ORIGIN})
        uow.raise_event(verdict_for("r-1"), key="r-1")
        await uow.flush_events()  # written, in the transaction
        # no commit: the unit rolls back, its event and the trace with it
    assert await links(verification_db) == {} and await outbox_by_subject(verification_db) == {}
    async with unit(verification_db) as uow:
        uow.remember_traces({"r-1": ORIGIN})
        await uow.commit()
    assert await links(verification_db) == {"r-1": (ORIGIN.traceparent, "zhengming=abc")}


async def test_a_verdict_raised_in_an_officers_request_continues_the_reports_trace(verification_db):
    assert await settle(make_inbox(verification_db, ignore), message(ORIGIN, "r-1"))
    officer = TraceContext.new(request_id="verdict-1")
    with within(officer):
        async with unit(verification_db) as uow:
            uow.raise_event(verdict_for("r-1"), key="r-1")
            uow.raise_event(verdict_for("r-2"), key="r-2")  # a report this service has no trace for
            await uow.commit()
    raised = await outbox_by_subject(verification_db)
    _, trace_id, span_id, _ = raised["r-1"]["ce_traceparent"].split("-")
    assert trace_id == ORIGIN.trace_id and span_id not in (ORIGIN.span_id, officer.span_id)
    assert raised["r-1"]["ce_tracestate"] == "zhengming=abc,zhengming-by=verdict-1"
    # Without a remembered trace, an event is raised in the request's, as it always was.
    assert raised["r-2"]["ce_traceparent"] == officer.traceparent
    assert raised["r-2"]["ce_tracestate"] == "zhengming=verdict-1"


async def test_an_event_a_sweeper_raises_about_a_report_continues_its_trace(verification_db):
    assert await settle(make_inbox(verification_db, ignore), message(ORIGIN, "r-1"))
    with within(None):
        async with unit(verification_db) as uow:
            uow.raise_event(verdict_for("r-1"), key="r-1")
            await uow.commit()
    raised = (await outbox_by_subject(verification_db))["r-1"]
    assert raised["ce_traceparent"].split("-")[1] == ORIGIN.trace_id
    assert raised["ce_tracestate"] == "zhengming=abc"


async def test_a_submission_remembers_its_requests_trace_and_a_replay_adds_none(
        new_database, settings_for, make_token, sessions_for):
    url = await new_database("intake")
    sessions = sessions_for(url)
    client_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with serve(build_app("intake", settings_for("intake", url))) as intake:
        headers = {**bearer(make_token("reports:submit")), "Idempotency-Key": "k-1", "X-Request-ID": "abc",
                   "traceparent": f"00-{client_trace}-00f067aa0ba902b7-01", "tracestate": "rojo=1"}
        created = await intake.post("/v1/reports", json=report_body(), headers=headers)
        assert created.status_code == 201, created.text
        replayed = await intake.post("/v1/reports", json=report_body(), headers={
            **headers, "X-Request-ID": "retry", "traceparent": f"00-{'1' * 32}-00f067aa0ba902b7-01"})
        assert replayed.status_code in (200, 201) and replayed.json()["id"] == created.json()["id"]
    report_id = created.json()["id"]
    (event,) = (await outbox_by_subject(sessions)).values()
    # The report's journey starts with the span its submitted event was raised in.
    assert await links(sessions) == {report_id: (event["ce_traceparent"], "zhengming=abc,rojo=1")}
    assert event["ce_traceparent"].split("-")[1] == client_trace
