"""Structured JSON log lines (structlog), one per event, carrying the ids of what they are about.

Every line is one JSON object: `ts`, `level`, `service`, `logger`, `msg`, then the fields given with
the call (`extra=` for the standard library's loggers, keywords for structlog's) and those of the
context it was logged in: `request_id` (the request, or the request an applied event came from),
`report_id`, `trace_id` and `span_id` (W3C), and whatever is bound with
`structlog.contextvars.bound_contextvars` (the inbox binds the event being applied). A traceback is
the `exc` field of its line, logged once per exception; fields that may carry personal data are
dropped whatever a caller passes, and no colour code reaches a line.
"""

from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import threading
import time
import weakref
from collections.abc import Callable
from typing import IO, Any

import structlog
from structlog.typing import EventDict, WrappedLogger

from shared.tracing import current_trace
from shared.tracing import request_id as request_id_var

__all__ = ["ContextFilter", "JsonFormatter", "access_log", "configure_logging", "log_access", "log_handler",
           "quiet_libraries", "report_id_var", "request_id_var"]

report_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("report_id", default=None)

access_log = logging.getLogger("zhengming.access")
# Fields that may carry personal data are dropped from log lines whatever a caller passes.
_NEVER_LOGGED = frozenset({"name_plain", "id_number", "phone", "address", "reporter", "reporter_name", "body"})
# What the standard library or a library puts on a record that is not ours to log: uvicorn's
# `color_message` is its message with ANSI colour codes; `message` and `asctime` are a formatter's.
_NOT_FIELDS = frozenset({"color_message", "message", "asctime", "taskName"})
_ANSI = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|[@-Z\\-_])")
_SKIPPED = _NEVER_LOGGED | _NOT_FIELDS | {"event"}
# What every LogRecord carries that is not a field of the line (structlog's ExtraAdder leaves the same out).
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("name", 0, "pathname", 0, "msg", (), None).__dict__)
_NOT_A_FIELD = _RECORD_ATTRIBUTES | _SKIPPED
# One encoder for every line: json.dumps with arguments builds a new one per call.
_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode
# structlog's context-local variables, by name (structlog_<key>), every one ever bound in this process.
_STRUCTLOG_VARS: dict[str, contextvars.ContextVar[Any]] | None = getattr(structlog.contextvars, "_CONTEXT_VARS", None)
_STRUCTLOG_PREFIX = len(getattr(structlog.contextvars, "STRUCTLOG_KEY_PREFIX", "structlog_"))


def _bound_contextvars() -> dict[str, Any]:
    """What is bound with structlog.contextvars in this context: structlog's `get_contextvars`
    without copying the whole context to find them (nothing is ever bound in an API process, so
    nothing is looked at)."""
    if _STRUCTLOG_VARS is None:  # a structlog that keeps them elsewhere: its own way
        return structlog.contextvars.get_contextvars()
    if not _STRUCTLOG_VARS:
        return {}
    bound = {}
    for name, var in list(_STRUCTLOG_VARS.items()):
        value = var.get(Ellipsis)
        if value is not Ellipsis:
            bound[name[_STRUCTLOG_PREFIX:]] = value
    return bound


class ContextFilter(logging.Filter):
    """Stamps the context's ids onto each record as it is made, in the context it is made in, and
    drops a second report of an exception this handler already logged with its traceback: uvicorn
    reports "Exception in ASGI application" after the problem handler logged the same 500."""

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        # exception -> the record that logged it. Exceptions cannot be weakly referenced, records
        # can: a mark on the exception names its first record, per filter (one per handler).
        self._mark = f"_zm_logged_{id(self):x}"

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and (exc := record.exc_info[1]) is not None and not self._first_report(exc, record):
            return False
        if (rid := request_id_var.get()) is not None:
            record.request_id = rid
        if (rep := report_id_var.get()) is not None:
            record.report_id = rep
        if (trace := current_trace()) is not None:
            record.trace_id, record.span_id = trace.trace_id, trace.span_id
        for key, value in _bound_contextvars().items():
            if key not in record.__dict__:
                record.__dict__[key] = value
        return True

    def _first_report(self, exc: BaseException, record: logging.LogRecord) -> bool:
        first = getattr(exc, self._mark, None)
        if first is not None and first() is not record:
            return False
        try:
            setattr(exc, self._mark, weakref.ref(record))
        except (AttributeError, TypeError):  # an exception type that takes no attributes: logged again
            pass
        return True


def _shape(service: str) -> Callable[[WrappedLogger, str, EventDict], EventDict]:
    """The line's fields: ours first, then the call's and the context's; none that may carry personal
    data, and no processor bookkeeping."""
    second, stamp = -1, ""

    def shape(logger: WrappedLogger, method: str, event: EventDict) -> EventDict:
        nonlocal second, stamp
        record: logging.LogRecord = event["_record"]
        created = record.created
        if int(created) != second:  # the date and time to the second, formatted once a second
            second, stamp = int(created), time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
        out: dict[str, Any] = {
            "ts": f"{stamp}.{int(created % 1 * 1000):03d}Z",
            "level": method,
            "service": service,
            "logger": record.name,
            "msg": event["event"],
        }
        for key, value in event.items():
            if key in _SKIPPED or key[:1] == "_":
                continue
            if type(value) is dict:
                value = _without_personal_data(value)
            out["exc" if key == "exception" else key] = value
        return out

    return shape


def _without_personal_data(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_personal_data(v) for k, v in value.items() if k not in _NEVER_LOGGED}
    if isinstance(value, list):
        return [_without_personal_data(v) for v in value]
    return value


def _no_colour(logger: WrappedLogger, method: str, line: str) -> str:
    """The line without ANSI colour codes. JSON writes ESC as \\u001b, so a line without one has none
    (the usual case: one search); a line with one is read back and written again without them."""
    if "\\u001b" not in line:
        return line
    return json.dumps(_decoloured(json.loads(line)), ensure_ascii=False)


def _decoloured(value: Any) -> Any:
    if isinstance(value, str):
        return _ANSI.sub("", value).replace("\x1b", "")
    if isinstance(value, dict):
        return {k: _decoloured(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoloured(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON line per record: its `extra=` fields and those ContextFilter stamped, after ours. A
    record with a traceback goes through structlog's processors (the traceback formatted as
    structlog formats it); every other record, the access line of every request among them, is
    written straight from the record by one JSON encoder, to the same line (tests/shared/test_logs.py):
    the processor chain cost about 15 us of the 25 us a line took. structlog's own loggers reach it
    as records too (configure_logging).

    Not structlog's ProcessorFormatter: it copies each record and formats it a second time through
    `logging.Formatter`."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self._second, self._stamp = -1, ""
        self._processors: tuple[Callable[[WrappedLogger, str, Any], Any], ...] = (
            structlog.stdlib.ExtraAdder(),
            structlog.processors.format_exc_info,  # the traceback, as one string
            _shape(service),
            structlog.processors.JSONRenderer(ensure_ascii=False, default=str),
            _no_colour,
        )

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info:
            return self._through_processors(record)
        created = record.created
        if int(created) != self._second:  # the date and time to the second, formatted once a second
            self._second, self._stamp = int(created), time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created))
        out: dict[str, Any] = {
            "ts": f"{self._stamp}.{int(created % 1 * 1000):03d}Z",
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key in _NOT_A_FIELD or key[:1] == "_":
                continue
            if type(value) is dict:
                value = _without_personal_data(value)
            out["exc" if key == "exception" else key] = value
        return _no_colour(None, "", _encode(out))

    def _through_processors(self, record: logging.LogRecord) -> str:
        event: Any = {"event": record.getMessage(), "_record": record}
        if record.exc_info:
            event["exc_info"] = record.exc_info
        method = record.levelname.lower()
        for processor in self._processors:
            event = processor(None, method, event)
        return str(event)


# --- the access line ---------------------------------------------------------------------------------

_ACCESS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "middleware.py")
# The attributes of an access line's record that never change: those a LogRecord takes from where it
# was logged (always the request middleware) and from the process.
_ACCESS_TEMPLATE = {
    key: value for key, value in logging.LogRecord(
        access_log.name, logging.INFO, _ACCESS_PATH, 0, "request", (), None, func="_observe").__dict__.items()
    if key not in ("created", "msecs", "relativeCreated", "thread", "threadName", "process")
}
_thread_names: dict[int, str] = {}


def _access_record(fields: dict[str, Any]) -> logging.LogRecord:
    """The record `access_log.info("request", extra=fields)` makes, with every attribute a handler or
    formatter may read, at a fraction of the cost: no caller lookup (the middleware logs it), no
    argument checks, the constant attributes copied from a template."""
    record = logging.LogRecord.__new__(logging.LogRecord)
    attributes = record.__dict__
    attributes.update(_ACCESS_TEMPLATE)
    created = time.time()
    attributes["created"] = created
    attributes["msecs"] = int((created - int(created)) * 1000) + 0.0
    attributes["relativeCreated"] = (created - logging._startTime) * 1000  # type: ignore[attr-defined]
    attributes["thread"] = ident = threading.get_ident()
    attributes["threadName"] = _thread_names.get(ident) or _thread_name(ident)
    attributes["process"] = os.getpid()
    attributes.update(fields)
    return record


def _thread_name(ident: int) -> str:
    name = _thread_names[ident] = threading.current_thread().name
    return name


def log_access(fields: dict[str, Any]) -> None:
    """One access line, "request" with `fields` (method, route, status, duration), as
    `access_log.info("request", extra=fields)` logs it: through the same handlers and filters (the
    context's ids stamped by ContextFilter), when INFO is enabled."""
    if access_log.isEnabledFor(logging.INFO):
        access_log.handle(_access_record(fields))


def log_handler(service: str, stream: IO[str] | None = None) -> logging.Handler:
    """The handler every service process logs through: JSON lines to `stream` (standard error)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter(service))
    return handler


def configure_logging(service: str, level: str = "INFO") -> None:
    """The process logs JSON lines to standard error at `level`, from the standard library's loggers
    (uvicorn's included) and structlog's."""
    root = logging.getLogger()
    root.handlers[:] = [log_handler(service)]
    root.setLevel(level)
    # structlog's own loggers hand their events to the standard library as records (by default
    # structlog prints coloured console lines of its own).
    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, structlog.stdlib.render_to_log_kwargs],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    quiet_libraries()


def quiet_libraries() -> None:
    """Libraries log at WARNING and up only. httpx in particular logs whole URLs at INFO, and a URL
    may carry a secret (a receipt code) or a reason naming a case."""
    for noisy in ("kafka", "aiosqlite", "asyncio", "alembic", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # OpenTelemetry's propagator warns of each malformed trace header a client sends, quoting it.
    logging.getLogger("opentelemetry").setLevel(logging.ERROR)
    logging.getLogger("uvicorn.access").disabled = True
