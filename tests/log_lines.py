"""The JSON lines the services log, captured in a test through the handler every service process
logs through (shared.logs.log_handler)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

from shared.logs import log_handler, quiet_libraries


class LogLines:
    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    def raw(self) -> str:
        return self._stream.getvalue()

    def all(self) -> list[dict[str, Any]]:
        """Every line so far, each one JSON object (a line that is not fails the test here)."""
        return [json.loads(line) for line in self.raw().splitlines()]

    def where(self, **fields: Any) -> list[dict[str, Any]]:
        return [line for line in self.all() if all(line.get(k) == v for k, v in fields.items())]


@contextlib.contextmanager
def captured_logs(level: int = logging.INFO) -> Iterator[LogLines]:
    stream = io.StringIO()
    handler = log_handler("test", stream)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    quiet_libraries()  # as configure_logging does in every service process
    try:
        yield LogLines(stream)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
