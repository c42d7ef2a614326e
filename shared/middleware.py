"""The middleware every service app runs outermost (after a trusted proxy's): the request id in
and out (asgi-correlation-id's rules and context variable), the trace context, the latency histogram
by route template, the access log, and the body size cap."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from typing import Any

from asgi_correlation_id.middleware import FAILED_VALIDATION_MESSAGE
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared import clock
from shared.calendar import china_time
from shared.logs import log_access, report_id_var
from shared.messages import ENGLISH, Language, Message
from shared.observability import ASGIApp, Metrics, Receive, Scope, Send
from shared.problems import problem, requested_language
from shared.tracing import REQUEST_ID_HEADER, TraceContext, new_request_id, request_id, trace_context, valid_request_id

_REQUEST_ID_KEY = REQUEST_ID_HEADER.lower().encode("latin-1")
# asgi-correlation-id's logger: a refused client id is reported as it reports it.
_correlation_log = logging.getLogger("asgi_correlation_id")


class RequestContextMiddleware:
    """Pure ASGI: request id in and out, trace context, latency histogram by route template, access
    log, body size cap.

    The request id follows asgi-correlation-id's rules, in its context variable (`X-Request-ID`: a
    client's when it is a short plain token, else a new one, with asgi-correlation-id's warning when
    a client's was refused), set before anything else runs so every answer, every problem body and
    every log line of the request carry it. The request continues the client's W3C trace
    (`traceparent`, `tracestate`) as a child span, or starts one; the events it writes carry that
    span (shared/uow.py).

    Everything is done in one pass over the request's headers and one wrapper of `send` (the id, the
    development clock's header and the status for the histogram): asgi-correlation-id's own
    middleware, one more layer that read the headers again through Starlette's MutableHeaders, cost
    about a fifth of this middleware's time on every request.

    Bodies are capped at `max_body_bytes`, but for the paths `larger_bodies` names (a full match of
    its pattern): evidence uploads, say, whose route reads its body as a stream and enforces its own
    limits on what it reads."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int,
                 larger_bodies: Sequence[tuple[re.Pattern[str], int]] = (), default_language: Language = ENGLISH
                 ) -> None:
        self.app = app
        self.default_language = default_language  # of the problems it answers itself (shared/problems.py)
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes
        self.larger_bodies = tuple(larger_bodies)
        # The labelled histogram child per (method, route, status): labels() costs a lock and a lookup.
        self._latency: dict[tuple[str, str, int], Any] = {}

    def body_limit(self, path: str) -> int:
        """The most a request to `path` may send."""
        for pattern, limit in self.larger_bodies:
            if pattern.fullmatch(path):
                return limit
        return self.max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length, traceparent, tracestate, sent_id = b"0", None, None, None
        for key, value in scope.get("headers") or ():
            if key == b"content-length":
                length = value
            elif key == b"traceparent":
                traceparent = value
            elif key == b"tracestate":
                tracestate = value
            elif key == _REQUEST_ID_KEY and sent_id is None:
                sent_id = value
        rid = self._request_id(sent_id)
        request_id.set(rid)
        rid_header = (_REQUEST_ID_KEY, rid.encode("latin-1"))
        status = 500

        async def send_wrapper(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                moved = dev_clock_header()
                message["headers"] = [*message.get("headers", ()), *moved, rid_header]
            await send(message)

        path = scope.get("path", "")
        limit = self.body_limit(path)
        if length.isdigit() and int(length) > limit:
            await problem(413, "payload_too_large", Message("http.body_too_large", limit=limit), shown(path),
                          language=requested_language(scope, self.default_language))(scope, receive, send_wrapper)
            return
        if "\x00" in path or b"%00" in scope.get("query_string", b"").lower():
            await problem(422, "validation_failed", Message("http.nul_in_path"), shown(path),
                          language=requested_language(scope, self.default_language))(scope, receive, send_wrapper)
            return
        received = 0

        async def limited_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    # Bodies sent without Content-Length (chunked) are capped as they arrive.
                    raise StarletteHTTPException(413, Message("http.body_too_large", limit=limit))
            return message

        trace = TraceContext.continued(None if traceparent is None else traceparent.decode("latin-1"),
                                       None if tracestate is None else tracestate.decode("latin-1"),
                                       request_id=rid)
        trace_token = trace_context.set(trace)
        report_token = report_id_var.set(None) if report_id_var.get() is not None else None
        started = time.perf_counter()
        try:
            await self.app(scope, limited_receive, send_wrapper)
        except BaseException:
            # The ids stay set: the 500 handler's log line comes after this, outside every middleware
            # (under a server each request runs in a context of its own).
            self._observe(scope, status, time.perf_counter() - started)
            raise
        self._observe(scope, status, time.perf_counter() - started)
        # Nothing logged after the answer (in-process, in tests) claims this request's ids.
        trace_context.reset(trace_token)
        if report_token is not None:
            report_id_var.reset(report_token)
        else:
            report_id_var.set(None)
        request_id.set(None)

    @staticmethod
    def _request_id(sent: bytes | None) -> str:
        """The client's id when it is a short plain token, else a new one (asgi-correlation-id's
        rules: an empty header is no id; one refused is replaced, with its warning)."""
        if not sent:
            return new_request_id()
        value = sent.decode("latin-1")
        if valid_request_id(value):
            return value
        made = new_request_id()
        _correlation_log.warning(FAILED_VALIDATION_MESSAGE, made)
        return made

    def _observe(self, scope: Scope, status: int, elapsed: float) -> None:
        # The route template, never the raw path: a path may hold a secret such as a receipt code.
        template = getattr(scope.get("route"), "path", None) or "unmatched"
        key = (scope["method"], template, status)
        histogram = self._latency.get(key)
        if histogram is None:
            histogram = self._latency.setdefault(key, self.metrics.request_latency.labels(
                self.metrics.service, scope["method"], template, str(status)))
        histogram.observe(elapsed)
        log_access({"method": scope["method"], "route": template, "status": status,
                    "duration_ms": round(elapsed * 1000, 2)})


def dev_clock_header() -> list[tuple[bytes, bytes]]:
    """While the development clock is moved, every answer says what "now" is for it."""
    if not clock.moved_by():
        return []
    return [(b"x-zhengming-dev-clock", china_time(clock.now()).encode())]


def shown(path: str) -> str:
    """The path as a problem's `instance` names it: a NUL written out, never sent raw."""
    return path.replace("\x00", "\\0")
