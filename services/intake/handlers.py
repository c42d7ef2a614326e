"""Events intake consumes. `report.verified.v1` (receipt status) arrives with the verification rules."""

from __future__ import annotations

from shared.web import ConsumerSpec

CONSUMERS: list[ConsumerSpec] = []
