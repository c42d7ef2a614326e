"""Every error as RFC 9457 problem+json: a domain error, a request that fails validation (each field
named), an HTTP error, the database away (503, retry) or an unexpected fault (500). Every problem
names the request it answers (`request_id`, as the X-Request-ID header does).

Each is answered in the language the request prefers (`Accept-Language`: English or Chinese, else
the service's `default_language`), saying so in `Content-Language`: its title, its detail and each
error's message from the catalogue (shared/catalogue.py); its code, type, status, fields and
extension members are the same in every language."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from shared.catalogue import MESSAGES, TITLES
from shared.db import is_transient
from shared.errors import DatabaseUnavailable, DomainError
from shared.messages import ENGLISH, Language, Message, localized, negotiate, title_of, validation_message
from shared.observability import Scope
from shared.tracing import REQUEST_ID_HEADER, request_id

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("zhengming.errors")
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def problem(
    status: int, code: str, detail: str, instance: str, *, language: Language = ENGLISH, title: str | None = None,
    headers: Mapping[str, str] | None = None, **extra: Any,
) -> JSONResponse:
    """The problem details answer in `language`: the catalogue's title of `code` (unless `title` is
    given) and `detail` (a catalogue Message) in it; `headers` are sent with it (an HTTP error's
    `Allow`, say)."""
    body: dict[str, Any] = {
        "type": f"https://zhengming.example/problems/{code}",
        "title": title or title_of(code if code in TITLES else "error", language),
        "status": status,
        "detail": localized(detail, language),
        "instance": instance,
        "code": code,
    }
    body.update(extra)
    if (rid := request_id.get()) is not None:
        body["request_id"] = rid
    sent = {**(headers or {}), "Content-Language": language, "Vary": "Accept-Language"}
    if status == 401:
        sent["WWW-Authenticate"] = "Bearer"
    if "retry_after" in extra:
        sent["Retry-After"] = str(extra["retry_after"])
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=sent)


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """`("body", "subject", "region_code")` -> `subject.region_code`; list indexes as `[0]`."""
    parts = list(loc)
    if parts and parts[0] in ("body", "query", "path", "header"):
        where = parts.pop(0)
        if not parts:
            return where
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def requested_language(scope: Scope, default: Language) -> Language:
    """The language a request's `Accept-Language` prefers (shared.messages.negotiate)."""
    for key, value in scope.get("headers") or ():
        if key == b"accept-language":
            return negotiate(value.decode("latin-1"), default)
    return default


# What Starlette and FastAPI say in an HTTP error of their own, as the catalogue says it.
_HTTP_DETAILS = {MESSAGES[m].en: m for m in ("http.not_found", "http.method_not_allowed", "http.body_unparsable",
                                              "http.client_went_away")}


def install_problem_handlers(app: FastAPI, *, default_language: Language = ENGLISH) -> None:
    """Answer every error as problem+json in the request's language (`default_language` when it
    prefers neither English nor Chinese)."""

    def language(request: Request) -> Language:
        return requested_language(request.scope, default_language)

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        said = language(request)
        return problem(exc.status, exc.code, exc.detail_in(said), request.url.path, language=said,
                       title=exc.title_in(said), **exc.extra_in(said))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        said = language(request)
        errors = []
        for err in exc.errors():
            loc = err.get("loc", ())
            kind = err.get("type", "invalid")
            message = (Message("validation.json_invalid").in_language(said) if kind == "json_invalid"
                       else validation_message(err, said))
            errors.append(
                {"field": field_path(loc) if kind != "json_invalid" else "body", "message": message,
                 "type": kind}
            )
        first = errors[0]["field"] if errors else "body"
        return problem(
            422, "validation_failed", Message("validation.summary", count=len(errors), field=first),
            request.url.path, language=said, errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 401: "unauthorized",
                403: "forbidden", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette's names the methods of the first route on the path only; a path served by
            # several (GET and POST /v1/reports) allows them all.
            headers["Allow"] = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
        detail = exc.detail if isinstance(exc.detail, Message) or exc.detail not in _HTTP_DETAILS \
            else Message(_HTTP_DETAILS[exc.detail])
        return problem(exc.status_code, code, detail, request.url.path, language=language(request), headers=headers)

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        if not is_transient(exc):
            raise exc  # a real fault: the 500 below
        # The database away or overloaded: the request is not at fault, and may be retried.
        log.warning("database unavailable", extra={"route": _route(request), "error": type(exc).__name__})
        return problem(503, DatabaseUnavailable.code, Message("http.database_unavailable"), request.url.path,
                       language=language(request), retry_after=1)

    app.add_exception_handler(SQLAlchemyError, _database)
    app.add_exception_handler(ConnectionError, _database)  # a driver's, before SQLAlchemy wraps it

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The one log line of this error, with its traceback and the request's ids (uvicorn's own
        # report of it is dropped: shared/logs.py).
        log.exception("unhandled error", extra={"method": request.method, "route": _route(request)})
        rid = request_id.get()
        # Starlette answers a 500 outside every middleware, so the request id header is set here.
        return problem(500, "internal_error", Message("http.internal_error"), request.url.path,
                       language=language(request), headers={REQUEST_ID_HEADER: rid} if rid else None)


def _route(request: Request) -> str:
    """The route's template for a log line, never the path: a path may hold a secret (a receipt code)."""
    return getattr(request.scope.get("route"), "path", None) or "unmatched"


def allowed_methods(request: Request) -> list[str]:
    """The methods some route serves at the request's path: each asked of the router's routes as
    the router asks them (FastAPI nests included routers), only when a 405 is answered."""
    return [method for method in _METHODS if any(
        route.matches({**request.scope, "method": method})[0] is Match.FULL for route in request.app.router.routes)]
