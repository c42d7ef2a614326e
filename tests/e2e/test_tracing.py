"""End to end through the real broker: a report submitted with a request id and a W3C traceparent
is followed by them -- the event intake publishes carries the trace (CloudEvents distributed
tracing), verification's lines applying it carry the trace and the request id, and the events a
consumer raises while applying an event continue that event's trace, as clarification's does for
the verdict."""

from __future__ import annotations

from typing import Any

from tests.conftest import bearer, build_app, eventually, serve
from tests.factories import report_body
from tests.kafka_helpers import read_topic
from tests.log_lines import captured_logs
from tests.verification.driver import Officers

SUBMISSION_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
VERDICT_TRACE = "0af7651916cd43dd8448eb211c80319c"


def traceparent(trace_id: str, span_id: str = "b7ad6b7169203331") -> str:
    return f"00-{trace_id}-{span_id}-01"


def trace_headers(message: Any) -> tuple[str, str, str | None]:
    """(trace id, span id, tracestate) of a message off the broker."""
    headers = {name: value.decode() for name, value in message.headers}
    _, trace_id, span_id, _ = headers["ce_traceparent"].split("-")
    return trace_id, span_id, headers.get("ce_tracestate")


async def test_a_report_is_followed_by_its_request_id_and_trace_through_the_broker(
        officer_headers, new_database, broker, settings_for, make_token):
    apps = {name: build_app(name, settings_for(name, await new_database(name), bootstrap=broker, workers=True))
            for name in ("intake", "verification", "clarification")}
    with captured_logs() as logs:
        async with serve(apps["intake"]) as intake, serve(apps["verification"]) as verification, \
                serve(apps["clarification"]):
            created = await intake.post("/v1/reports", json=report_body(), headers={
                **bearer(make_token("reports:submit")), "X-Request-ID": "abc",
                "traceparent": traceparent(SUBMISSION_TRACE), "tracestate": "rojo=00f067aa0ba902b7"})
            assert created.status_code == 201 and created.headers["x-request-id"] == "abc"
            report_id = created.json()["id"]

            # intake -> reports.submitted: the request's span, in the client's trace, with the request id
            (submitted,) = await read_topic(broker, "reports.submitted", expect=1)
            trace_id, submitted_span, state = trace_headers(submitted)
            assert trace_id == SUBMISSION_TRACE and state == "zhengming=abc,rojo=00f067aa0ba902b7"
            (access,) = logs.where(msg="request", request_id="abc")
            assert (access["trace_id"], access["span_id"], access["report_id"]) == (
                SUBMISSION_TRACE, submitted_span, report_id)

            # verification applies it: its lines name the report, the trace and the request
            async def applied(subscriber: str, event_type: str) -> dict[str, Any] | None:
                found = logs.where(msg="event applied", subscriber=subscriber, event_type=event_type,
                                   report_id=report_id)
                return found[0] if found else None

            opened = await eventually(lambda: applied("verification", "report.submitted.v1"),
                                      what="verification applying the report")
            assert opened["trace_id"] == SUBMISSION_TRACE and opened["request_id"] == "abc"
            assert opened["span_id"] != submitted_span and opened["topic"] == "reports.submitted"

            # An officer's conclusion, a request of its own, publishes the verdict in its trace.
            investigator = {**officer_headers.investigator, "X-Request-ID": "verdict-1",
                            "traceparent": traceparent(VERDICT_TRACE)}
            officers = Officers(verification, investigator, officer_headers.approver)

            async def case() -> dict[str, Any] | None:
                items = (await verification.get("/v1/cases", params={"report_id": report_id},
                                                headers=officers.investigator)).json()["items"]
                return items[0] if items else None

            await officers.drive(await eventually(case, what="the case"), "untrue")
            (verified,) = await read_topic(broker, "reports.verified", expect=1)
            verdict_trace, verdict_span, state = trace_headers(verified)
            assert verdict_trace == VERDICT_TRACE and state == "zhengming=verdict-1"

            # clarification applies the verdict, and the event it raises meanwhile continues its trace
            clarified = await eventually(lambda: applied("clarification", "report.verified.v1"),
                                         what="clarification applying the verdict")
            assert (clarified["trace_id"], clarified["request_id"]) == (VERDICT_TRACE, "verdict-1")
            (opened_event,) = await read_topic(broker, "clarification.events", expect=1)
            assert trace_headers(opened_event) == (VERDICT_TRACE, clarified["span_id"], "zhengming=verdict-1")
            assert clarified["span_id"] != verdict_span

            # ...and so does intake's line for the receipt's outcome
            receipt = await eventually(lambda: applied("intake", "report.verified.v1"),
                                       what="intake applying the verdict")
            assert (receipt["trace_id"], receipt["request_id"]) == (VERDICT_TRACE, "verdict-1")
    published = logs.where(msg="outbox batch published")
    assert {topic for line in published for topic in line["topics"]} >= {
        "reports.submitted", "reports.verified", "clarification.events"}
