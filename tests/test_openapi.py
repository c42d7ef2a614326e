"""Each service's OpenAPI document is one a code generator can trust (#19, item 4): it validates; every
error is documented as application/problem+json with the `code`s it can carry; an open operation lists
no 401/403 and a secured one names its scopes, as the server enforces them; every operation has a
stable snake_case id; every enum is explained; every problem code and member the code raises is
documented."""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from openapi_spec_validator import validate

from shared.auth import SCOPES
from shared.errors import Conflict, DomainError, NotFound
from shared.openapi import CARRIED_BY, CODES, Problem
from tests.conftest import bearer, build_app, serve

SERVICES = ["intake", "verification", "clarification", "credit_blacklist"]
PROBLEM_JSON = "application/problem+json"
# DESIGN.md §5: every endpoint needs a bearer token except health, metrics, the public receipt lookup and
# the documents themselves; §4.6: the reporter reads and writes messages and adds evidence files with the
# receipt code only.
OPEN_PATHS = {"/livez", "/readyz", "/metrics", "/v1/receipts/{receipt_code}", "/asyncapi.json",
              "/v1/receipts/{receipt_code}/messages", "/v1/receipts/{receipt_code}/attachments"}
# What an operation id may start with: the operation's verb.
VERBS = {"get", "list", "submit", "post", "file", "decide", "release", "record", "open", "close", "set", "schedule",
         "reschedule", "cancel", "issue", "register", "request", "conclude", "verify", "export", "check", "head"}
# The security scheme of operations only another service calls, with a credential signed with its own key
# (shared/holds.py): no officer's scope opens them.
SERVICE_CREDENTIAL = "ServiceCredential"
# Answers that are not problems: readiness says which check failed, as the probes expect.
NOT_PROBLEMS = {("get_readiness", "503")}
# Base classes no route raises as such, only their subclasses with codes of their own.
ABSTRACT = (NotFound, Conflict)


def settings(service: str, data_dir: Path) -> Any:
    from services.registry import SERVICES as DEFINITIONS

    return DEFINITIONS[service].settings(environment="test", data_dir=data_dir,
                                         database_url=f"sqlite+aiosqlite:///{data_dir / 'unused.db'}")


@pytest.fixture(scope="module")
def apps(data_dir: Path) -> dict[str, Any]:
    """Each service's app, built (not started): its document needs no database."""
    return {service: build_app(service, settings(service, data_dir)) for service in SERVICES}


@pytest.fixture(scope="module")
def documents(apps: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {service: json.loads(json.dumps(app.openapi())) for service, app in apps.items()}


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def error_responses(operation: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for status, response in operation["responses"].items():
        if status[:1] in ("4", "5") and (operation["operationId"], status) not in NOT_PROBLEMS:
            yield status, response


def every_module() -> list[Any]:
    """The project's modules that the four apps load (so every error a route could raise), and any
    other the session has loaded."""
    for service in SERVICES:
        importlib.import_module(f"services.{service}.app")
    return [module for name, module in sorted(sys.modules.items())
            if name.split(".")[0] in ("shared", "services") and ".migrations" not in name
            and getattr(module, "__file__", None)]


def error_classes() -> list[type[DomainError]]:
    every_module()
    found, todo = [], [DomainError]
    while todo:
        for sub in todo.pop().__subclasses__():
            found.append(sub)
            todo.append(sub)
    return found


def documented_codes(documents: dict[str, dict[str, Any]]) -> set[str]:
    return {code for document in documents.values() for _, _, operation in operations(document)
            for _, response in error_responses(operation) for code in response.get(CODES, [])}


# --- the document as a whole --------------------------------------------------------------------------


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_document_validates_as_openapi(documents, service):
    validate(documents[service])


@pytest.mark.parametrize("service", SERVICES)
def test_every_error_is_documented_as_a_problem_with_the_codes_it_carries(documents, service):
    document = documents[service]
    kinds = {cls.code: cls.status for cls in error_classes()} | {"bad_request": 400, "payload_too_large": 413}
    descriptions: list[str] = []
    for path, method, operation in operations(document):
        for status, response in error_responses(operation):
            where = (method, path, status)
            assert set(response["content"]) == {PROBLEM_JSON}, where  # never application/json
            assert response["content"][PROBLEM_JSON]["schema"] == {"$ref": "#/components/schemas/Problem"}, where
            codes = response[CODES]
            assert codes and all(kinds[code] == int(status) for code in codes), where
            assert f"`{operation['operationId']}`" in response["description"], where
            assert all(f"`{code}`" in response["description"] for code in codes), where
            descriptions.append(response["description"])
    assert len(descriptions) >= 40
    assert len(set(descriptions)) == len(descriptions), "each description belongs to its operation and status"
    problem = document["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "instance", "code"} <= set(problem["required"])
    assert {"request_id", *CARRIED_BY} <= set(problem["properties"])


@pytest.mark.parametrize("service", SERVICES)
def test_an_open_operation_lists_no_401_or_403_and_a_secured_one_both(documents, service):
    for path, method, operation in operations(documents[service]):
        statuses = set(operation["responses"])
        if operation.get("security"):
            assert operation["responses"]["401"][CODES] == ["unauthorized"], (method, path)
            assert "forbidden" in operation["responses"]["403"][CODES], (method, path)
        else:
            assert path in OPEN_PATHS, f"{method} {path} needs no token, which DESIGN.md §5 does not allow"
            assert not statuses & {"401", "403"}, (method, path)


@pytest.mark.parametrize("service", SERVICES)
def test_every_operation_has_a_stable_snake_case_verb_for_its_id(apps, documents, service):
    routes = [route for route in iter_route_contexts(apps[service].routes)
              if isinstance(route.original_route, APIRoute) and route.include_in_schema]
    assert all(route.operation_id for route in routes), [route.path for route in routes if not route.operation_id]
    ids = [operation["operationId"] for _, _, operation in operations(documents[service])]
    assert len(ids) == len(set(ids)), "operation ids are unique in the service"
    for operation_id in ids:
        assert re.fullmatch(r"[a-z]+(_[a-z0-9]+)*", operation_id), operation_id
        assert operation_id.split("_")[0] in VERBS, operation_id
    kept = {"intake": {("post", "/v1/reports"): "submit_report"},
            "credit_blacklist": {("post", "/v1/checks"): "post_check"}}.get(service, {})
    for (method, path), operation_id in kept.items():  # integrators call these by name already
        assert documents[service]["paths"][path][method]["operationId"] == operation_id


@pytest.mark.parametrize("service", SERVICES)
def test_every_secured_operation_shows_its_scopes(documents, service):
    for path, method, operation in operations(documents[service]):
        for requirement in operation.get("security", []):
            for scheme, scopes in requirement.items():
                if scheme == SERVICE_CREDENTIAL:
                    assert not scopes and "service credential" in operation["description"], (method, path)
                    continue
                assert scopes and set(scopes) <= set(SCOPES), (method, path, scopes)
                assert all(f"`{scope}`" in operation["description"] for scope in scopes), (method, path)


async def test_the_scopes_documented_are_the_scopes_the_server_asks_for(documents, new_database, settings_for,
                                                                        make_token):
    """A token with no scope is refused every secured operation with a 403 naming the documented scopes
    (for an operation open to several roles, all of them); an open operation answers without a token."""
    nobody = bearer(make_token("", region=""))
    checked = 0
    for service in SERVICES:
        app = build_app(service, settings_for(service, await new_database(service)))
        async with serve(app) as client:
            for path, method, operation in operations(documents[service]):
                url = re.sub(r"\{[^}]+\}", "x", path)
                body = {"json": {}} if "requestBody" in operation else {}
                if not operation.get("security"):
                    r = await client.request(method, url, **body)
                    assert r.status_code not in (401, 403), (method, path, r.status_code)
                    continue
                documented = [scope for requirement in operation["security"] for scopes in requirement.values()
                              for scope in scopes]
                r = await client.request(method, url, headers=nobody, **body)
                assert r.status_code == 403 and r.json()["code"] == "forbidden", (method, path, r.text)
                # None for an operation only another service calls: an officer's token is refused whatever it holds.
                assert sorted(r.json().get("missing_scopes", [])) == sorted(documented), (method, path)
                checked += 1
    assert checked >= 60


# --- enums ----------------------------------------------------------------------------------------------


def enums(node: Any, context: str | None = None, where: str = "") -> Iterator[tuple[str, list[Any], str]]:
    """Every enum in a schema, with the description that explains it: its own, or else that of the
    property, parameter or union it sits in."""
    if isinstance(node, dict):
        described = node.get("description") or context
        if "enum" in node:
            yield where, node["enum"], described or ""
        for key, value in node.items():
            inherits = key in ("anyOf", "oneOf", "allOf", "items", "propertyNames", "schema", "additionalProperties")
            yield from enums(value, described if inherits else None, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from enums(value, context, f"{where}/{index}")


@pytest.mark.parametrize("service", SERVICES)
def test_every_enum_explains_each_of_its_values(documents, service):
    found = list(enums(documents[service]))
    assert found
    for where, values, description in found:
        unexplained = [v for v in values if f"`{v}`" not in description]
        assert not unexplained, f"{where}: {unexplained} not explained in {description!r}"


# --- the codes and members the code raises ------------------------------------------------------------


def test_every_problem_code_a_route_can_raise_is_documented(documents):
    documented = documented_codes(documents)
    for cls in error_classes():
        if cls in ABSTRACT:
            continue
        assert cls.code in documented, f"{cls.__module__}.{cls.__name__} ({cls.code}) is documented nowhere"


def test_the_base_errors_left_undocumented_are_never_raised_as_such():
    for module in every_module():
        source = inspect.getsource(module)
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                called = getattr(module, node.func.id, None)
                assert called not in ABSTRACT, f"{module.__name__}:{node.lineno} raises a bare {node.func.id}"


def test_every_member_a_problem_carries_is_in_the_problem_schema():
    """Each keyword a DomainError is raised with (and `rule`, for a refusal's `because`) is a property of
    the Problem schema that names the raised code among those carrying it."""
    classes = {cls.__name__: cls for cls in error_classes()}
    seen = 0
    for module in every_module():
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "because":
                func, members = func.value, ["rule"]
            else:
                members = [k.arg for k in node.keywords if k.arg is not None]
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
            cls = classes.get(name or "")
            if cls is None or (getattr(module, name or "", None) is not cls and not isinstance(func, ast.Attribute)):
                continue
            for member in members:
                where = f"{module.__name__}:{node.lineno} {cls.__name__}(…, {member}=…)"
                assert member in Problem.model_fields, where
                assert cls.code in CARRIED_BY[member], where
                seen += 1
    assert seen >= 20
    known = {cls.code for cls in error_classes()}
    assert all(set(codes) <= known for codes in CARRIED_BY.values())
