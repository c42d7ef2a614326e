"""One id to follow a request: X-Request-ID in and out, in every problem body and on every log line
of the request, a 500 included; the request's W3C trace context carried into the events it writes.
Also HEAD /livez and a 405's Allow header."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest
import uvicorn
from sqlalchemy import select

from shared.broker import free_port
from shared.events import decode
from shared.models import OutboxMessage
from tests.conftest import bearer, build_app, eventually, serve
from tests.factories import NAMED_REPORTER_ID, report_body
from tests.keys import TRUST
from tests.log_lines import captured_logs

NEW_ID = re.compile(r"[0-9a-f]{32}")
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_PARENT = "00f067aa0ba902b7"
TRACEPARENT = f"00-{CLIENT_TRACE}-{CLIENT_PARENT}-01"


@pytest.fixture
async def intake(new_database, settings_for, make_token, sessions_for):
    url = await new_database("intake")
    app = build_app("intake", settings_for("intake", url))
    async with serve(app) as client:
        client.headers.update(bearer(make_token("reports:submit reports:read")))
        client.sessions = sessions_for(url)
        yield client


async def outbox_headers(sessions) -> list[dict[str, str]]:
    async with sessions() as s:
        return [row.headers for row in await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id))]


async def test_a_request_sent_with_an_id_gets_it_back_in_the_header_the_problem_and_its_log_lines(intake):
    with captured_logs() as logs:
        created = await intake.post("/v1/reports", json=report_body(), headers={"X-Request-ID": "abc"})
        missing = await intake.get("/v1/reports/00000000-0000-4000-8000-000000000000",
                                   headers={"X-Request-ID": "abc-2"})
        refused = await intake.post("/v1/reports", json={**report_body(), "colour": "red"},
                                    headers={"X-Request-ID": "abc-3", "Authorization": ""})
    assert created.status_code == 201 and created.headers["x-request-id"] == "abc"
    assert missing.status_code == 404 and missing.headers["x-request-id"] == "abc-2"
    assert missing.headers["content-type"] == "application/problem+json" and missing.json()["request_id"] == "abc-2"
    assert refused.status_code == 401 and refused.json()["request_id"] == "abc-3"
    access = logs.where(msg="request", request_id="abc")
    assert len(access) == 1 and access[0]["status"] == 201 and access[0]["report_id"] == created.json()["id"]
    assert [line["status"] for line in logs.where(msg="request", request_id="abc-2")] == [404]
    assert [line["status"] for line in logs.where(msg="request", request_id="abc-3")] == [401]
    assert NAMED_REPORTER_ID not in logs.raw() and "李秀英" not in logs.raw()


async def test_an_answer_to_a_request_without_an_id_names_a_new_one(intake):
    first, second = await intake.get("/livez"), await intake.get("/v1/reports/nope")
    assert NEW_ID.fullmatch(first.headers["x-request-id"]) and NEW_ID.fullmatch(second.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert second.json()["request_id"] == second.headers["x-request-id"]


@pytest.mark.parametrize("sent", [
    "a" * 65,  # too long
    "abc def", "abc,def", "abc=def", '{"level":"error"}', "<script>", "\t",
    "王建国".encode().decode("latin-1"),  # not ASCII, as a client's bytes arrive
])
async def test_a_malformed_request_id_is_replaced_and_never_logged(intake, sent):
    with captured_logs() as logs:
        r = await intake.get("/v1/reports/nope", headers={"X-Request-ID": sent.encode("latin-1")})
    made = r.headers["x-request-id"]
    assert NEW_ID.fullmatch(made) and r.json()["request_id"] == made
    assert [line["status"] for line in logs.where(msg="request", request_id=made)] == [404]
    assert all(line.get("request_id") != sent for line in logs.all())


async def test_the_longest_plain_request_id_is_kept(intake):
    sent = "A-z0._:/+@" + "9" * 54
    assert (await intake.get("/livez", headers={"X-Request-ID": sent})).headers["x-request-id"] == sent


async def test_a_forced_500_answers_problem_json_with_the_id_and_logs_one_traceback(new_database, settings_for):
    """Under uvicorn, as in production: uvicorn reports the same exception again after our handler,
    and that second traceback must not reach the log."""
    app = build_app("intake", settings_for("intake", await new_database("intake")))

    async def fails() -> None:
        raise RuntimeError("a bug the test put here")

    app.add_api_route("/v1/failing", fails, methods=["GET"])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    with captured_logs() as logs:
        serving = asyncio.create_task(server.serve())
        try:
            async def started() -> bool:
                assert not serving.done(), "the server stopped"
                return server.started

            await eventually(started, timeout_s=30, what="uvicorn started")
            async with httpx.AsyncClient() as client:
                r = await client.get(f"http://127.0.0.1:{port}/v1/failing", headers={"X-Request-ID": "abc"})
        finally:
            server.should_exit = True
            await serving
    assert r.status_code == 500 and r.headers["content-type"] == "application/problem+json"
    assert r.headers["x-request-id"] == "abc" and r.json()["request_id"] == "abc"
    assert r.json()["code"] == "internal_error" and "a bug" not in r.text
    tracebacks = [line for line in logs.all() if "exc" in line]
    assert len(tracebacks) == 1, tracebacks
    assert tracebacks[0]["request_id"] == "abc" and tracebacks[0]["route"] == "/v1/failing"
    assert "RuntimeError: a bug the test put here" in tracebacks[0]["exc"]
    assert [line["status"] for line in logs.where(msg="request", request_id="abc")] == [500]


async def test_a_report_submitted_with_a_traceparent_writes_its_event_in_that_trace(intake):
    with captured_logs() as logs:
        r = await intake.post("/v1/reports", json=report_body(), headers={
            "X-Request-ID": "abc", "traceparent": TRACEPARENT, "tracestate": "rojo=00f067aa0ba902b7"})
    (headers,) = await outbox_headers(intake.sessions)
    version, trace_id, span_id, flags = headers["ce_traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", CLIENT_TRACE, "01")
    assert span_id != CLIENT_PARENT  # the request's own span, a child of the client's
    assert headers["ce_tracestate"] == "zhengming=abc,rojo=00f067aa0ba902b7"
    (access,) = logs.where(msg="request", request_id="abc")
    assert (access["trace_id"], access["span_id"], access["report_id"]) == (CLIENT_TRACE, span_id, r.json()["id"])
    # The trace headers sit beside the signature, which still verifies.
    event = decode([(k, v.encode()) for k, v in headers.items()], r.json()["id"].encode(),
                   (await payloads(intake.sessions))[0], trust=TRUST)
    assert event.trace is not None and (event.trace.trace_id, event.trace.request_id) == (CLIENT_TRACE, "abc")


async def payloads(sessions) -> list[bytes]:
    async with sessions() as s:
        return list(await s.scalars(select(OutboxMessage.payload).order_by(OutboxMessage.id)))


@pytest.mark.parametrize("traceparent", [None, "00-XYZ", f"ff-{CLIENT_TRACE}-{CLIENT_PARENT}-01",
                                         f"00-{'0' * 32}-{CLIENT_PARENT}-01"])
async def test_a_report_submitted_without_a_valid_traceparent_starts_a_trace_of_its_own(intake, traceparent):
    headers = {} if traceparent is None else {"traceparent": traceparent}
    for _ in range(2):
        assert (await intake.post("/v1/reports", json=report_body(), headers=headers)).status_code == 201
    first, second = [h["ce_traceparent"].split("-")[1] for h in await outbox_headers(intake.sessions)]
    assert NEW_ID.fullmatch(first) and first != second and CLIENT_TRACE not in (first, second)


async def test_head_livez_answers_200_without_a_body(intake):
    r = await intake.head("/livez")
    assert r.status_code == 200 and r.content == b"" and r.headers["x-request-id"]


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("DELETE", "/v1/reports", "GET, POST"),  # a path two routes serve: both methods, the fast one's too
    ("PUT", "/livez", "GET, HEAD"),
    ("POST", "/v1/reports/00000000-0000-4000-8000-000000000000", "GET"),
])
async def test_a_method_the_path_does_not_serve_is_405_naming_those_it_does(intake, method, path, allowed):
    r = await intake.request(method, path, headers={"X-Request-ID": "abc"})
    assert r.status_code == 405 and r.headers["allow"] == allowed
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["code"] == "method_not_allowed" and r.json()["request_id"] == "abc"
