"""End to end through the real broker: a report submitted with `X-Request-ID: abc` and a W3C
traceparent is followed by them in every service that handles it. The event intake publishes carries
the trace (CloudEvents distributed tracing) and verification's lines applying it carry the trace and
`abc`; the verdict, though raised in the officers' own requests with a trace of their own, continues
the report's trace (the trace verification remembers for the report), naming `abc` as the request
that started it and the approver's request as the one that took the step; and clarification's,
intake's and credit_blacklist's lines applying the verdict, the events they raise meanwhile, and
intake's lines releasing the reporter's identity to credit_blacklist all share that trace and `abc`."""

from __future__ import annotations

from typing import Any

import httpx

from services.credit_blacklist.app import create_app as create_blacklist_app
from tests.conftest import bearer, build_app, eventually, serve
from tests.factories import report_body
from tests.kafka_helpers import read_topic
from tests.log_lines import captured_logs
from tests.verification.driver import Officers

SUBMISSION_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
OFFICERS_TRACE = "0af7651916cd43dd8448eb211c80319c"
CONSUMERS = ("clarification", "intake", "credit_blacklist")


def traceparent(trace_id: str, span_id: str = "b7ad6b7169203331") -> str:
    return f"00-{trace_id}-{span_id}-01"


def trace_headers(message: Any) -> tuple[str, str, str | None]:
    """(trace id, span id, tracestate) of a message off the broker."""
    headers = {name: value.decode() for name, value in message.headers}
    _, trace_id, span_id, _ = headers["ce_traceparent"].split("-")
    return trace_id, span_id, headers.get("ce_tracestate")


async def test_a_report_is_followed_by_its_request_id_and_trace_through_every_service(
        officer_headers, new_database, broker, settings_for, make_token):
    async def settings(name: str, **overrides: Any) -> Any:
        return settings_for(name, await new_database(name), bootstrap=broker, workers=True, **overrides)

    intake_app = build_app("intake", await settings("intake"))
    apps = {"intake": intake_app,
            "verification": build_app("verification", await settings("verification")),
            "clarification": build_app("clarification", await settings("clarification")),
            # credit_blacklist calls intake for the reporter's identity, in-process here
            "credit_blacklist": create_blacklist_app(await settings("credit_blacklist", run_sweep=False),
                                                     intake_transport=httpx.ASGITransport(app=intake_app))}
    with captured_logs() as logs:
        async with serve(apps["intake"]) as intake, serve(apps["verification"]) as verification, \
                serve(apps["clarification"]), serve(apps["credit_blacklist"]):
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

            def applied(subscriber: str, event_type: str) -> dict[str, Any] | None:
                found = logs.where(msg="event applied", subscriber=subscriber, event_type=event_type,
                                   report_id=report_id)
                return found[0] if found else None

            async def applying(subscriber: str, event_type: str) -> dict[str, Any]:
                async def probe() -> dict[str, Any] | None:
                    return applied(subscriber, event_type)
                return await eventually(probe, timeout_s=60, what=f"{subscriber} applying {event_type}")

            # verification applies it: its lines name the report, the trace and the request
            opened = await applying("verification", "report.submitted.v1")
            assert opened["trace_id"] == SUBMISSION_TRACE and opened["request_id"] == "abc"
            assert opened["span_id"] != submitted_span and opened["topic"] == "reports.submitted"

            # The officers conclude and approve in requests of their own, in a trace of their own...
            officers = Officers(
                verification,
                {**officer_headers.investigator, "X-Request-ID": "conclusion-1",
                 "traceparent": traceparent(OFFICERS_TRACE)},
                {**officer_headers.approver, "X-Request-ID": "approval-1",
                 "traceparent": traceparent(OFFICERS_TRACE, "c7ad6b7169203332")})

            async def case() -> dict[str, Any] | None:
                items = (await verification.get("/v1/cases", params={"report_id": report_id},
                                                headers=officers.investigator)).json()["items"]
                return items[0] if items else None

            await officers.drive(await eventually(case, what="the case"), "malicious_approved")
            (approval,) = logs.where(msg="request", request_id="approval-1", route="/v1/cases/{case_id}/approval")
            assert approval["trace_id"] == OFFICERS_TRACE

            # ...but the verdict continues the report's trace: a new span of it, `abc` its origin,
            # the approver's request the one that took the step.
            (verified,) = await read_topic(broker, "reports.verified", expect=1)
            verdict_trace, verdict_span, state = trace_headers(verified)
            assert verdict_trace == SUBMISSION_TRACE
            assert verdict_span not in (submitted_span, opened["span_id"], approval["span_id"])
            assert state == "zhengming=abc,zhengming-by=approval-1,rojo=00f067aa0ba902b7"

            # Every consumer of the verdict applies it in the report's trace, under `abc`.
            lines = {subscriber: await applying(subscriber, "report.verified.v1") for subscriber in CONSUMERS}
            for subscriber, line in lines.items():
                assert (line["trace_id"], line["request_id"], line["by_request_id"]) == (
                    SUBMISSION_TRACE, "abc", "approval-1"), subscriber
                assert line["span_id"] != verdict_span

            # The events they raise meanwhile continue it.
            (clarification_opened,) = await read_topic(broker, "clarification.events", expect=1)
            assert trace_headers(clarification_opened) == (SUBMISSION_TRACE, lines["clarification"]["span_id"], state)
            (entry_notified,) = await read_topic(broker, "blacklist.events", expect=1)
            assert trace_headers(entry_notified) == (SUBMISSION_TRACE, lines["credit_blacklist"]["span_id"], state)

            # credit_blacklist's call for the reporter's identity carries them to intake: its lines for
            # the release are in the report's trace too, under `abc`, children of the span applying it.
            # (Every attempt: intake answers 409 until it has applied the verdict itself.)
            released = logs.where(msg="request", route="/v1/reports/{report_id}/reporter")
            assert 200 in {line["status"] for line in released}
            assert {(line["trace_id"], line["request_id"]) for line in released} == {(SUBMISSION_TRACE, "abc")}
    published = logs.where(msg="outbox batch published")
    assert {topic for line in published for topic in line["topics"]} >= {
        "reports.submitted", "reports.verified", "clarification.events", "blacklist.events"}
    # Nothing any service logged about the report strays from its trace, but the officers' own requests.
    about_the_report = [line for line in logs.where(report_id=report_id) if line.get("request_id") == "abc"]
    assert {line["trace_id"] for line in about_the_report} == {SUBMISSION_TRACE}
