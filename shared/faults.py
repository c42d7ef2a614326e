"""Crash points for fault-injection runs (`make chaos`): off unless ZM_FAULT is set.

`ZM_FAULT=consumer.after_db_commit:5` makes the process die like `kill -9` (no cleanup, no
flush) the 5th time it reaches that point. The points sit exactly where a crash is most
dangerous: between a database commit and the matching Kafka offset commit, and between
publishing outbox rows and marking them sent.
"""

from __future__ import annotations

import os
import sys

POINTS = ("consumer.before_db_commit", "consumer.after_db_commit", "relay.after_publish")
_counts: dict[str, int] = {}


def crash_point(name: str) -> None:
    spec = os.environ.get("ZM_FAULT")
    if not spec:
        return
    point, _, nth = spec.partition(":")
    if point != name:
        return
    _counts[name] = _counts.get(name, 0) + 1
    if _counts[name] == int(nth or 1):
        sys.stderr.write(f"ZM_FAULT: crashing at {name} (#{_counts[name]})\n")
        sys.stderr.flush()
        os._exit(137)
