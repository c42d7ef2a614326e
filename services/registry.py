"""The four services, listed once: the CLI, the tests, tools/cluster.py and the benchmarks take
them from here.

A service's definition is loaded when first asked for, so a process that runs one service loads
only that one's code (importing all four costs each process about 11 MB)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from shared.composition import ServiceDefinition

Definition = ServiceDefinition[Any, Any]


def _intake() -> Definition:
    from services.intake.app import SERVICE

    return SERVICE


def _verification() -> Definition:
    from services.verification.app import SERVICE

    return SERVICE


def _clarification() -> Definition:
    from services.clarification.app import SERVICE

    return SERVICE


def _credit_blacklist() -> Definition:
    from services.credit_blacklist.app import SERVICE

    return SERVICE


class Registry(Mapping[str, Definition]):
    """Service name → its definition, in pipeline order (a report enters at intake and ends, for
    some, on the blacklist)."""

    def __init__(self, loaders: dict[str, Callable[[], Definition]]) -> None:
        self._loaders = loaders
        self._loaded: dict[str, Definition] = {}

    def __getitem__(self, name: str) -> Definition:
        if name not in self._loaded:
            definition = self._loaders[name]()
            assert definition.name == name, f"{name} is registered with the definition of {definition.name}"
            self._loaded[name] = definition
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._loaders)

    def __len__(self) -> int:
        return len(self._loaders)


SERVICES = Registry({"intake": _intake, "verification": _verification, "clarification": _clarification,
                     "credit_blacklist": _credit_blacklist})
