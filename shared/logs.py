"""Structured JSON log lines carrying the request's and the report's ids."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any

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
