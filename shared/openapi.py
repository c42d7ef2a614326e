"""The OpenAPI document made true (#19): every error an operation can answer is documented as RFC 9457
problem+json (the `Problem` schema) with the `code`s it carries and a sentence for each; each operation
names the scopes it needs; nothing is listed that the server never sends (no 401/403 on an open one).

A route declares the errors that are its own (`shared.web.problems(CaseNotFound, ...)`). What every
operation of a kind can answer follows from the route itself when the app builds its document
(`refine`): 401 and 403 with a bearer token, 422 for any request (a NUL in the path or query, a bad
parameter or body), 400 and 413 with a body, 503 when it opens a unit of work on the database."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from http import HTTPStatus
from typing import Any, cast

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field
from starlette.routing import BaseRoute

from shared.auth import SCOPES
from shared.errors import DatabaseUnavailable, DomainError, Forbidden, InvalidRequest, Unauthorized
from shared.problems import PROBLEM_JSON

CODES = "x-problem-codes"  # on a response: the `code`s its problem bodies can carry
ACCESS = "openapi_access"  # on a dependency's callable: how it authorizes, for the document

# --- the problem body -------------------------------------------------------------------------------

# Which codes carry each extension member: the member descriptions below and each response's
# sentences are written from it, and tests/test_openapi.py holds it against every `raise`.
CARRIED_BY: dict[str, tuple[str, ...]] = {
    "errors": ("validation_failed", "invalid_cursor", "idempotency_key_reused"),
    "missing_scopes": ("forbidden",),
    "rule": ("approval_refused", "correction_refused", "decision_refused", "identity_release_refused",
             "identity_release_deferred", "identity_decision_refused", "risk_filing_refused"),
    "retry_after": ("rate_limited", "database_unavailable"),
    "conflicts": ("scheduling_conflict",),
    "blockers": ("not_allowed_in_this_state",),
    "clarification_status": ("not_allowed_in_this_state",),
    "verdict": ("nothing_to_clarify", "not_allowed_in_this_state"),
    "case_status": ("case_not_editable",),
    "filing_status": ("risk_filing_not_editable",),
    "missing_allegation_ids": ("findings_missing",),
    "missing": ("assessment_incomplete",),
    "pending_correction_id": ("correction_pending",),
    "correction_status": ("correction_already_decided",),
    "status_now": ("identity_request_already_decided",),
    "entry_status": ("objection_refused", "objection_already_decided", "repair_not_yet_possible",
                     "revocation_not_possible"),
    "possible_from": ("repair_not_yet_possible",),
    "decision": ("objection_already_decided",),
    "request_status": ("removal_request_already_decided",),
    "pending_request_id": ("removal_request_pending",),
    "pending_kind": ("removal_request_pending",),
}


def carried(member: str, meaning: str) -> str:
    codes = ", ".join(f"`{code}`" for code in CARRIED_BY[member])
    return f"{meaning} (with {codes})"


class FieldProblem(BaseModel):
    """One invalid part of the request."""

    field: str = Field(description="where: a body path such as `subject.region_code` or `allegations[0].summary`, "
                                   "a parameter's or header's name, or `body` for the body as a whole")
    message: str = Field(description="what is wrong, in a sentence")
    type: str = Field(description="the kind of problem, e.g. `missing`, `string_too_long`, `extra_forbidden`, "
                                  "`json_invalid`, `invalid_cursor`")


class MeetingConflict(BaseModel):
    """One reason a meeting cannot be held at the time asked."""

    kind: str = Field(description="`venue_booked`: the venue has another meeting then (with the buffer); "
                                  "`official_booked`: the official has another meeting then; `non_working_day`: "
                                  "not a working day in China; `outside_working_hours`: outside the venue's hours "
                                  "(Asia/Shanghai); `after_deadline`: after the clarification's deadline; "
                                  "`past`: the start lies in the past")
    detail: str = Field(description="the conflict in a sentence")
    meeting_id: str | None = Field(None, description="the meeting it clashes with, for the two booked kinds")
    starts_at: datetime | None = Field(None, description="when that meeting starts, China time (+08:00)")
    ends_at: datetime | None = Field(None, description="when that meeting ends, China time (+08:00)")


class Problem(BaseModel):
    """RFC 9457 problem details: how every error is answered (`application/problem+json`). `code` is
    stable and says which problem it is (each response lists the codes it can carry in
    `x-problem-codes`); the members after `request_id` appear only with the codes they name."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="the problem type, `https://zhengming.example/problems/<code>`")
    title: str = Field(description="the problem type in a few words")
    status: int = Field(description="the HTTP status, as answered")
    detail: str = Field(description="what went wrong with this request, in a sentence")
    instance: str = Field(description="the path the request was sent to")
    code: str = Field(description="stable machine-readable code of the problem, e.g. `case_not_found`")
    request_id: str | None = Field(None, description="the request's id (`X-Request-ID`): quote it to support")
    errors: list[FieldProblem] | None = Field(None, description=carried("errors", "each invalid field"))
    missing_scopes: list[str] | None = Field(
        None, description=carried("missing_scopes", "the scopes the token lacks (for a route open to several "
                                                    "roles: the scopes of which one is needed)"))
    rule: str | None = Field(None, description=carried("rule", "the stable id of the rule that refused, e.g. "
                                                               "`separation_of_duties`"))
    retry_after: int | None = Field(None, description=carried("retry_after", "seconds to wait before retrying, "
                                                                             "as the `Retry-After` header says"))
    conflicts: list[MeetingConflict] | None = Field(None, description=carried("conflicts", "every clash of the slot"))
    blockers: list[str] | None = Field(None, description=carried("blockers", "what is still missing before the "
                                                                             "clarification can close"))
    clarification_status: str | None = Field(
        None, description=carried("clarification_status", "the clarification's status, which does not allow this"))
    verdict: str | None = Field(None, description=carried("verdict", "the report's final verdict"))
    case_status: str | None = Field(None, description=carried("case_status", "the case's status, which does not "
                                                                             "allow this"))
    filing_status: str | None = Field(None, description=carried("filing_status", "the risk filing's status, which "
                                                                                 "does not allow this step"))
    missing_allegation_ids: list[str] | None = Field(
        None, description=carried("missing_allegation_ids", "the allegations still without a finding"))
    missing: list[str] | None = Field(None, description=carried("missing", "the assessment's members still needed"))
    pending_correction_id: str | None = Field(
        None, description=carried("pending_correction_id", "the correction waiting for its decision"))
    correction_status: str | None = Field(
        None, description=carried("correction_status", "how the correction was decided"))
    status_now: str | None = Field(None, description=carried("status_now", "the request's status"))
    entry_status: str | None = Field(None, description=carried("entry_status", "the entry's status today"))
    possible_from: date | None = Field(
        None, description=carried("possible_from", "the first day repair may be granted (null: never, e.g. for an "
                                                   "entry that is not active)"))
    decision: str | None = Field(None, description=carried("decision", "how the objection was decided"))
    request_status: str | None = Field(None, description=carried("request_status", "how the request was decided"))
    pending_request_id: str | None = Field(
        None, description=carried("pending_request_id", "the repair or revocation request waiting for its decision"))
    pending_kind: str | None = Field(None, description=carried("pending_kind", "`repair` or `revocation`: the "
                                                                              "kind of the pending request"))


PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}


# --- what a route declares ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ProblemKind:
    """A problem the service answers: its code, status and title."""

    code: str
    status: int
    title: str


# The problems the HTTP layer answers that no DomainError stands for.
BAD_REQUEST = ProblemKind("bad_request", 400, "There was an error parsing the body")
PAYLOAD_TOO_LARGE = ProblemKind("payload_too_large", 413, "Request body too large")
_KINDS: dict[str, ProblemKind] = {kind.code: kind for kind in (BAD_REQUEST, PAYLOAD_TOO_LARGE)}


def kind_of(error: type[DomainError]) -> ProblemKind:
    """The problem `error` is answered as, remembered so the document can describe its code."""
    kind = ProblemKind(error.code, error.status, error.title)
    known = _KINDS.setdefault(kind.code, kind)
    if known != kind:
        raise ValueError(f"two problems share the code {kind.code}: {known} and {kind}")
    return kind


def declared(*errors: type[DomainError], examples: Mapping[int, Any] | None = None) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entries of a route that raises `errors`: one per status, with its codes."""
    responses: dict[int | str, dict[str, Any]] = {}
    for error in errors:
        if not (isinstance(error, type) and issubclass(error, DomainError)):
            raise TypeError(f"problems() takes the error classes a route raises (e.g. problems(ReportNotFound)), "
                            f"not {error!r}: the statuses follow from them, and 401, 403, 422 and 503 from the route")
        kind = kind_of(error)
        entry = responses.setdefault(kind.status, {"description": kind.title, CODES: []})
        if kind.code not in entry[CODES]:
            entry[CODES].append(kind.code)
    for status, example in (examples or {}).items():
        responses[status]["content"] = {PROBLEM_JSON: {"example": example}}
    return responses


# The generic problem response every operation once listed (composition's default); `refine` replaces
# it with what each operation can really answer.
PROBLEM_RESPONSE: dict[str, Any] = {"description": "Problem details (RFC 9457)",
                                    "content": {PROBLEM_JSON: {"schema": PROBLEM_REF}}}


@dataclass(frozen=True)
class Access:
    """How a route's caller is authorized, beyond what FastAPI sees: `any_of` the `scopes` (else all of
    them), and the services that may call instead with their own signed credential."""

    scopes: tuple[str, ...]
    any_of: bool = False
    services: tuple[str, ...] = ()


def mark(call: Callable[..., Any], access: Access) -> Callable[..., Any]:
    setattr(call, ACCESS, access)
    return call


# --- the document -------------------------------------------------------------------------------------


def refine(document: dict[str, Any], routes: Sequence[BaseRoute], *, database: Callable[..., Any]
           ) -> dict[str, Any]:
    """`document` (FastAPI's) with every operation's problems, scopes and open-ness made true from
    `routes`; `database` is the dependency that opens a unit of work (503 when the database is away)."""
    _add_problem_schemas(document)
    for context in iter_route_contexts(routes):  # as FastAPI walks them: included routers' routes with
        route = cast(APIRoute, context)  # their effective path, responses and dependencies
        if not isinstance(context.original_route, APIRoute) or not route.include_in_schema:
            continue
        path = document["paths"][route.path_format]
        methods = sorted(route.methods or ())
        for method in methods:
            operation = path[method.lower()]
            if len(methods) > 1 and method != methods[0] and route.operation_id:
                operation["operationId"] = f"{route.operation_id}_{method.lower()}"  # one id per operation
            _refine_operation(operation, route, database)
    _drop_unused(document, "HTTPValidationError", "ValidationError")
    for scheme in document.get("components", {}).get("securitySchemes", {}).values():
        if scheme.get("scheme") == "bearer":
            scheme["description"] = (scheme.get("description", "") + "\n\nScopes a token may carry:\n\n"
                                     + "\n".join(f"- `{name}`: {meaning}" for name, meaning in SCOPES.items()))
    return document


def _refine_operation(operation: dict[str, Any], route: APIRoute, database: Callable[..., Any]) -> None:
    access = next((getattr(call, ACCESS) for call in _calls(route.dependant) if hasattr(call, ACCESS)), None)
    if access is not None and access.any_of and operation.get("security"):
        schemes = [name for requirement in operation["security"] for name in requirement]
        operation["security"] = [{name: [scope]} for scope in access.scopes for name in schemes]
    alternatives = [list(scopes) for requirement in operation.get("security", []) for scopes in requirement.values()]
    secured = bool(alternatives)
    operation["description"] = (operation.get("description", "").rstrip() + "\n\n"
                                + _authorization(alternatives, access)).strip()

    has_body = "requestBody" in operation
    codes: dict[int, list[ProblemKind]] = {}

    def add(kind: ProblemKind) -> None:
        listed = codes.setdefault(kind.status, [])
        if kind not in listed:
            listed.append(kind)

    if has_body:
        add(BAD_REQUEST)
    if secured:
        add(kind_of(Unauthorized))
        if any(alternatives):
            add(kind_of(Forbidden))
    if has_body:
        add(PAYLOAD_TOO_LARGE)
    add(kind_of(InvalidRequest))  # any request: a NUL in the path or query, and every parameter and body
    own = {str(status): entry for status, entry in route.responses.items()}
    for entry in own.values():
        for code in entry.get(CODES, ()):
            add(_KINDS[code])
    if any(inspect.unwrap(call) is database for call in _calls(route.dependant)):
        add(kind_of(DatabaseUnavailable))

    responses = operation["responses"]
    for status in [s for s in responses if s[:1] in ("4", "5")]:
        declared_here = own.get(status)
        if declared_here is None or CODES in declared_here or declared_here is PROBLEM_RESPONSE:
            del responses[status]  # rebuilt below, or never answered (e.g. 401 on an open operation)
    facts = _Facts(operation, alternatives, access)
    for status, kinds in sorted(codes.items()):
        example = own.get(str(status), {}).get("content", {}).get(PROBLEM_JSON, {}).get("example")
        responses[str(status)] = _problem_response(status, kinds, facts, example)
    operation["responses"] = dict(sorted(responses.items(), key=lambda item: (item[0] == "default", item[0])))


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _authorization(alternatives: list[list[str]], access: Access | None) -> str:
    if not alternatives:
        return "**Open:** no bearer token is needed."

    def named(scope: str) -> str:
        return f"`{scope}` ({SCOPES[scope]})" if scope in SCOPES else f"`{scope}`"

    if len(alternatives) > 1:
        text = "**Scopes:** any one of these:\n\n" + "\n".join(f"- {named(s[0])}" for s in alternatives) + "\n"
    elif not alternatives[0]:
        text = "**Scope:** none beyond a valid bearer token."
    else:
        text = ("**Scope:** " if len(alternatives[0]) == 1 else "**Scopes:** all of ") \
            + ", ".join(named(s) for s in alternatives[0]) + "."
    if access is not None and access.services:
        text += (" Other services call instead with a service credential signed with their own key; these may: "
                 + ", ".join(f"`{s}`" for s in access.services) + ".")
    return text


GENERIC_MEANINGS = {
    "bad_request": "the body could not be read (not UTF-8, or the client went away before sending it all)",
    "payload_too_large": "the body is larger than the service accepts (1 MB)",
    "database_unavailable": "the database could not be reached, so the request may not have taken effect: retry "
                            "after `Retry-After` seconds",
    "rate_limited": "too many requests: retry after `Retry-After` seconds",
    "invalid_cursor": "`cursor` is not one this service issued (`errors` names it)",
}


@dataclass(frozen=True)
class _Facts:
    """What the sentences of an operation's problems need to know about it."""

    operation: dict[str, Any]
    alternatives: list[list[str]]
    access: Access | None

    @property
    def name(self) -> str:
        return str(self.operation.get("operationId") or self.operation.get("summary"))

    def meaning(self, kind: ProblemKind) -> str:
        if kind.code == "forbidden":
            return self._forbidden()
        if kind.code == "validation_failed":
            return self._invalid()
        if kind.code == "unauthorized":
            return ("no valid bearer token: missing, expired, malformed or signed by a key this service does not "
                    "know" + (", or a service credential that does not verify"
                              if self.access and self.access.services else "")
                    + " (the answer carries `WWW-Authenticate: Bearer`)")
        if kind.code in GENERIC_MEANINGS:
            return GENERIC_MEANINGS[kind.code]
        members = [f"`{m}`" for m, codes in CARRIED_BY.items() if kind.code in codes]
        return kind.title + (f" (with {', '.join(members)} in the body)" if members else "")

    def _forbidden(self) -> str:
        if len(self.alternatives) > 1:
            needed = "every one of the scopes " + ", ".join(f"`{s[0]}`" for s in self.alternatives) \
                     + ", one of which is needed"
        else:
            needed = "the scope" + ("s " if len(self.alternatives[0]) > 1 else " ") \
                     + " and ".join(f"`{s}`" for s in self.alternatives[0])
        return f"the token lacks {needed} (`missing_scopes` names what is missing)"

    def _invalid(self) -> str:
        names = [f"`{p['name']}`" for p in self.operation.get("parameters", [])]
        parts = ([f"a parameter ({', '.join(names)})"] if names else []) + (
            ["the body"] if "requestBody" in self.operation else [])
        if not parts:
            return "the path or query holds a NUL character"
        return " or ".join(parts) + " is not valid, or the path or query holds a NUL character; `errors` names " \
                                    "each field"


def _problem_response(status: int, kinds: list[ProblemKind], facts: _Facts, example: Any) -> dict[str, Any]:
    lines = [f"`{facts.name}` answers {status} ({HTTPStatus(status).phrase}) with a problem whose `code` is:", ""]
    lines += [f"- `{kind.code}`: {facts.meaning(kind)}" for kind in kinds]
    media: dict[str, Any] = {"schema": PROBLEM_REF}
    if example is not None:
        media["example"] = example
    response: dict[str, Any] = {"description": "\n".join(lines), "content": {PROBLEM_JSON: media},
                                CODES: [kind.code for kind in kinds]}
    headers = {}
    if status == 401:
        headers["WWW-Authenticate"] = {"description": "`Bearer`", "schema": {"type": "string"}}
    if any(kind.code in CARRIED_BY["retry_after"] for kind in kinds):
        headers["Retry-After"] = {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}
    if headers:
        response["headers"] = headers
    return response


def _add_problem_schemas(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in {**schema.pop("$defs", {}), "Problem": schema}.items():
        if name in schemas and schemas[name] != definition:
            raise ValueError(f"the document already has another schema named {name}")
        schemas[name] = definition


def _drop_unused(document: dict[str, Any], *names: str) -> None:
    """Remove the named component schemas when nothing refers to them any more (FastAPI's own 422)."""
    schemas = document.get("components", {}).get("schemas", {})
    for name in names:
        if name in schemas:
            rest = {k: v for k, v in schemas.items() if k != name}
            text = json.dumps({"paths": document["paths"], "schemas": rest})
            if f"#/components/schemas/{name}\"" not in text:
                del schemas[name]
