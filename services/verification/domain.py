"""Pure verification rules. No I/O imports; tested with plain values."""

from __future__ import annotations

from enum import StrEnum


class CaseStatus(StrEnum):
    open = "open"
    investigating = "investigating"
    concluded = "concluded"
    awaiting_approval = "awaiting_approval"
    final = "final"
    superseded = "superseded"
