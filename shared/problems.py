"""Every error as RFC 9457 problem+json: a domain error, a request that fails validation (each field
named), an HTTP error, the database away (503, retry) or an unexpected fault (500). Every problem
names the request it answers (`request_id`, as the X-Request-ID header does)."""

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

from shared.db import is_transient
from shared.errors import DatabaseUnavailable, DomainError
from shared.tracing import REQUEST_ID_HEADER, request_id

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger("zhengming.errors")
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def problem(
    status: int, code: str, title: str, detail: str, instance: str, *, headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """The problem details answer; `headers` are sent with it (an HTTP error's `Allow`, say)."""
    body: dict[str, Any] = {
        "type": f"https://zhengming.example/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "code": code,
    }
    body.update(extra)
    if (rid := request_id.get()) is not None:
        body["request_id"] = rid
    sent = dict(headers or {})
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


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return problem(exc.status, exc.code, exc.title, exc.detail, request.url.path, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for err in exc.errors():
            loc = err.get("loc", ())
            kind = err.get("type", "invalid")
            message = "body is not valid JSON" if kind == "json_invalid" else err.get("msg", "invalid")
            errors.append(
                {"field": field_path(loc) if kind != "json_invalid" else "body", "message": message,
                 "type": kind}
            )
        first = errors[0]["field"] if errors else "body"
        return problem(
            422, "validation_failed", "Request is not valid",
            f"{len(errors)} problem(s) in the request; first at '{first}'",
            request.url.path, errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 401: "unauthorized",
                403: "forbidden", 413: "payload_too_large"}.get(
            exc.status_code, "http_error"
        )
        title = "Request body too large" if exc.status_code == 413 else str(exc.detail)
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette's names the methods of the first route on the path only; a path served by
            # several (GET and POST /v1/reports) allows them all.
            headers["Allow"] = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
        return problem(exc.status_code, code, title, str(exc.detail), request.url.path, headers=headers)

    async def _database(request: Request, exc: Exception) -> JSONResponse:
        if not is_transient(exc):
            raise exc  # a real fault: the 500 below
        # The database away or overloaded: the request is not at fault, and may be retried.
        log.warning("database unavailable", extra={"route": _route(request), "error": type(exc).__name__})
        return problem(503, DatabaseUnavailable.code, DatabaseUnavailable.title,
                       "The database could not be reached, so the request may not have taken effect; "
                       "retry it shortly.", request.url.path, retry_after=1)

    app.add_exception_handler(SQLAlchemyError, _database)
    app.add_exception_handler(ConnectionError, _database)  # a driver's, before SQLAlchemy wraps it

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The one log line of this error, with its traceback and the request's ids (uvicorn's own
        # report of it is dropped: shared/logs.py).
        log.exception("unhandled error", extra={"method": request.method, "route": _route(request)})
        rid = request_id.get()
        # Starlette answers a 500 outside every middleware, so the request id header is set here.
        return problem(500, "internal_error", "Internal error",
                       "The request failed; nothing was changed. Quote the request id to support.",
                       request.url.path, headers={REQUEST_ID_HEADER: rid} if rid else None)


def _route(request: Request) -> str:
    """The route's template for a log line, never the path: a path may hold a secret (a receipt code)."""
    return getattr(request.scope.get("route"), "path", None) or "unmatched"


def allowed_methods(request: Request) -> list[str]:
    """The methods some route serves at the request's path: each asked of the router's routes as
    the router asks them (FastAPI nests included routers), only when a 405 is answered."""
    return [method for method in _METHODS if any(
        route.matches({**request.scope, "method": method})[0] is Match.FULL for route in request.app.router.routes)]
