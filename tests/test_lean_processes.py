"""A process of `make run` carries what the same process carries in the runtime image: the
development renderers the test tools install (rich, pygments) stay out of it (services/__main__.py)."""

from __future__ import annotations

import subprocess
import sys

from services.supervisor import service_command

WHAT_A_SERVICE_PROCESS_LOADS = """
import sys
from services.__main__ import leave_out_development_renderers
leave_out_development_renderers()
import services.cli, services.registry, shared.logs
from services.intake.app import SERVICE
shared.logs.configure_logging("intake", "INFO")
print(sorted({m.partition(".")[0] for m in sys.modules} & {"rich", "pygments", "structlog"}))
"""


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_the_development_renderers_are_installed_here_so_the_next_test_means_something() -> None:
    assert run_python("import structlog, sys; print('rich' in sys.modules)") == "True"


def test_a_service_process_loads_structlog_without_rich_or_pygments() -> None:
    assert run_python(WHAT_A_SERVICE_PROCESS_LOADS) == "['structlog']"


def test_the_supervisor_and_the_zhengming_command_start_through_the_lean_entry() -> None:
    assert service_command("intake", "--role", "consumer")[1:4] == ["-m", "services", "run"]
    from importlib.metadata import entry_points

    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "zhengming"]
    assert script.value == "services.__main__:main"
