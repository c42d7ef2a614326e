"""The middleware every service app runs outermost (after a trusted proxy's): the request id in
and out, the latency histogram by route template, the access log, and the body size cap."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import clock
from shared.calendar import china_time
from shared.logs import access_log, report_id_var, request_id_var
from shared.observability import ASGIApp, Metrics, Receive, Scope, Send
from shared.problems import problem


class RequestContextMiddleware:
    """Pure ASGI: request id in and out, latency histogram by route template, body size cap."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        # The labelled histogram child per (method, route, status): labels() costs a lock and a lookup.
        self._latency: dict[tuple[str, str, int], Any] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        incoming, length = b"", b"0"
        for key, value in scope.get("headers") or ():
            if key == b"content-length":
                length = value
            elif key == b"x-request-id":
                incoming = value
        if length.isdigit() and int(length) > self.max_body_bytes:
            await problem(413, "payload_too_large", "Request body too large",
                          f"the body may be at most {self.max_body_bytes} bytes", shown(path))(scope, receive, send)
            return
        if "\x00" in path or b"%00" in scope.get("query_string", b"").lower():
            await problem(422, "validation_failed", "Request is not valid",
                          "NUL characters are not allowed in the path or query",
                          shown(path))(scope, receive, send)
            return
        limit = self.max_body_bytes
        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Bodies sent without Content-Length (chunked) are capped as they arrive.
                    raise StarletteHTTPException(413, f"the body may be at most {limit} bytes")
            return message

        text = incoming.decode("latin-1")
        rid = text if 0 < len(text) <= 64 and text.isprintable() else uuid.uuid4().hex
        rid_header = (b"x-request-id", rid.encode())
        token = request_id_var.set(rid)
        report_token = report_id_var.set(None)
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), rid_header, *dev_clock_header()]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_wrapper)
        finally:
            # The route template, never the raw path: a path may hold a secret such as a receipt code.
            template = getattr(scope.get("route"), "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            key = (scope["method"], template, status)
            histogram = self._latency.get(key)
            if histogram is None:
                histogram = self._latency.setdefault(key, self.metrics.request_latency.labels(
                    self.metrics.service, scope["method"], template, str(status)))
            histogram.observe(elapsed)
            if access_log.isEnabledFor(logging.INFO):
                access_log.info("request", extra={"method": scope["method"], "route": template, "status": status,
                                                  "duration_ms": round(elapsed * 1000, 2)})
            request_id_var.reset(token)
            report_id_var.reset(report_token)


def dev_clock_header() -> list[tuple[bytes, bytes]]:
    """While the development clock is moved, every answer says what "now" is for it."""
    if not clock.moved_by():
        return []
    return [(b"x-zhengming-dev-clock", china_time(clock.now()).encode())]


def shown(path: str) -> str:
    """The path as a problem's `instance` names it: a NUL written out, never sent raw."""
    return path.replace("\x00", "\\0")
