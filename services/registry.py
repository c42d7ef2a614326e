"""The four services, listed once: the CLI, the tests, tools/cluster.py and the benchmarks take
them from here."""

from __future__ import annotations

from typing import Any

from services.clarification.app import SERVICE as CLARIFICATION
from services.credit_blacklist.app import SERVICE as CREDIT_BLACKLIST
from services.intake.app import SERVICE as INTAKE
from services.verification.app import SERVICE as VERIFICATION
from shared.composition import ServiceDefinition

# In pipeline order: a report enters at intake and ends, for some, on the blacklist.
SERVICES: dict[str, ServiceDefinition[Any, Any]] = {
    service.name: service for service in (INTAKE, VERIFICATION, CLARIFICATION, CREDIT_BLACKLIST)
}
