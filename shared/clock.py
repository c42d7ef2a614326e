"""The development clock: "now" for every service moved by an offset, so the rules that wait on
the calendar (objection windows, listing periods, repair minimums, overdue cases and follow-ups)
can be driven by an integrator in minutes instead of weeks.

Off unless a service's settings turn it on (`dev_clock`, refused in production). The offset lives
in one file under the data directory, written by `zhengming clock`, so every service and its
sweepers move in step; each process rereads it when the file changes."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.messages import Message

FILE_NAME = "dev-clock.json"
RECHECK_S = 0.5  # how stale a process's view of the offset may be
# How far the clock may move: ten years either way covers every period the rules know, and keeps
# every date the services compute from "now" far from the calendar's ends.
MAX_OFFSET = timedelta(days=3650)


class _Clock:
    def __init__(self) -> None:
        self.path: Path | None = None  # None: the real clock
        self.offset = timedelta(0)
        self._checked = 0.0
        self._stamp: tuple[int, int] | None = None

    def now(self) -> datetime:
        if self.path is None:
            return datetime.now(UTC)
        if time.monotonic() - self._checked > RECHECK_S:
            self._reload()
        return datetime.now(UTC) + self.offset

    def _reload(self) -> None:
        assert self.path is not None
        self._checked = time.monotonic()
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            self.offset, self._stamp = timedelta(0), None
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self.offset = read_offset(self.path)
            self._stamp = stamp


_clock = _Clock()


def now() -> datetime:
    """The current moment, timezone-aware UTC: real time, or moved by the development clock."""
    return _clock.now()


def use(data_dir: Path | None) -> None:
    """Follow the development clock kept under `data_dir` (None: the real clock again)."""
    _clock.path = None if data_dir is None else data_dir / FILE_NAME
    _clock.offset, _clock._stamp, _clock._checked = timedelta(0), None, 0.0


def moved_by() -> timedelta:
    """How far the development clock is from real time (zero when off or not moved)."""
    now()
    return _clock.offset if _clock.path is not None else timedelta(0)


def read_offset(path: Path) -> timedelta:
    """The offset in the file; zero (the real clock) when it is absent, unreadable or beyond MAX_OFFSET."""
    try:
        offset = timedelta(seconds=float(json.loads(path.read_text(encoding="utf-8"))["offset_s"]))
    except (OSError, ValueError, KeyError, TypeError, OverflowError):
        return timedelta(0)
    return offset if abs(offset) <= MAX_OFFSET else timedelta(0)


def write_offset(data_dir: Path, offset: timedelta) -> None:
    """Move every service's clock under `data_dir` to real time + `offset` (atomically); ValueError
    beyond MAX_OFFSET."""
    if abs(offset) > MAX_OFFSET:
        raise ValueError(Message("cli.clock_limit", days=MAX_OFFSET.days))
    path = data_dir / FILE_NAME
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"offset_s": offset.total_seconds()}), encoding="utf-8")
    temporary.replace(path)
