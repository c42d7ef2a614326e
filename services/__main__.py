"""`zhengming` and `python -m services`: the operator's command line, started without the development
renderers.

structlog imports rich (and, through it, pygments) whenever they are installed, to draw coloured
tracebacks on a terminal. The runtime image does not install them (deploy/Dockerfile takes only the
runtime dependencies); the repository's virtual environment does, for the test tools (schemathesis,
mutmut). A service process never renders with them, yet would carry them: 4-5 MB of every process
under `make run` (BENCHMARKS.md, #22 idle). This entry keeps them out before anything imports structlog,
so a process of `make run` holds what the same process holds in the image. `python -m services.cli`
stays the plain command line (the tests use it), with whatever the environment has installed."""

from __future__ import annotations

import importlib.abc
import sys
from collections.abc import Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType

# Packages only a terminal's pretty printing uses; structlog and its traceback helper fall back to
# plain output when importing them fails.
DEVELOPMENT_RENDERERS = frozenset({"rich", "pygments"})


class _LeftOut(importlib.abc.MetaPathFinder):
    """Answers an import of one of `names` (or a module inside one) as not installed."""

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> ModuleSpec | None:
        if fullname.partition(".")[0] in self.names:
            raise ModuleNotFoundError(f"{fullname} is left out of service processes", name=fullname)
        return None


def leave_out_development_renderers() -> None:
    """From now on, this process imports neither rich nor pygments (none is imported yet)."""
    if not any(isinstance(finder, _LeftOut) for finder in sys.meta_path):
        sys.meta_path.insert(0, _LeftOut(DEVELOPMENT_RENDERERS))


def main() -> None:
    leave_out_development_renderers()
    from services.cli import main as command_line

    command_line()


if __name__ == "__main__":
    main()
