"""The README's walk-through, run verbatim: its bash blocks between the walkthrough markers, in one
shell, against the suite started as the README says (`zhengming run` with the development clock, a
fresh data folder, SQLite and the embedded broker). Only the ports differ (free ones, so a suite
already running on this machine is left alone). It must end with the official clarified, the
follow-up visit recorded and the accuser's listing active, whatever today's date."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from services.registry import SERVICES
from shared.auth import mint_token
from shared.broker import die_with_parent, free_port
from tests.conftest import BACKEND, bearer, eventually

CHECKOUT = Path(__file__).resolve().parents[2]
README = CHECKOUT / "README.md"
README_PORTS = {"intake": 8001, "verification": 8002, "clarification": 8003, "credit_blacklist": 8004}

pytestmark = [
    pytest.mark.processes, pytest.mark.broker,
    pytest.mark.skipif(BACKEND != "sqlite", reason="the README walks through the embedded default (SQLite); "
                                                   "run once, with the SQLite pass"),
]


def walkthrough() -> str:
    """The bash blocks between `<!-- walkthrough -->` and `<!-- /walkthrough -->`, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("<!-- walkthrough -->", 1)[1].split("<!-- /walkthrough -->", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    assert blocks, "the README's walk-through has no bash blocks"
    return "\n".join(blocks)


def test_the_walkthrough_finds_its_blocks():
    script = walkthrough()
    for step in ("/v1/reports", "/conclusion", "/meetings", "/follow-up", "/approval", "/v1/checks",
                 "clock reset"):
        assert step in script


@pytest.fixture
def suite(tmp_path):
    """`ZM_DEV_CLOCK=true zhengming run` on free ports and a fresh data folder; stopped with Ctrl-C."""
    ports = {name: free_port() for name in SERVICES}
    data = tmp_path / "data"
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ZM_")},
           "ZM_DATA_DIR": str(data), "ZM_DEV_CLOCK": "true", "ZM_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
           "ZM_AUDIT_PEERS": ",".join(f"{name}=http://127.0.0.1:{port}" for name, port in ports.items()),
           "ZM_CREDIT_BLACKLIST_INTAKE_URL": f"http://127.0.0.1:{ports['intake']}",
           **{f"ZM_{name.upper()}_PORT": str(port) for name, port in ports.items()}}
    log = open(tmp_path / "run.log", "wb")
    run = subprocess.Popen([sys.executable, "-m", "services.cli", "run"], cwd=CHECKOUT, env=env, stdout=log,
                           stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=die_with_parent)
    try:
        yield ports, env, data, run
    finally:
        run.send_signal(signal.SIGINT)  # Ctrl-C: the suite stops its services and its broker
        try:
            run.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
        log.close()


async def test_the_readme_walkthrough_runs_verbatim_to_a_clarified_official_and_an_active_listing(suite,
                                                                                                   tmp_path):
    ports, env, data, run = suite

    async def ready():
        if run.poll() is not None:
            log = (tmp_path / "run.log").read_text(encoding="utf-8", errors="replace")
            pytest.fail(f"`zhengming run` exited with {run.returncode}:\n{log[-3000:]}")
        async with httpx.AsyncClient(timeout=2) as client:
            for port in ports.values():
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/readyz")).status_code != 200:
                        return False
                except httpx.HTTPError:
                    return False
        return True

    await eventually(ready, timeout_s=180, interval_s=0.5, what="the suite started by `zhengming run`")

    script = walkthrough()
    for name, port in README_PORTS.items():
        script = script.replace(f"127.0.0.1:{port}", f"127.0.0.1:{ports[name]}")
    # Any answer of 400 or more stops the walk with its body (the reader would see it printed).
    prelude = 'set -eu\ncurl() { command curl --fail-with-body --max-time 30 "$@"; }\n'
    (tmp_path / "walk.sh").write_text(prelude + script, encoding="utf-8")
    (tmp_path / ".venv").symlink_to(CHECKOUT / ".venv")  # the walk runs "in the repo"; its files land here
    walked = subprocess.run(["bash", str(tmp_path / "walk.sh")], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=600)
    assert walked.returncode == 0, f"{walked.stdout[-3000:]}\n{walked.stderr[-3000:]}"

    key = (data / "keys" / "jwt-private.pem").read_bytes()

    def officer(scopes):
        return bearer(mint_token(key, subject="checker", scopes=scopes.split(), region="33", org_level="provincial"))

    async with httpx.AsyncClient(timeout=10) as client:
        clarified = (await client.get(f"http://127.0.0.1:{ports['clarification']}/v1/clarifications",
                                      params={"status": "closed"}, headers=officer("clarification:read"))).json()
        [done] = [c for c in clarified["items"] if c["follow_up_done_on"]]
        assert done["outcome"] == "completed" and done["closed_at"].endswith("+08:00")
        entries = (await client.get(f"http://127.0.0.1:{ports['credit_blacklist']}/v1/entries",
                                    headers=officer("blacklist:read"))).json()["items"]
        assert [e["status"] for e in entries] == ["notified"]  # the clock is back to today: inside the window
    assert (tmp_path / "meeting.ics").read_text(encoding="utf-8").startswith("BEGIN:VCALENDAR")
    assert '"listed":true' in walked.stdout.replace(" ", "")
