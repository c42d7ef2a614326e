"""Events this service consumes; `report.verified.v1` arrives with the verification rules."""

from __future__ import annotations

from shared.web import ConsumerSpec

CONSUMERS: list[ConsumerSpec] = []
