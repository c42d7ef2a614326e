"""Structured JSON logs with request and report ids, and Prometheus metrics per app."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from starlette.exceptions import HTTPException as StarletteHTTPException

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
report_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("report_id", default=None)

access_log = logging.getLogger("zhengming.access")
_STANDARD_ATTRS = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
# Fields that may carry personal data are dropped from log lines whatever a caller passes.
_NEVER_LOGGED = {"name_plain", "id_number", "phone", "address", "reporter", "reporter_name", "body"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "service": self._service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in _NEVER_LOGGED and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False, default=str)


class ContextFilter(logging.Filter):
    """Stamps the request and report ids onto each record when it is made, in its own context."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (rid := request_id_var.get()) is not None:
            record.request_id = rid
        if (rep := report_id_var.get()) is not None:
            record.report_id = rep
        return True


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet_libraries()


def quiet_libraries() -> None:
    """Libraries log at WARNING and up only. httpx in particular logs whole URLs at INFO, and a URL
    may carry a secret (a receipt code) or a reason naming a case."""
    for noisy in ("kafka", "aiosqlite", "asyncio", "alembic", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.access").disabled = True


class Metrics:
    """The metrics one service exposes at /metrics; a registry per app keeps test apps apart."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.request_latency = Histogram(
            "zm_http_request_duration_seconds", "HTTP request latency", ["service", "method", "route", "status"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
        self.outbox_backlog = Gauge(
            "zm_outbox_backlog", "Outbox rows not yet published", ["service"], registry=self.registry
        )
        self.outbox_published = Counter(
            "zm_outbox_published_total", "Outbox rows published", ["service"], registry=self.registry
        )
        self.consumer_lag = Gauge(
            "zm_consumer_lag", "Messages behind the end of the partition", ["service", "topic", "partition"],
            registry=self.registry,
        )
        self.events_consumed = Counter(
            "zm_events_consumed_total", "Events handled by outcome", ["service", "topic", "outcome"],
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "zm_dlt_events_total", "Events sent to a dead-letter topic", ["service", "topic"], registry=self.registry
        )
        self.events_rejected = Counter(
            "zm_events_rejected_total", "Events refused by the trust check (signature, source, type); dead-lettered",
            ["service", "topic", "reason"], registry=self.registry,
        )
        self.service = service


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


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
            await _reject_too_large(send, self.max_body_bytes, path)
            return
        if "\x00" in path or b"%00" in scope.get("query_string", b"").lower():
            await _reject(send, 422, "validation_failed", "Request is not valid",
                          "NUL characters are not allowed in the path or query", path)
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
                message["headers"] = [*message.get("headers", ()), rid_header]
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


async def _reject_too_large(send: Send, limit: int, path: str) -> None:
    await _reject(send, 413, "payload_too_large", "Request body too large",
                  f"the body may be at most {limit} bytes", path)


async def _reject(send: Send, status: int, code: str, title: str, detail: str,
                  path: str) -> None:
    """Answer with a problem document before the request reaches the app."""
    body = json.dumps({
        "type": f"https://zhengming.example/problems/{code}",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": path.replace("\x00", "\\0"),
        "code": code,
    }).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
