"""The registry lists the four services once, in pipeline order, and loads only what is asked for."""

import subprocess
import sys

from services.registry import SERVICES


def test_the_registry_lists_the_four_services_in_pipeline_order_each_under_its_own_name():
    assert list(SERVICES) == ["intake", "verification", "clarification", "credit_blacklist"]
    for name, definition in SERVICES.items():
        assert definition.name == name
        assert definition.migrations_dir.is_dir() and definition.migrations_dir.parent.name == name


def test_a_process_that_runs_one_service_loads_only_that_service():
    probe = ("import sys; from services.registry import SERVICES; SERVICES['intake']; "
             "print(sorted(m for m in sys.modules if m.endswith('.app') and m.startswith('services.')))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['services.intake.app']"
