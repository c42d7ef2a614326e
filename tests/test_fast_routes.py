"""Every fast operation (shared/fastroute.py) answers every request exactly as its documented
FastAPI form does: status, content type, body, problem details and headers, for good and bad
requests, in English and in Chinese. The documented form is what the service would run without
the fast route; a test reaches it by taking the fast route out of the router."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from services.credit_blacklist import service as blacklist
from services.registry import SERVICES
from shared.fastroute import FastRoute
from shared.ratelimit import RateLimiter
from shared.web import ServiceApp
from tests.conftest import bearer, build_app, serve
from tests.credit_blacklist.helpers import FakeIntake, age, verdict
from tests.factories import NAMED_REPORTER_ID, report_body, resident_id

JSON = {"Content-Type": "application/json"}
ZH = {"Accept-Language": "zh-CN"}


@contextlib.contextmanager
def documented_form_only(app: ServiceApp) -> Any:
    """The app with its fast routes taken out: requests reach the documented FastAPI operations."""
    fast = [route for route in app.router.routes if isinstance(route, FastRoute)]
    for route in fast:
        app.router.routes.remove(route)
    try:
        yield
    finally:
        app.router.routes[0:0] = fast


@contextlib.contextmanager
def counting_fast_requests(app: ServiceApp, served: list[str]) -> Any:
    """Every request a fast route answers is noted in `served`."""
    routes = [route for route in app.router.routes if isinstance(route, FastRoute)]
    assert routes, "the app serves no fast route"
    for route in routes:
        def counted(scope: Any, receive: Any, send: Any, operation: Any = route.operation) -> Awaitable[None]:
            served.append(scope["path"])
            return operation(scope, receive, send)
        route.app = counted
    try:
        yield
    finally:
        for route in routes:
            route.app = route.operation


@dataclass
class Scenario:
    """One fast operation's requests, each with its headers, and how to run them on an app."""

    service: str
    method: str
    path: str
    requests: list[tuple[dict[str, Any], dict[str, str]]]
    app: Callable[[], contextlib.AbstractAsyncContextManager[Any]]  # a started app and its client
    before_run: Callable[[ServiceApp], None] = lambda app: None
    normalize: Callable[[list[tuple[Any, ...]]], list[tuple[Any, ...]]] = lambda answers: answers


async def answers(scenario: Scenario, client: Any) -> list[tuple[Any, ...]]:
    """Each answer: status, content type, body, the headers that vary by request (Location,
    Idempotent-Replayed, Retry-After, WWW-Authenticate), then every header but Location and, unless
    it holds new random ids (201), the body's bytes. Request i is sent with the same X-Request-ID
    to both forms, so the id each echoes (header and problem body) compares too."""
    out = []
    for i, (kwargs, headers) in enumerate(scenario.requests):
        request_id = f"parity-{i}"
        r = await client.request(scenario.method, scenario.path, **{
            **kwargs, "headers": {**kwargs.get("headers", {}), **headers, "X-Request-ID": request_id}})
        assert r.status_code != 500 and r.headers["x-request-id"] == request_id
        if r.headers["content-type"] == "application/problem+json":
            assert r.json()["request_id"] == request_id
        rest = sorted((name, value) for name, value in r.headers.multi_items() if name != "location")
        out.append((r.status_code, r.headers["content-type"], r.json(), r.headers.get("location"),
                    r.headers.get("idempotent-replayed"), r.headers.get("retry-after"),
                    r.headers.get("www-authenticate"), rest, None if r.status_code == 201 else r.content))
    return scenario.normalize(out)


# --- POST /v1/reports ------------------------------------------------------------------------------


def submission(new_database, settings_for, make_token) -> Scenario:
    """Each form serves the requests on a database of its own, so duplicate flags and idempotent
    replays meet the same history; ids and receipt codes, random, compare by where they first appeared."""
    submitter = bearer(make_token("reports:submit"))
    reader = bearer(make_token("reports:read"))
    named, anonymous = report_body(), report_body(anonymous=True)

    def keyed(key, auth=submitter):
        return {**auth, "Idempotency-Key": key}

    def normalize(out):
        labels: dict[str, str] = {}

        def label(value):
            return labels.setdefault(value, f"<{len(labels)}>")

        normal = []
        for status, kind, body, location, *rest in out:
            if status == 201:
                body = {**body, "id": label(body["id"]), "receipt_code": label(body["receipt_code"]),
                        "linked_report_ids": [label(i) for i in body["linked_report_ids"]]}
                location = label(location.removeprefix("/v1/reports/"))
            normal.append((status, kind, body, location, *rest))
        return normal

    @contextlib.asynccontextmanager
    async def started() -> AsyncIterator[tuple[ServiceApp, Any]]:
        app = build_app("intake", settings_for("intake", await new_database("intake")))
        async with serve(app) as client:
            yield app, client

    return Scenario("intake", "POST", "/v1/reports", [
        ({"json": named}, submitter),
        ({"json": anonymous}, submitter),
        ({"json": named}, keyed("order-1")),
        ({"json": named}, keyed("order-1")),  # the retry: the first answer again, Idempotent-Replayed
        ({"json": anonymous}, keyed("order-1")),  # the same key with another body: 422 idempotency_key_reused
        ({"json": anonymous}, keyed("k" * 200)),  # the longest key
        ({"json": named}, keyed("k" * 201)),
        ({"json": named}, keyed("")),
        ({"json": named}, keyed("order 2")),
        ({"json": named}, keyed("заказ-2".encode())),  # not ASCII: read as Latin-1, refused by the pattern
        ({"json": {**named, "colour": "red"}}, keyed("order 3")),  # one 422 naming the header, then the body
        ({"content": b"", "headers": JSON}, keyed("")),  # the key and the missing body, together
        ({"json": report_body(region_code="33050", allegations=[])}, submitter),
        ({"json": [named]}, submitter),
        ({"content": b'{"channel": "onl', "headers": JSON}, keyed("")),  # parsed first: only json_invalid
        ({"content": b"", "headers": JSON}, submitter),
        ({"content": json.dumps(named).encode(), "headers": {"Content-Type": "text/plain"}}, submitter),
        ({"content": json.dumps(named).encode()}, submitter),  # no Content-Type: not read as JSON
        ({"json": named}, {}),  # 401
        ({"json": named}, {"Authorization": "Basic YTpi"}),
        ({"json": named}, {"Authorization": "Bearer not-a-token"}),
        ({"content": b"", "headers": JSON}, {"Idempotency-Key": ""}),  # the token is checked first
        ({"json": named}, reader),  # 403
        ({"content": b"", "headers": JSON}, keyed("", reader)),  # 403 before the key and the body
        ({"json": anonymous},  # spaces around the token, as HTTPBearer allows
         {"Authorization": "bearer  " + make_token("reports:submit", sub="case-system") + " "}),
        # the problems again, asked in Chinese: the same codes and fields, the words in Chinese
        ({"json": {**named, "colour": "red"}}, {**keyed("order 3"), **ZH}),
        ({"json": anonymous}, {**keyed("order-1"), "Accept-Language": "zh"}),
        ({"content": b'{"channel": "onl', "headers": JSON}, {**submitter, **ZH}),
        ({"json": report_body(region_code="33050", allegations=[])}, {**submitter, **ZH}),
        ({"json": named}, ZH),
        ({"json": named}, {"Authorization": "Bearer not-a-token", **ZH}),
        ({"json": named}, {**reader, "Accept-Language": "zh-Hans, en;q=0.5"}),
        ({"json": named}, {**submitter, **ZH}),  # an answer that is no problem is the same in every language
    ], app=started, normalize=normalize)


def check_submission(served: list[tuple[Any, ...]]) -> None:
    statuses = [status for status, *_ in served]
    assert statuses == [201] * 4 + [422, 201] + [422] * 12 + [401] * 4 + [403, 403, 201] \
        + [422] * 4 + [401, 401, 403, 201]
    assert all(location == body["id"] for _, _, body, location, *_ in served if location is not None)
    assert served[3][2] == served[2][2] and [answer[4] for answer in served[2:4]] == [None, "true"]
    assert served[4][2]["code"] == "idempotency_key_reused"

    def problems_in(answer):
        return [(e["field"], e["type"]) for e in answer[2]["errors"]]

    assert [problems_in(a) for a in served[6:12]] == [
        [("Idempotency-Key", "string_too_long")], [("Idempotency-Key", "string_too_short")],
        [("Idempotency-Key", "string_pattern_mismatch")], [("Idempotency-Key", "string_pattern_mismatch")],
        [("Idempotency-Key", "string_pattern_mismatch"), ("colour", "extra_forbidden")],
        [("Idempotency-Key", "string_too_short"), ("body", "missing")],
    ]
    assert problems_in(served[14]) == [("body", "json_invalid")]
    in_chinese(served[-8:-1], like=[served[10], served[4], served[14], served[12], served[18], served[20], served[22]])


def in_chinese(asked: list[tuple[Any, ...]], *, like: list[tuple[Any, ...]]) -> None:
    """Problems asked in Chinese are the English ones (`like`) with the title, the detail and each
    error's message in Chinese."""
    for (status, kind, body, *_, headers, _), (e_status, e_kind, english, *_) in zip(asked, like, strict=True):
        assert (status, kind) == (e_status, e_kind) and ("content-language", "zh-CN") in headers
        assert {k: v for k, v in body.items() if k not in ("title", "detail", "errors", "request_id")} == \
               {k: v for k, v in english.items() if k not in ("title", "detail", "errors", "request_id")}
        assert [{**e, "message": ""} for e in body.get("errors", [])] == \
               [{**e, "message": ""} for e in english.get("errors", [])]
        for text in (body["title"], body["detail"], *(e["message"] for e in body.get("errors", []))):
            assert re.search(r"[\u4e00-\u9fff]", text), text


# --- POST /v1/checks -------------------------------------------------------------------------------


def blacklist_check(new_database, settings_for, make_token) -> Scenario:
    """Both forms answer on one app holding one active entry, each with a fresh limit of three a minute."""
    checker = bearer(make_token("blacklist:check", sub="svc-credit-platform"))
    holder: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def started() -> AsyncIterator[tuple[ServiceApp, Any]]:
        if "app" not in holder:
            url = await new_database("credit_blacklist")
            holder["app"] = build_app("credit_blacklist", settings_for("credit_blacklist", url, run_sweep=False))
        app = holder["app"]
        async with serve(app) as client:
            if "listed" not in holder:
                intake = FakeIntake()
                intake.add("r-1", id_number=NAMED_REPORTER_ID)
                async with app.runtime.uow() as uow:
                    seen = await blacklist.apply_verdict(
                        uow=uow, verdict=verdict("r-1", severity="ordinary", region_code="330502"), identities=intake,
                        cipher=app.runtime.cipher, calendar=app.runtime.calendar, rules=blacklist.BlacklistRules())
                    await uow.commit()
                await age(app.runtime.sessions, seen.entry_id, 20)  # past its objection window: active
                holder["listed"] = seen.entry_id
            yield app, client

    def fresh_limit(app: ServiceApp) -> None:
        app.resources.check_limiter = RateLimiter(3)  # type: ignore[attr-defined]

    body = {"json": {"id_number": NAMED_REPORTER_ID}}
    return Scenario("credit_blacklist", "POST", "/v1/checks", [
        (body, checker),  # listed
        ({"json": {"id_number": resident_id(seq=9)}}, checker),  # not listed
        ({"json": {"id_number": f" {NAMED_REPORTER_ID.lower()} "}}, checker),  # same person
        ({"json": {"id_number": "11010519491231002Y"}}, checker),  # bad checksum: 422 id_number
        ({"json": {"id_number": 11010519491231002}}, checker),
        ({"json": {"id_number": NAMED_REPORTER_ID, "name": "李秀英"}}, checker),
        ({"json": {}}, checker),
        ({"json": ["11010519491231002X"]}, checker),
        ({"content": b'{"id_number": "1101', "headers": JSON}, checker),
        ({"content": b"", "headers": JSON}, checker),
        ({"content": b'{"id_number": "11010519491231002X"}', "headers": {"Content-Type": "text/plain"}}, checker),
        ({"content": b'{"id_number": "11010519491231002X"}'}, checker),  # no Content-Type: not read as JSON
        (body, {}),  # 401
        (body, {"Authorization": "Basic YTpi"}),
        (body, {"Authorization": "Bearer not-a-token"}),
        ({"content": b"", "headers": JSON}, {}),  # no body and no token: the token is checked first
        (body, bearer(make_token("blacklist:read"))),  # 403
        ({"content": b"", "headers": JSON}, bearer(make_token("blacklist:read"))),  # 403 before the body
        (body, {"Authorization": "bearer  " + make_token("blacklist:check", sub="another-system") + " "}),
        # the problems again, asked in Chinese: the same codes and fields, the words in Chinese
        ({"json": {"id_number": "11010519491231002Y"}}, {**checker, **ZH}),
        ({"content": b'{"id_number": "1101', "headers": JSON}, {**checker, "Accept-Language": "zh"}),
        (body, ZH),
        (body, {**bearer(make_token("blacklist:read")), **ZH}),
        (body, checker),  # the fourth check a minute: 429
        (body, {**checker, **ZH}),
    ], app=started, before_run=fresh_limit)


def check_blacklist_check(served: list[tuple[Any, ...]]) -> None:
    statuses = [status for status, *_ in served]
    assert statuses == [200, 200, 200] + [422] * 9 + [401, 401, 401, 401, 403, 403, 200] + [422, 422, 401, 403] \
        + [429, 429]
    assert served[0][2]["listed"] is True
    assert served[1][2] == {"listed": False, "status": "not_listed", "listed_until": None}
    assert served[3][2]["errors"][0]["field"] == "id_number"
    assert served[-2][2]["code"] == "rate_limited" and int(served[-2][5]) >= 1
    in_chinese(served[-6:-2] + served[-1:], like=[served[3], served[8], served[12], served[16], served[-2]])
    assert served[-6][2]["errors"][0]["message"] == "不是有效的居民身份证号码（校验码不正确）"


SCENARIOS = {
    ("intake", "POST", "/v1/reports"): (submission, check_submission),
    ("credit_blacklist", "POST", "/v1/checks"): (blacklist_check, check_blacklist_check),
}


def test_every_fast_operation_has_a_parity_scenario():
    declared = {(name, op.method, op.path) for name, service in SERVICES.items() for op in service.fast_operations}
    assert declared == set(SCENARIOS)


@pytest.mark.parametrize("operation", sorted(SCENARIOS), ids=lambda key: f"{key[1]} {key[2]}")
async def test_a_fast_operation_answers_every_request_exactly_as_its_documented_form(
        operation, new_database, settings_for, make_token):
    build, check_answers = SCENARIOS[operation]
    scenario = build(new_database, settings_for, make_token)
    served: list[str] = []
    async with scenario.app() as (app, client):
        scenario.before_run(app)
        with counting_fast_requests(app, served):
            fast = await answers(scenario, client)
    assert served == [scenario.path] * len(scenario.requests)  # every request took the fast route
    async with scenario.app() as (app, client):
        scenario.before_run(app)
        with documented_form_only(app):
            reference = await answers(scenario, client)
    assert len(served) == len(scenario.requests)  # and none the second time
    for got, expected, (kwargs, headers) in zip(fast, reference, scenario.requests, strict=True):
        assert got == expected, (kwargs, headers)
    check_answers(fast)
