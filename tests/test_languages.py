"""In the officers' language (#19, item 8): every problem a service answers reads in Chinese when the
request prefers it (Accept-Language, q-values honoured; the default is a setting), with the same
code, type, status, fields and extension members; the catalogue has both languages of everything;
no raise site writes an English sentence of its own; the CLI speaks Chinese in a Chinese locale."""

from __future__ import annotations

import ast
import contextlib
import importlib
import os
import pkgutil
import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic_core import PydanticKnownError

import services
import shared
from services.clarification import service as clarification_service
from services.clarification.domain import ClarificationStatus
from services.credit_blacklist import service as blacklist_service
from services.credit_blacklist.domain import EntryStatus, RemovalKind
from services.registry import SERVICES
from services.verification.domain import CaseStatus
from shared.catalogue import MESSAGES, TERMS, TITLES, VALIDATION
from shared.errors import DomainError
from shared.messages import CHINESE, ENGLISH, Message, negotiate, placeholders
from shared.vocabulary import ORG_LEVELS, Verdict
from tests.clarification.helpers import verdict as clarification_verdict
from tests.conftest import bearer, build_app, serve
from tests.credit_blacklist.helpers import FakeIntake
from tests.credit_blacklist.helpers import verdict as blacklist_verdict
from tests.factories import report_body
from tests.test_openapi import enums
from tests.verification.helpers import on_report_submitted, received

ROOT = Path(__file__).resolve().parents[1]
CHINESE_TEXT = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
# Three English words in a row: a sentence left untranslated (ids, codes, field names and scopes are
# single tokens: `opens_at`, `reports:read`, `hall-1`).
ENGLISH_SENTENCE = re.compile(r"\b[A-Za-z]{2,}(?:[ ,]+[A-Za-z]{2,}){2,}\b")
ENGLISH_WORDS = re.compile(r"[A-Za-z]{2,}\s+[A-Za-z]+")
TRANSLATED = ("title", "detail", "errors", "request_id")  # request_id: each request has its own


def chinese(text: str) -> bool:
    return bool(CHINESE_TEXT.search(text)) and not ENGLISH_SENTENCE.search(text)


# --- the services, with something to refuse -------------------------------------------------------------


@dataclass
class Desk:
    client: httpx.AsyncClient
    app: Any
    ids: dict[str, str]
    tokens: dict[str, dict[str, str]]


@pytest.fixture
def open_desk(new_database, settings_for, make_token) -> Callable[..., contextlib.AbstractAsyncContextManager[Desk]]:
    """A service on a fresh database with a case, a clarification or an entry to refuse things about."""

    @contextlib.asynccontextmanager
    async def open_desk(service: str, **settings: Any) -> AsyncIterator[Desk]:
        app = build_app(service, settings_for(service, await new_database(service), **settings))
        async with serve(app) as client:
            desk = Desk(client, app, {}, {})
            await SEED[service](desk, make_token)
            yield desk

    return open_desk


async def _intake(desk: Desk, make_token: Callable[..., str]) -> None:
    desk.tokens.update(submitter=bearer(make_token("reports:submit", region="3305")),
                       reader=bearer(make_token("reports:read", region="3305")))


async def _verification(desk: Desk, make_token: Callable[..., str]) -> None:
    async with desk.app.runtime.uow() as uow:
        await on_report_submitted(received("e-1", "r-1"), uow)
        await uow.commit()
    desk.tokens.update(officer=bearer(make_token("verification:read verification:write", region="3305")),
                       clerk=bearer(make_token("reports:read", region="3305")))
    case = (await desk.client.get("/v1/cases", headers=desk.tokens["officer"])).json()["items"][0]
    desk.ids["case"] = case["id"]


async def _clarification(desk: Desk, make_token: Callable[..., str]) -> None:
    officer = desk.tokens["officer"] = bearer(make_token("clarification:read clarification:write", region="3305"))
    r = await desk.client.put("/v1/venues/hall-1", json={"region_code": "330502", "name": "吴兴区纪委监委第一会议室",
                                                          "address": "湖州市吴兴区青铜路88号"}, headers=officer)
    assert r.status_code == 201, r.text
    async with desk.app.runtime.uow() as uow:
        await clarification_service.on_verdict(uow=uow, verdict=clarification_verdict("r-1"), rules=desk.app.resources)
        await uow.commit()
    clarification = (await desk.client.get("/v1/clarifications", headers=officer)).json()["items"][0]
    r = await desk.client.post(f"/v1/clarifications/{clarification['id']}/consent", json={"consent": True},
                               headers=officer)
    assert r.status_code == 200, r.text
    desk.ids["clarification"] = clarification["id"]


async def _credit_blacklist(desk: Desk, make_token: Callable[..., str]) -> None:
    intake = FakeIntake()
    intake.add("r-1")
    runtime = desk.app.runtime
    async with runtime.uow() as uow:
        seen = await blacklist_service.apply_verdict(
            uow=uow, verdict=blacklist_verdict("r-1"), identities=intake, cipher=runtime.cipher,
            calendar=runtime.calendar, rules=blacklist_service.BlacklistRules())
        await uow.commit()
    desk.ids["entry"] = str(seen.entry_id)
    desk.tokens.update(writer=bearer(make_token("blacklist:read blacklist:write", region="3305", sub="officer-2")),
                       checker=bearer(make_token("blacklist:check", region="", sub="svc-credit-platform")))


SEED: dict[str, Callable[[Desk, Callable[..., str]], Awaitable[None]]] = {
    "intake": _intake, "verification": _verification, "clarification": _clarification,
    "credit_blacklist": _credit_blacklist}


# --- the problems -------------------------------------------------------------------------------------------

Send = Callable[[dict[str, str]], Awaitable[httpx.Response]]


@dataclass(frozen=True)
class Scenario:
    name: str
    service: str
    status: int
    code: str
    prepare: Callable[[Desk], Awaitable[Send]]  # does what the refusal needs once; answers how to send it
    members: tuple[str, ...] = ()  # the extension members it carries (the same in both languages)
    settings: tuple[tuple[str, Any], ...] = ()


def sending(method: str, path: str | Callable[[Desk], str], *, token: str | None = None,
            headers: dict[str, str] | None = None, **kwargs: Any) -> Callable[[Desk], Awaitable[Send]]:
    async def prepare(desk: Desk) -> Send:
        where = path(desk) if callable(path) else path
        sent = {**(desk.tokens[token] if token else {}), **(headers or {})}
        return lambda language: desk.client.request(method, where, headers={**sent, **language}, **kwargs)
    return prepare


async def _key_reused(desk: Desk) -> Send:
    key = {"Idempotency-Key": "retry-7f3a", **desk.tokens["submitter"]}
    assert (await desk.client.post("/v1/reports", json=report_body(), headers=key)).status_code == 201
    other = report_body(external_ref="XF-2026-000999")
    return lambda headers: desk.client.post("/v1/reports", json=other, headers={**key, **headers})


async def _receipts_exhausted(desk: Desk) -> Send:
    await desk.client.get("/v1/receipts/ZMABCDEFGH23")  # the one lookup a minute this client has
    return lambda headers: desk.client.get("/v1/receipts/ZMABCDEFGH23", headers=headers)


async def _own_objection(desk: Desk) -> Send:
    r = await desk.client.post(f"/v1/entries/{desk.ids['entry']}/objections",
                               json={"grounds": "本人不服，举报时并不知情，请求复核。"}, headers=desk.tokens["writer"])
    assert r.status_code == 201, r.text
    return lambda headers: desk.client.post(f"/v1/objections/{r.json()['id']}/decision",
                                            json={"decision": "uphold", "reason": "经复核，决定如上。"},
                                            headers={**desk.tokens["writer"], **headers})


def _forged(desk: Desk) -> dict[str, str]:
    token = desk.tokens["officer"]["Authorization"]
    return {"Authorization": token[:-6] + ("AAAAAA" if not token.endswith("AAAAAA") else "BBBBBB")}


async def _forged_token(desk: Desk) -> Send:
    forged = _forged(desk)
    return lambda headers: desk.client.get("/v1/cases", headers={**forged, **headers})


INVALID_REPORT = report_body(channel="pigeon", extra_field=1, subject={
    "position": "副局长", "organization": "某局", "region_code": "33x502"}, allegations=[
    {"category": "bribery", "summary": "", "occurred_on": "2026-13-45"}])
A_SUNDAY_LONG_AGO = "2020-01-05T10:00:00+08:00"

SCENARIOS = [
    Scenario("field errors of a report", "intake", 422, "validation_failed",
             sending("POST", "/v1/reports", token="submitter", json=INVALID_REPORT), ("errors",)),
    Scenario("a body that is not JSON", "intake", 422, "validation_failed",
             sending("POST", "/v1/reports", token="submitter", content=b'{"channel": ',
                     headers={"Content-Type": "application/json"}), ("errors",)),
    Scenario("an Idempotency-Key sent again with another body", "intake", 422, "idempotency_key_reused",
             _key_reused, ("errors",)),
    Scenario("a report outside the jurisdiction", "intake", 404, "report_not_found",
             sending("GET", f"/v1/reports/{uuid.uuid4()}", token="reader")),
    Scenario("a path no service has", "intake", 404, "not_found", sending("GET", "/v1/nowhere")),
    Scenario("a method the path does not take", "intake", 405, "method_not_allowed",
             sending("DELETE", "/v1/reports", token="reader")),
    Scenario("too many receipt lookups", "intake", 429, "rate_limited", _receipts_exhausted, ("retry_after",),
             settings=(("receipt_lookups_per_minute", 1),)),
    Scenario("a body over the size limit", "intake", 413, "payload_too_large",
             sending("POST", "/v1/reports", token="submitter", content=b"x" * 1_100_000,
                     headers={"Content-Type": "application/json"})),
    Scenario("a cursor the service did not issue", "intake", 422, "invalid_cursor",
             sending("GET", "/v1/reports", token="reader", params={"cursor": "garbage!"}), ("errors",)),
    Scenario("no token", "verification", 401, "unauthorized", sending("GET", "/v1/cases")),
    Scenario("a token whose signature does not verify", "verification", 401, "unauthorized", _forged_token),
    Scenario("a token without the scope", "verification", 403, "forbidden",
             sending("GET", "/v1/cases", token="clerk"), ("missing_scopes",)),
    Scenario("figures of another region", "verification", 403, "region_outside_jurisdiction",
             sending("GET", "/v1/stats", token="officer", params={"region": "11"})),
    Scenario("a conclusion before the findings", "verification", 409, "findings_missing",
             sending("POST", lambda d: f"/v1/cases/{d.ids['case']}/conclusion", token="officer", json={}),
             ("missing_allegation_ids",)),
    Scenario("findings about allegations the case does not have", "verification", 422, "validation_failed",
             sending("PUT", lambda d: f"/v1/cases/{d.ids['case']}/findings", token="officer",
                     json={"findings": [{"allegation_id": "no-such-allegation", "finding": "unsubstantiated",
                                         "evidence_notes": "经查无此事。"}]}), ("errors",)),
    Scenario("closing before the methods are carried out", "clarification", 409, "not_allowed_in_this_state",
             sending("POST", lambda d: f"/v1/clarifications/{d.ids['clarification']}/close", token="officer"),
             ("blockers",)),
    Scenario("a meeting on a Sunday in the past", "clarification", 409, "scheduling_conflict",
             sending("POST", lambda d: f"/v1/clarifications/{d.ids['clarification']}/meetings", token="officer",
                     json={"starts_at": A_SUNDAY_LONG_AGO, "duration_minutes": 60, "venue_id": "hall-1",
                           "host_organization": "吴兴区纪委监委", "scope": "unit", "invitees": ["全体干部"]}),
             ("conflicts",)),
    Scenario("a meeting at a venue not registered", "clarification", 422, "validation_failed",
             sending("POST", lambda d: f"/v1/clarifications/{d.ids['clarification']}/meetings", token="officer",
                     json={"starts_at": A_SUNDAY_LONG_AGO, "duration_minutes": 60, "venue_id": "nowhere",
                           "host_organization": "吴兴区纪委监委", "scope": "unit", "invitees": ["全体干部"]}),
             ("errors",)),
    Scenario("a meeting that does not exist", "clarification", 404, "meeting_not_found",
             sending("GET", f"/v1/meetings/{uuid.uuid4()}", token="officer")),
    Scenario("an objection decided by its recorder", "credit_blacklist", 403, "decision_refused", _own_objection,
             ("rule",)),
    Scenario("credit repair before the minimum period", "credit_blacklist", 409, "repair_not_yet_possible",
             sending("POST", lambda d: f"/v1/entries/{d.ids['entry']}/repair", token="writer",
                     json={"reason": "当事人已公开道歉并消除影响，申请信用修复。"}), ("possible_from", "entry_status")),
    Scenario("a check of an ID number whose checksum fails", "credit_blacklist", 422, "validation_failed",
             sending("POST", "/v1/checks", token="checker", json={"id_number": "110105194912310021"}), ("errors",)),
    Scenario("an entry that does not exist", "credit_blacklist", 404, "entry_not_found",
             sending("GET", f"/v1/entries/{uuid.uuid4()}", token="writer")),
]


def assert_same_problem_in_two_languages(zh: httpx.Response, en: httpx.Response, status: int, code: str,
                                         members: tuple[str, ...] = ()) -> None:
    """The two answers say the same problem: only the title, the detail and each error's message differ,
    the Chinese in Chinese, the English in English."""
    assert (zh.status_code, en.status_code) == (status, status), (zh.text, en.text)
    assert zh.headers["content-type"] == en.headers["content-type"] == "application/problem+json"
    assert (zh.headers["content-language"], en.headers["content-language"]) == ("zh-CN", "en")
    assert "accept-language" in zh.headers["vary"].lower() and "accept-language" in en.headers["vary"].lower()
    z, e = zh.json(), en.json()
    assert z["code"] == e["code"] == code
    assert set(z) == set(e) >= set(members)
    assert {k: v for k, v in z.items() if k not in TRANSLATED} == {k: v for k, v in e.items() if k not in TRANSLATED}
    assert (z["title"], e["title"]) == (TITLES[code].zh, TITLES[code].en)
    assert chinese(z["detail"]), z["detail"]
    assert not CHINESE_TEXT.search(e["title"]), e["title"]
    assert ENGLISH_WORDS.search(e["detail"]), e["detail"]
    assert z["detail"] != e["detail"]
    assert len(z.get("errors", ())) == len(e.get("errors", ()))
    for z_error, e_error in zip(z.get("errors", ()), e.get("errors", ()), strict=True):
        assert {k: v for k, v in z_error.items() if k != "message"} == \
               {k: v for k, v in e_error.items() if k != "message"}
        assert chinese(z_error["message"]), z_error
        assert z_error["message"] != e_error["message"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_a_problem_reads_in_chinese_when_asked_with_the_same_code_and_members(scenario, open_desk):
    async with open_desk(scenario.service, **dict(scenario.settings)) as desk:
        send = await scenario.prepare(desk)
        zh = await send({"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
        en = await send({"Accept-Language": "en"})
    assert_same_problem_in_two_languages(zh, en, scenario.status, scenario.code, scenario.members)


async def test_every_validation_error_of_a_report_reads_in_chinese(open_desk):
    async with open_desk("intake") as desk:
        r = await desk.client.post("/v1/reports", json=INVALID_REPORT,
                                   headers={**desk.tokens["submitter"], "Accept-Language": "zh"})
    errors = {e["field"]: e for e in r.json()["errors"]}
    assert {e["type"] for e in errors.values()} >= {"enum", "extra_forbidden", "missing", "string_pattern_mismatch",
                                                    "string_too_short", "date_from_datetime_parsing"}
    assert errors["subject.name"]["message"] == "必填项缺失"
    assert errors["channel"]["message"].startswith("应为下列值之一：'letter'、'visit'")
    assert all(chinese(e["message"]) for e in errors.values())


async def test_the_default_language_is_a_setting(open_desk, monkeypatch):
    monkeypatch.setenv("ZM_DEFAULT_LANGUAGE", "zh-CN")
    async with open_desk("verification") as desk:
        default = await desk.client.get("/v1/cases")
        unknown = await desk.client.get("/v1/cases", headers={"Accept-Language": "fr-FR, de;q=0.5"})
        english = await desk.client.get("/v1/cases", headers={"Accept-Language": "en-GB"})
    assert (default.json()["title"], default.headers["content-language"]) == ("需要身份认证", "zh-CN")
    assert unknown.json()["detail"] == "需要提供 Bearer 令牌"
    assert (english.json()["detail"], english.headers["content-language"]) == ("a bearer token is required", "en")


async def test_without_the_setting_english_is_the_default(open_desk):
    async with open_desk("verification") as desk:
        r = await desk.client.get("/v1/cases", headers={"Accept-Language": "fr"})
    assert (r.json()["detail"], r.headers["content-language"]) == ("a bearer token is required", "en")


@pytest.mark.parametrize(("header", "answer"), [
    ("en;q=0.9, zh-CN;q=0.8", "en"),
    ("zh-CN;q=0.8, en;q=0.9", "en"),
    ("zh;q=0.9, en;q=0.8", "zh-CN"),
    ("fr, zh-Hans;q=0.5", "zh-CN"),
    ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
])
async def test_q_values_are_honoured(header, answer, open_desk):
    async with open_desk("verification") as desk:
        r = await desk.client.get("/v1/cases", headers={"Accept-Language": header})
    assert r.headers["content-language"] == answer
    assert chinese(r.json()["detail"]) == (answer == CHINESE)


@pytest.mark.parametrize(("header", "default", "answer"), [
    (None, ENGLISH, ENGLISH), (None, CHINESE, CHINESE), ("", CHINESE, CHINESE),
    ("zh", ENGLISH, CHINESE), ("zh-CN", ENGLISH, CHINESE), ("zh-Hans", ENGLISH, CHINESE),
    ("ZH-cn;Q=1.0", ENGLISH, CHINESE), ("en", CHINESE, ENGLISH), ("en-GB", CHINESE, ENGLISH),
    ("en;q=0.9, zh-CN;q=0.8", CHINESE, ENGLISH), ("zh;q=0.5, en;q=0.5", ENGLISH, CHINESE),  # a tie: first named
    ("fr", CHINESE, CHINESE), ("*", ENGLISH, ENGLISH), ("*", CHINESE, CHINESE),
    ("*;q=0.5, en;q=0.4", ENGLISH, CHINESE),  # `*` stands for the Chinese no range named
    ("zh;q=0, *", CHINESE, ENGLISH),  # refused outright, even through `*`
    ("zh;q=abc, en;q=0.1", CHINESE, ENGLISH),  # an unreadable member is left out
    ("zh;q=1.5", ENGLISH, ENGLISH), (",,;", ENGLISH, ENGLISH),
])
def test_accept_language_is_read_as_rfc_9110_says(header, default, answer):
    assert negotiate(header, default) == answer


# --- the catalogue ------------------------------------------------------------------------------------------


def test_every_message_has_both_languages_with_the_same_placeholders():
    for message_id, text in MESSAGES.items():
        assert text.en.strip() and CHINESE_TEXT.search(text.zh), message_id
        assert placeholders(text.en) == placeholders(text.zh), message_id


def test_every_title_has_both_languages():
    for code, text in TITLES.items():
        assert text.en and not CHINESE_TEXT.search(text.en) and chinese(text.zh), code


def _every_module(package: Any) -> None:
    for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
        if ".migrations" not in module.name and not module.name.endswith("__main__"):
            importlib.import_module(module.name)


def test_every_domain_error_code_has_a_title_in_both_languages():
    _every_module(services)
    _every_module(shared)
    found, todo = set(), [DomainError]
    while todo:
        kind = todo.pop()
        found.add(kind)
        todo.extend(kind.__subclasses__())
    ours = {kind for kind in found if kind.__module__.startswith(("services.", "shared."))}
    assert len(ours) > 40
    for kind in ours:
        assert kind.code in TITLES, kind
        assert kind.title == TITLES[kind.code].en


def test_validation_messages_match_pydantics_own_templates():
    for kind, text in VALIDATION.items():
        ctx: dict[str, Any] = {}
        while True:
            try:
                template = PydanticKnownError(kind, ctx).message_template  # type: ignore[arg-type]
                break
            except TypeError as exc:  # names the next context key it needs, or one it wants as a string
                if required := re.findall(r"'(\w+)' required", str(exc)):
                    ctx[required[0]] = 1
                else:
                    ctx[re.findall(r"'(\w+)' context value must be", str(exc))[0]] = "x"
        assert text.en == template, kind
        assert placeholders(text.zh) <= placeholders(text.en), kind
        assert chinese(text.zh), kind


def test_each_vocabulary_has_a_term_for_every_value():
    assert set(TERMS["org_level"]) == set(ORG_LEVELS)
    assert set(TERMS["verdict"]) == set(Verdict)
    assert set(TERMS["case_status"]) == set(CaseStatus)
    assert set(TERMS["clarification_status"]) == set(ClarificationStatus)
    assert set(TERMS["entry_status"]) == set(EntryStatus)
    assert set(TERMS["removal_kind"]) == set(RemovalKind)
    assert all(chinese(term) for vocabulary in TERMS.values() for term in vocabulary.values())


# --- the documents ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_every_enum_in_the_api_document_gives_the_chinese_term_of_each_value(service, settings_for):
    document = build_app(service, settings_for(service, "sqlite+aiosqlite://")).openapi()
    found = list(enums(document))
    assert found
    for where, values, description in found:
        unnamed = [v for v in values
                   if not re.search(rf"`{re.escape(str(v))}` \([^)]*{CHINESE_TEXT.pattern}", description)]
        assert not unnamed, f"{where}: no Chinese term for {unnamed} in {description!r}"


# --- the raise sites ----------------------------------------------------------------------------------------

SOURCES = sorted(p for folder in ("services", "shared") for p in (ROOT / folder).rglob("*.py")
                 if "migrations" not in p.parts)
# Files whose ValueErrors Pydantic answers to officers (a validator's sentence becomes a field's message).
VALIDATORS = {"schemas.py", "identity.py"}


def _domain_error_names() -> set[str]:
    test_every_domain_error_code_has_a_title_in_both_languages()  # imports every module
    names, todo = set(), [DomainError]
    while todo:
        kind = todo.pop()
        names.add(kind.__name__)
        todo.extend(kind.__subclasses__())
    return names


def _says_english(node: ast.AST | None) -> bool:
    """A sentence written in place: a string literal, an f-string, or one joined from them."""
    if isinstance(node, ast.Constant):  # two words are a sentence here: a message is never a code
        return isinstance(node.value, str) and bool(ENGLISH_WORDS.search(node.value))
    if isinstance(node, ast.JoinedStr):
        return True
    if isinstance(node, ast.BinOp):
        return _says_english(node.left) or _says_english(node.right)
    return False


def test_no_raise_site_writes_an_english_sentence_of_its_own():
    errors = _domain_error_names()
    found = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(), str(path))
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", getattr(node.func, "attr", None))
                said = [*node.args[:1], *(k.value for k in node.keywords if k.arg == "detail")]
                if name in errors and any(_says_english(arg) for arg in said):
                    found.append(f"{where}:{node.lineno} {name}(...)")
                if name == "Refusal" and len(node.args) > 1 and _says_english(node.args[1]):
                    found.append(f"{where}:{node.lineno} Refusal(...)")
                if name == "ValueError" and path.name in VALIDATORS and node.args and _says_english(node.args[0]):
                    found.append(f"{where}:{node.lineno} ValueError(...) in a validator")
            if isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if isinstance(key, ast.Constant) and key.value == "message" and _says_english(value):
                        found.append(f"{where}:{node.lineno} an error's message")
    assert found == []


def test_every_message_a_raise_site_names_is_in_the_catalogue():
    named = []
    for path in SOURCES:
        if "from shared.messages import" not in path.read_text():
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) in ("Message", "text") \
                    and node.args and isinstance(node.args[0], ast.Constant):
                prefix = "cli." if node.func.id == "text" and path.name == "cli.py" else ""  # type: ignore[attr-defined]
                named.append(prefix + str(node.args[0].value))
    assert len(named) > 150
    assert sorted(set(named) - set(MESSAGES)) == []


def test_a_message_is_its_english_text_where_a_string_is_read():
    said = Message("blacklist.removal_decided", kind="repair", status="granted",
                   decided_on=__import__("datetime").date(2027, 3, 1))
    assert said == "the repair request was granted on 2027-03-01"
    assert isinstance(said, str) and f"{said}" == str(said)


# --- the CLI ------------------------------------------------------------------------------------------------


def zhengming(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "services.cli", *args], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)


@pytest.mark.parametrize("locale", [{"ZM_LANGUAGE": "zh-CN", "LANG": "C.UTF-8"},
                                    {"LANG": "zh_CN.UTF-8"}, {"LC_ALL": "zh_CN.UTF-8", "LANG": "en_US.UTF-8"}])
def test_the_cli_speaks_chinese_in_a_chinese_locale(locale, tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("ZM_LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    env.update(locale, ZM_DATA_DIR=str(tmp_path / "data"))
    refused = zhengming("token", "--sub", "alice", "--scopes", "reports:read", "--region", "33", env=env)
    assert refused.returncode != 0 and chinese(refused.stderr.strip()), refused.stderr
    assert "没有签名密钥" in refused.stderr
    helped = zhengming("dlq", "--help", env=env)
    assert "列出进入死信的事件及其原因" in helped.stdout


def test_the_cli_speaks_english_otherwise(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("ZM_LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    env.update(LANG="en_US.UTF-8", ZM_DATA_DIR=str(tmp_path / "data"))
    refused = zhengming("token", "--sub", "alice", "--scopes", "reports:read", "--region", "33", env=env)
    assert refused.returncode != 0 and "no signing key" in refused.stderr and not CHINESE_TEXT.search(refused.stderr)

