"""The W3C trace context an event carries (the CloudEvents distributed-tracing extension): read
strictly, kept out of the signature, continued by the events a consumer raises while applying it,
and on every log line of that work; each event applied, retried and dead-lettered is logged."""

from __future__ import annotations

import httpx
import pytest
from cloudevents.core.bindings import kafka as ce_kafka
from sqlalchemy import select

from shared.events import PoisonEvent, ReportVerifiedV1, decode, encode
from shared.inbox import Message
from shared.models import OutboxMessage
from shared.tracing import TraceContext, request_id, trace_context, valid_request_id
from tests.factories import submitted
from tests.keys import SERVICE_KEYS, TRUST
from tests.log_lines import captured_logs
from tests.shared.inbox_helpers import TOPIC, failing_on, make_inbox, settle
from tests.verification.helpers import on_report_submitted

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
INTAKE = SERVICE_KEYS["intake"]


@pytest.mark.parametrize(("traceparent", "valid"), [
    (f"00-{TRACE}-{PARENT}-01", True),
    (f"00-{TRACE}-{PARENT}-00", True),
    (f"01-{TRACE}-{PARENT}-01-what-a-later-version-adds", True),
    (f"00-{TRACE}-{PARENT}-01-more", False),  # version 00 has four fields exactly
    (f"ff-{TRACE}-{PARENT}-01", False),
    (f"00-{TRACE.upper()}-{PARENT}-01", False),
    (f"00-{'0' * 32}-{PARENT}-01", False),
    (f"00-{TRACE}-{'0' * 16}-01", False),
    (f"00-{TRACE[:-1]}-{PARENT}-01", False),
    ("", False), ("garbage", False), ("00-" + "a" * 600, False),
])
def test_a_traceparent_is_read_by_w3c_rules(traceparent, valid):
    parent = TraceContext.parse(traceparent)
    assert (parent is not None) == valid
    if valid:
        assert parent is not None and (parent.trace_id, parent.span_id) == (TRACE, PARENT)
        assert parent.flags in ("00", "01")


def test_our_tracestate_member_comes_first_and_the_others_are_kept():
    parent = TraceContext.parse(f"00-{TRACE}-{PARENT}-01", "rojo=00f067aa0ba902b7,zhengming=abc,congo=t61rcWkgMzE")
    assert parent is not None and parent.request_id == "abc"
    child = parent.child(request_id="def")
    assert child.tracestate == "zhengming=def,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"
    assert child.trace_id == TRACE and child.span_id != PARENT
    assert child.traceparent == f"00-{TRACE}-{child.span_id}-01"


@pytest.mark.parametrize("tracestate", [
    "not a member", "rojo=1,rojo=2", "zhengming=" + "a" * 600, ",".join(f"v{i}=1" for i in range(40)),
])
def test_a_tracestate_that_is_not_valid_is_dropped_and_the_trace_kept(tracestate):
    parent = TraceContext.parse(f"00-{TRACE}-{PARENT}-01", tracestate)
    assert parent is not None and parent.trace_id == TRACE
    assert parent.request_id is None and parent.vendor_state == ""


def test_a_request_id_in_a_tracestate_is_believed_only_when_plain():
    assert not valid_request_id("a" * 65)
    parent = TraceContext.parse(f"00-{TRACE}-{PARENT}-01", "zhengming=" + "a" * 65)
    assert parent is not None and parent.request_id is None


def test_a_step_of_a_reports_trace_names_the_request_that_started_it_and_the_one_that_took_it():
    origin = TraceContext.parse(f"00-{TRACE}-{PARENT}-01", "zhengming=abc,rojo=00f067aa0ba902b7")
    assert origin is not None
    step = origin.step(by_request_id="verdict-1")
    assert (step.trace_id, step.request_id) == (TRACE, "abc") and step.span_id != PARENT
    assert step.tracestate == "zhengming=abc,zhengming-by=verdict-1,rojo=00f067aa0ba902b7"
    # Read back off the wire, both are there; a consumer's child span keeps them.
    read = TraceContext.parse(step.traceparent, step.tracestate)
    assert read is not None and (read.request_id, read.by_request_id) == ("abc", "verdict-1")
    assert read.child().tracestate == step.tracestate
    # A request of its own is its own step; the report's origin alone is where a journey starts.
    assert read.child(request_id="def").tracestate == "zhengming=def,rojo=00f067aa0ba902b7"
    assert read.origin.tracestate == "zhengming=abc,rojo=00f067aa0ba902b7"
    # The request that started the trace taking a step is named once.
    assert origin.step(by_request_id="abc").tracestate == origin.tracestate
    assert TraceContext.parse(step.traceparent, "zhengming-by=" + "a" * 65).by_request_id is None  # type: ignore[union-attr]


def test_a_step_keeps_tracestate_within_w3cs_32_members_and_512_characters():
    def stepped(others: list[str], request: str) -> list[str]:
        origin = TraceContext.parse(f"00-{TRACE}-{PARENT}-01", ",".join([f"zhengming={request}", *others]))
        assert origin is not None and origin.request_id == request
        state = origin.step(by_request_id="b" * 64).tracestate
        assert state is not None and len(state) <= 512
        members = state.split(",")
        assert members[:2] == [f"zhengming={request}", f"zhengming-by={'b' * 64}"] and len(members) <= 32
        return members[2:]

    # 31 others: room is kept for our two members, the last other dropped (W3C: from the right).
    many = [f"v{i:02d}=1" for i in range(31)]
    assert stepped(many, "abc") == many[:30]
    # 30 others of 494 characters in all, with our first: our second pushes the last ones out.
    long = [f"v{i:02d}={'x' * 9}" for i in range(30)]
    kept = stepped(long, "a" * 64)
    assert 0 < len(kept) < 30 and kept == long[:len(kept)]


async def test_a_call_to_intake_for_an_identity_carries_the_trace_and_request_id_of_its_moment():
    from services.credit_blacklist.identity import IntakeClient

    seen: list[httpx.Request] = []

    def intake(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 2:  # intake has not recorded the verdict yet: the client asks again
            return httpx.Response(409, json={"rule": "verdict_not_recorded"})
        return httpx.Response(200, json={"report_id": "r-1", "anonymous": True})

    client = IntakeClient(base_url="http://intake", credential=lambda: "credential", backoff_s=0,
                          transport=httpx.MockTransport(intake))
    span = TraceContext.new(request_id="abc").step(by_request_id="verdict-1")
    async with client:
        await client.reporter_identity(report_id="r-1", verdict_id="v-1", version=1)
        tokens = trace_context.set(span), request_id.set("abc")
        try:
            await client.reporter_identity(report_id="r-1", verdict_id="v-1", version=1)
        finally:
            request_id.reset(tokens[1])
            trace_context.reset(tokens[0])
    outside, *inside = seen
    assert not {"traceparent", "tracestate", "x-request-id"} & set(outside.headers)
    assert len(inside) == 2
    for request in inside:
        assert (request.headers["traceparent"], request.headers["tracestate"], request.headers["x-request-id"]) == (
            span.traceparent, "zhengming=abc,zhengming-by=verdict-1", "abc")


def wire(trace: TraceContext | None, report_id: str = "r-1") -> tuple[list[tuple[str, bytes]], bytes]:
    _, record = encode(submitted(report_id), key=report_id, source=INTAKE.source, signer=INTAKE, trace=trace)
    return [(k, v.encode()) for k, v in record.headers.items()], record.value


def replaced(headers: list[tuple[str, bytes]], name: str, value: bytes) -> list[tuple[str, bytes]]:
    return [(k, value if k == name else v) for k, v in headers]


def test_an_event_carries_the_trace_it_was_raised_in_and_its_signature_verifies():
    trace = TraceContext.new(request_id="abc")
    headers, value = wire(trace)
    assert dict(headers)["ce_traceparent"] == trace.traceparent.encode()
    assert dict(headers)["ce_tracestate"] == b"zhengming=abc"
    event = decode(headers, b"r-1", value, trust=TRUST)
    assert event.trace == trace
    # The CloudEvents SDK reads it as the distributed-tracing extension.
    sdk = ce_kafka.from_binary_event(ce_kafka.KafkaMessage(headers=dict(headers), key=b"r-1", value=value))
    assert sdk.get_extension("traceparent") == trace.traceparent


def test_a_forged_or_broken_trace_context_changes_only_the_trace_an_event_is_logged_under():
    """The trace headers are outside the signature (shared/events.py says why): an event whose trace
    context was replaced on the way is still the same event, trusted and applied once by its id."""
    headers, value = wire(TraceContext.new())
    forged = decode(replaced(headers, "ce_traceparent", f"00-{TRACE}-{PARENT}-01".encode()), b"r-1", value,
                    trust=TRUST)
    broken = decode(replaced(headers, "ce_traceparent", b"\xff\x00 not a traceparent"), b"r-1", value, trust=TRUST)
    genuine = decode(headers, b"r-1", value, trust=TRUST)
    assert forged.id == broken.id == genuine.id and forged.data == genuine.data
    assert forged.trace is not None and forged.trace.trace_id == TRACE and broken.trace is None
    # What the signature covers still may not change.
    with pytest.raises(PoisonEvent, match="signature"):
        decode(replaced(headers, "ce_subject", b"r-2"), b"r-1", value, trust=TRUST)


def message(trace: TraceContext | None, report_id: str = "r-1", offset: int = 0) -> Message:
    headers, value = wire(trace, report_id)
    return Message(topic=TOPIC, partition=0, offset=offset, key=report_id.encode(), headers=headers, value=value)


async def raised_headers(sessions) -> list[dict[str, str]]:
    async with sessions() as s:
        return [row.headers for row in await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


def verdict_for(report_id: str) -> ReportVerifiedV1:
    from tests.credit_blacklist.helpers import verdict

    return verdict(report_id)


async def raise_a_verdict(event, uow):
    """A handler that opens the case and raises an event in turn, as a downstream service does."""
    await on_report_submitted(event, uow)
    uow.raise_event(verdict_for(event.data.report_id), key=event.data.report_id)


async def test_events_raised_while_applying_an_event_continue_its_trace_and_its_lines_carry_it(verification_db):
    sent = TraceContext.new(request_id="abc")
    with captured_logs() as logs:
        assert await settle(make_inbox(verification_db, raise_a_verdict), message(sent))
    (raised,) = await raised_headers(verification_db)
    _, trace_id, span_id, _ = raised["ce_traceparent"].split("-")
    assert trace_id == sent.trace_id and span_id != sent.span_id  # a child span of the event's
    assert raised["ce_tracestate"] == "zhengming=abc"
    (applied,) = logs.where(msg="event applied")
    assert applied["event_type"] == "report.submitted.v1" and applied["report_id"] == "r-1"
    assert (applied["trace_id"], applied["span_id"], applied["request_id"]) == (sent.trace_id, span_id, "abc")
    assert applied["subscriber"] == "verification" and applied["offset"] == 0 and applied["event_id"]


async def test_an_event_that_carries_no_trace_is_applied_in_a_new_one(verification_db):
    with captured_logs() as logs:
        assert await settle(make_inbox(verification_db, raise_a_verdict), message(None))
    (raised,) = await raised_headers(verification_db)
    (applied,) = logs.where(msg="event applied")
    assert raised["ce_traceparent"] == f"00-{applied['trace_id']}-{applied['span_id']}-01"
    assert "request_id" not in applied and "ce_tracestate" not in raised


async def test_a_duplicate_is_logged_as_skipped_in_the_trace_it_came_with(verification_db):
    sent = TraceContext.new()
    inbox, first = make_inbox(verification_db), message(sent)
    again = Message(topic=TOPIC, partition=0, offset=1, key=first.key, headers=first.headers, value=first.value)
    with captured_logs() as logs:
        assert await settle(inbox, first) and await settle(inbox, again)
    assert [line["msg"] for line in logs.where(trace_id=sent.trace_id)] == [
        "event applied", "event already applied; skipped"]


async def test_each_retry_and_the_dead_letter_of_a_failing_event_are_logged_with_its_ids(verification_db):
    sent = TraceContext.new(request_id="abc")
    with captured_logs() as logs:
        assert await settle(make_inbox(verification_db, failing_on("r-1", {})), message(sent))
    lines = logs.where(trace_id=sent.trace_id)
    assert [line["msg"] for line in lines] == ["event failed; retrying", "event failed; retrying",
                                               "event dead-lettered"]
    for line in lines:
        assert (line["report_id"], line["request_id"], line["event_type"]) == ("r-1", "abc", "report.submitted.v1")
    assert [line["attempt"] for line in lines[:2]] == [1, 2]
    assert lines[0]["reason"] == "handler_failed" and "subject organization unknown" in lines[0]["error"]
    assert lines[2]["reason"] == "handler_failed" and lines[2]["level"] == "error" and lines[2]["attempts"] == 3


async def test_a_refused_event_is_logged_by_its_place_not_by_what_it_claims(verification_db):
    headers, value = wire(TraceContext.new(request_id="abc"))
    unsigned = [(k, v) for k, v in headers if k != "ce_signature"]
    with captured_logs() as logs:
        assert await settle(make_inbox(verification_db), Message(topic=TOPIC, partition=2, offset=7, key=b"r-1",
                                                                 headers=unsigned, value=value))
    (line,) = logs.where(msg="event dead-lettered")
    assert line["reason"] == "signature_invalid" and line["event_id"] == f"{TOPIC}:2:7"
    assert not {"trace_id", "request_id", "report_id"} & set(line)


async def test_events_applied_together_each_continue_their_own_trace(verification_db):
    async def raise_verdicts(events, uow):
        for event in events:
            await raise_a_verdict(event, uow)

    first, second = TraceContext.new(request_id="one"), TraceContext.new(request_id="two")
    inbox = make_inbox(verification_db, raise_a_verdict, handle_many=raise_verdicts)
    with captured_logs() as logs:
        assert await inbox.apply_together([message(first, "r-1", 0), message(second, "r-2", 1)], {})
    raised = {h["ce_subject"]: h["ce_traceparent"].split("-")[1] for h in await raised_headers(verification_db)}
    assert raised == {"r-1": first.trace_id, "r-2": second.trace_id}
    applied = logs.where(msg="event applied")
    assert {(line["report_id"], line["trace_id"], line["request_id"]) for line in applied} == {
        ("r-1", first.trace_id, "one"), ("r-2", second.trace_id, "two")}
