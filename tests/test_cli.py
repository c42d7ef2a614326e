"""The operator CLI as a user runs it: migrate, token, dlq list, outbox replay."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.auth import TokenVerifier

CHECKOUT = Path(__file__).resolve().parents[1]


def zhengming(*args, env):
    return subprocess.run([sys.executable, "-m", "services.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def cli_env(tmp_path):
    import os

    # English, whatever the machine's locale: the assertions read the English messages.
    env = {**os.environ, "ZM_DATA_DIR": str(tmp_path / "data"), "ZM_LANGUAGE": "en"}
    return env


def test_token_refuses_to_make_keys_no_service_uses(cli_env, tmp_path):
    out = zhengming("token", "--sub", "alice", "--scopes", "reports:read", "--region", "3305", env=cli_env)
    assert out.returncode != 0 and "no signing key" in out.stderr and "make run" in out.stderr
    assert not (tmp_path / "data" / "keys").exists()  # nothing was created


def test_token_is_signed_with_the_key_the_services_of_the_data_folder_use(cli_env, tmp_path, monkeypatch):
    from services.cli import _ensure_keys

    monkeypatch.setenv("ZM_DATA_DIR", str(tmp_path / "data"))
    _ensure_keys()  # what `make run` does before starting the services
    out = zhengming("token", "--sub", "alice", "--scopes", "reports:read audit:read", "--region", "3305",
                    "--org-level", "county", env=cli_env)
    assert out.returncode == 0, out.stderr
    public = (tmp_path / "data" / "keys" / "jwt-public.pem").read_bytes()
    principal = TokenVerifier(public, issuer="zhengming", audience="zhengming").verify(out.stdout.strip())
    assert principal.subject == "alice" and principal.region == "3305"
    assert principal.scopes == {"reports:read", "audit:read"}
    # No service has run with this folder yet: said loudly, with the key used.
    assert "WARNING: no service has run with the data folder" in out.stderr and "signed with key" in out.stderr
    zhengming("migrate", "intake", env=cli_env)
    out = zhengming("token", "--sub", "alice", "--scopes", "reports:read", "--region", "nationwide", env=cli_env)
    assert out.returncode == 0 and "WARNING" not in out.stderr
    assert TokenVerifier(public, issuer="zhengming", audience="zhengming").verify(out.stdout.strip()).region == ""


def test_token_refuses_an_unknown_scope(cli_env, tmp_path, monkeypatch):
    from services.cli import _ensure_keys

    monkeypatch.setenv("ZM_DATA_DIR", str(tmp_path / "data"))
    _ensure_keys()
    out = zhengming("token", "--sub", "a", "--scopes", "reports:everything", "--region", "33", env=cli_env)
    assert out.returncode != 0 and "unknown scopes" in out.stderr


def test_token_needs_the_region_said_explicitly(cli_env):
    out = zhengming("token", "--sub", "a", "--scopes", "reports:read", env=cli_env)
    assert out.returncode != 0 and "--region" in out.stderr


def test_the_data_folder_is_the_checkouts_wherever_the_command_runs(tmp_path):
    import os

    env = {k: v for k, v in os.environ.items() if k != "ZM_DATA_DIR"}
    out = subprocess.run([sys.executable, "-c", "from shared.settings import ServiceSettings; "
                          "print(ServiceSettings().data_dir)"], env={**env, "PYTHONPATH": str(CHECKOUT)},
                         cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert Path(out.stdout.strip()) == CHECKOUT / "data"


def test_migrate_then_replay_and_dlq_list_on_sqlite(cli_env, tmp_path):
    out = zhengming("migrate", env=cli_env)
    assert out.returncode == 0, out.stderr
    from services.registry import SERVICES
    from shared.migrate import head_revision

    for name in ("intake", "verification", "clarification", "credit_blacklist"):
        assert f"{name} at {head_revision(SERVICES[name].migrations_dir)}" in out.stdout
        assert (tmp_path / "data" / f"{name}.db").exists()
    out = zhengming("outbox", "replay", "--service", "intake", env=cli_env)
    assert out.returncode == 0 and "intake: 0 outbox row(s) queued" in out.stdout
    out = zhengming("dlq", "list", env=cli_env)
    assert out.returncode == 0 and "no dead letters" in out.stdout
    import sqlite3

    with sqlite3.connect(tmp_path / "data" / "intake.db") as db:
        db.execute("INSERT INTO dead_letters (subscriber, event_id, event_type, topic, partition, \"offset\", "
                   "attempts, reason, error, failed_at) VALUES ('intake', 'reports.verified:1:7', NULL, "
                   "'reports.verified', 1, 7, 1, 'signature_invalid', 'signature_invalid: the event is not signed', "
                   "'2026-11-30 10:00:00.000000')")
    out = zhengming("dlq", "list", "--service", "intake", env=cli_env)
    assert out.returncode == 0 and "\tsignature_invalid\t" in out.stdout and "reports.verified[1]@7" in out.stdout
    assert "\t2026-11-30T18:00:00+08:00\t" in out.stdout  # stored in UTC, shown in China time
    out = zhengming("dlq", "list", "--json", env=cli_env)
    [listed] = [json.loads(line) for line in out.stdout.splitlines()]
    assert listed["service"] == "intake" and listed["reason"] == "signature_invalid"
    assert listed["failed_at"] == "2026-11-30T18:00:00+08:00" and listed["offset"] == 7
    # Its copy of the event was never kept (inserted by hand here): the redrive says so and leaves it.
    out = zhengming("dlq", "redrive", "--service", "intake", "--id", str(listed["id"]), "--json", env=cli_env)
    assert out.returncode == 1, out.stderr
    assert json.loads(out.stdout)["outcome"] == "failed" and "copy of the event is missing" in out.stdout
    assert json.loads(zhengming("dlq", "list", "--json", env=cli_env).stdout)["id"] == listed["id"]


def test_make_run_makes_every_services_signing_key_and_the_trust_file_before_starting_them(tmp_path, monkeypatch):
    from services.cli import _ensure_keys
    from shared.events import PRODUCERS
    from shared.signing import EventTrust, ServiceKey

    monkeypatch.setenv("ZM_DATA_DIR", str(tmp_path / "data"))
    _ensure_keys()
    keys = tmp_path / "data" / "keys"
    trust = EventTrust.from_file(keys / "event-trust.json", PRODUCERS)
    for service in ("intake", "verification", "clarification", "credit_blacklist"):
        assert trust.key(ServiceKey.from_file(service, keys / "services" / f"{service}.pem").key_id) is not None


def test_workers_go_with_the_api_role_only(cli_env):
    out = zhengming("run", "credit_blacklist", "--workers", "2", env=cli_env)
    assert out.returncode != 0 and "--workers needs --role api" in out.stderr
    out = zhengming("run", "--workers", "2", env=cli_env)
    assert out.returncode != 0 and "go with a service name" in out.stderr


def test_api_workers_share_one_port_and_stop_together(cli_env):
    import os
    import signal
    import socket
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "run", "credit_blacklist", "--role", "api",
                             "--port", str(port), "--workers", "2"], env=cli_env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        workers: list[int] = []
        while time.monotonic() < deadline and len(workers) < 2:
            children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
            workers = [int(pid) for pid in children if _listens(int(pid), port)]
            time.sleep(0.2)
        assert len(workers) == 2, "both workers listen on the port"
        assert httpx.get(f"http://127.0.0.1:{port}/livez", timeout=5).json() == {"status": "alive"}
        os.kill(workers[0], signal.SIGKILL)  # one worker dies: the set stops, for the orchestrator to restart
        assert proc.wait(timeout=30) != 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and Path(f"/proc/{workers[1]}").exists():
            time.sleep(0.1)
        assert not Path(f"/proc/{workers[1]}").exists()
    finally:
        if proc.poll() is None:
            proc.kill()


def _listens(pid: int, port: int) -> bool:
    """Whether process `pid` holds a socket listening on `port` (from /proc/net/tcp and its fds)."""
    import os

    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == port:
            inodes.add(fields[9])
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            return True
    return False


def _serve_intake(env):
    """`zhengming run intake --role api` on a free port, once its database is migrated; (process, url)."""
    import socket
    import time

    import httpx

    assert zhengming("migrate", "intake", env=env).returncode == 0
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "run", "intake", "--role", "api", "--port",
                             str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/livez", timeout=1)
            return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("intake did not start")


@pytest.mark.parametrize("trusted_proxies", ["", "127.0.0.1"])
def test_the_served_api_believes_x_forwarded_for_only_from_a_configured_proxy(cli_env, trusted_proxies):
    """The security review dodged the receipt limit with a new X-Forwarded-For per request, from the
    same machine: uvicorn believes that header from local processes unless told not to."""
    import httpx

    proc, url = _serve_intake({**cli_env, "ZM_TRUSTED_PROXIES": trusted_proxies,
                               "ZM_INTAKE_RECEIPT_LOOKUPS_PER_CODE_PER_MINUTE": "1000"})
    try:
        statuses = [httpx.get(f"{url}/v1/receipts/AAAA-BBBB-CCCC-DDDD",
                              headers={"X-Forwarded-For": f"10.1.2.{i}"}).status_code for i in range(20)]
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    if trusted_proxies:  # the documented ingress: each reporter behind it has their own bucket
        assert set(statuses) == {404}
    else:
        assert statuses[:10] == [404] * 10 and set(statuses[10:]) == {429}
