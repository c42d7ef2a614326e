"""Fast operations: one declaration gives both the documented FastAPI operation and the handler
that serves it in plain ASGI, for the few routes partners call thousands of times a second.

The served handler takes FastAPI's steps in FastAPI's order (the JSON body read and parsed, the
bearer token and its scopes, then the declared headers and the body validated together, 422 naming
each field) without its dependency solving and response validation, at a fraction of the CPU. The
FastAPI form is built from the same declaration and documents the operation in OpenAPI; the parity
test (tests/test_fast_routes.py) answers the same requests through both and compares every byte."""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Header, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel, TypeAdapter, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Route

from shared.auth import Principal, authenticate
from shared.messages import Message
from shared.observability import Receive, Scope, Send
from shared.web import authorized

M = TypeVar("M", bound=BaseModel)
MISSING = object()  # no body at all: refused by `validated_body`, after the caller is authenticated


@dataclass(frozen=True)
class HeaderParam:
    """An optional request header the operation reads, validated as FastAPI validates `Header()`."""

    name: str  # the answer's keyword argument
    alias: str  # the header as sent, e.g. Idempotency-Key
    annotation: Any  # its type, with constraints (Annotated)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_adapter", TypeAdapter(self.annotation))

    def read(self, scope: Scope) -> tuple[Any, list[dict[str, Any]]]:
        """The header's value (None when absent), or the errors FastAPI reports for it."""
        value = header(scope, self.alias.lower().encode("latin-1"))
        if value is None:
            return None, []
        try:
            return self._adapter.validate_python(value.decode("latin-1"), from_attributes=True), []  # type: ignore[attr-defined]
        except ValidationError as exc:
            return None, [{**err, "loc": ("header", self.alias, *err["loc"])} for err in exc.errors(include_url=False)]


# What a fast operation does once the caller, the body and the headers are known: an app, the
# principal, the body, then the headers by name; it answers a model (sent as JSON with the
# operation's status) or a complete response.
Answer = Callable[..., Awaitable[BaseModel | Response]]


@dataclass(frozen=True)
class FastOperation(Generic[M]):
    method: str
    path: str  # as served, with the router's prefix: e.g. /v1/reports
    body: type[M]
    scopes: tuple[str, ...]
    headers: tuple[HeaderParam, ...]
    status_code: int
    answer: Answer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = await read_body(receive)
        body = valid_json_body(self.body, scope, raw)  # the usual case; a body at fault takes FastAPI's steps
        document = json_document(scope, raw) if body is None else None
        principal = bearer_principal(scope, *self.scopes)
        values: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for param in self.headers:
            values[param.name], found = param.read(scope)
            errors.extend(found)
        if body is None:
            try:
                body = validated_body(self.body, document)
            except RequestValidationError as exc:
                raise RequestValidationError([*errors, *exc.errors()]) from exc
        if errors:
            raise RequestValidationError(errors)
        answer = await self.answer(scope["app"], principal, body, **values)
        if isinstance(answer, BaseModel):
            await send_json(send, self.status_code, answer.__pydantic_serializer__.to_json(answer))
        else:
            await answer(scope, receive, send)

    def documented(self) -> Callable[..., Awaitable[Any]]:
        """The FastAPI endpoint of this operation, with the signature FastAPI reads to solve and
        document it: the body, the caller with the scopes, the headers."""
        answer = self.answer

        async def endpoint(request: Request, body: Any, principal: Principal, **headers: Any) -> Any:
            return await answer(request.app, principal, body, **headers)

        parameters = [
            inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request),
            inspect.Parameter("body", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=self.body),
            inspect.Parameter("principal", inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              annotation=Annotated[Principal, authorized(*self.scopes)]),
            *(inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                annotation=Annotated[p.annotation | None, Header(alias=p.alias)])
              for p in self.headers),
        ]
        endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        endpoint.__name__ = endpoint.__qualname__ = getattr(self.answer, "__name__", "fast_operation")
        endpoint.__doc__ = self.answer.__doc__
        return endpoint


def fast_operation(router: APIRouter, method: str, path: str, *, body: type[M], scopes: tuple[str, ...],
                   headers: tuple[HeaderParam, ...] = (), status_code: int = 200,
                   **documentation: Any) -> Callable[[Answer], FastOperation[M]]:
    """Declare a fast operation on `router` (documented there) and return it for the app to serve
    (`FastRoute`, at the router's prefix + `path`); `documentation` goes to FastAPI as for any route."""

    def declare(answer: Answer) -> FastOperation[M]:
        operation = FastOperation(method=method, path=router.prefix + path, body=body, scopes=scopes, headers=headers,
                                  status_code=status_code, answer=answer)
        router.add_api_route(path, operation.documented(), methods=[method], status_code=status_code,
                             **documentation)
        return operation

    return declare


class FastRoute(Route):
    """The route that serves a fast operation. The app puts it before the routers' routes, so it
    matches first; the operation's FastAPI form stays behind it, documented and never reached."""

    def __init__(self, operation: FastOperation[Any]) -> None:
        super().__init__(operation.path, endpoint=operation.documented(), methods=[operation.method],
                         include_in_schema=False)
        self.operation = operation
        self.app = operation

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match != Match.NONE:
            child_scope["route"] = self  # as FastAPI's routes do: metrics and logs name the route's template
        return match, child_scope


# --- the steps, as FastAPI takes them --------------------------------------------------------------


async def read_body(receive: Receive) -> bytes:
    """The whole request body (already capped in size by RequestContextMiddleware)."""
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise StarletteHTTPException(400, Message("http.client_went_away"))
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def header(scope: Scope, name: bytes) -> bytes | None:
    """A request header by its lower-case name (the first, if repeated)."""
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def json_document(scope: Scope, body: bytes) -> Any:
    """The body as FastAPI reads a JSON body: parsed when the content type is JSON, the raw bytes
    when it is another or absent (then refused by validation; FastAPI's strict content type),
    `MISSING` when empty, 422 `json_invalid` at the position of a syntax error."""
    if not body:
        return MISSING
    if not is_json(scope):
        return body
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error",
                                       "input": {}, "ctx": {"error": exc.msg}}]) from exc
    except (ValueError, RecursionError) as exc:  # not UTF-8, or nested deeper than the parser goes
        raise StarletteHTTPException(400, Message("http.body_unparsable")) from exc


def is_json(scope: Scope) -> bool:
    """Whether FastAPI reads this request's body as JSON: by its content type, strictly."""
    content_type = header(scope, b"content-type")
    if content_type is None:
        return False
    content_type = content_type.split(b";", 1)[0].strip().lower()
    return content_type == b"application/json" or (
        content_type.startswith(b"application/") and content_type.endswith(b"+json"))


def valid_json_body(model: type[M], scope: Scope, body: bytes) -> M | None:
    """The body as `model` straight from its JSON bytes (Pydantic's own parser, about half the
    CPU of parsing and then validating), when it is JSON and valid; None when it is not, and the
    caller takes the `json_document` and `validated_body` path, which names what is wrong exactly
    as FastAPI does."""
    if not body or not is_json(scope):
        return None
    try:
        return model.model_validate_json(body)
    except ValidationError:
        return None


def validated_body(model: type[M], document: Any) -> M:
    """`document` as `model`, or the RequestValidationError FastAPI raises (fields under `body`)."""
    if document is MISSING:
        raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    try:
        return model.model_validate(document, from_attributes=True)  # as FastAPI validates a body
    except ValidationError as exc:
        raise RequestValidationError(
            [{**err, "loc": ("body", *err["loc"])} for err in exc.errors(include_url=False)]) from exc


def bearer_principal(scope: Scope, *scopes: str) -> Principal:
    """The caller, found exactly as `authorized(*scopes)` finds it."""
    value = header(scope, b"authorization")
    return authenticate(scope["app"].runtime.verifier, None if value is None else value.decode("latin-1"),
                        scopes)


async def send_json(send: Send, status: int, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
