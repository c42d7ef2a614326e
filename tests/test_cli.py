"""The operator CLI as a user runs it: migrate, token, dlq list, outbox replay."""

import subprocess
import sys

import pytest

from shared.auth import TokenVerifier


def zhengming(*args, env):
    return subprocess.run([sys.executable, "-m", "services.cli", *args], env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def cli_env(tmp_path):
    import os

    env = {**os.environ, "ZM_DATA_DIR": str(tmp_path / "data")}
    return env


def test_token_is_minted_with_a_development_key_created_on_first_run(cli_env, tmp_path):
    out = zhengming("token", "--sub", "alice", "--scopes", "reports:read audit:read", "--region", "3305",
                    "--org-level", "county", env=cli_env)
    assert out.returncode == 0, out.stderr
    public = (tmp_path / "data" / "keys" / "jwt-public.pem").read_bytes()
    principal = TokenVerifier(public, issuer="zhengming", audience="zhengming").verify(out.stdout.strip())
    assert principal.subject == "alice" and principal.region == "3305"
    assert principal.scopes == {"reports:read", "audit:read"}


def test_token_refuses_an_unknown_scope(cli_env):
    out = zhengming("token", "--sub", "a", "--scopes", "reports:everything", env=cli_env)
    assert out.returncode != 0 and "unknown scopes" in out.stderr


def test_migrate_then_replay_and_dlq_list_on_sqlite(cli_env, tmp_path):
    out = zhengming("migrate", env=cli_env)
    assert out.returncode == 0, out.stderr
    from services.cli import SERVICES
    from shared.migrate import head_revision

    for name in ("intake", "verification", "clarification", "credit_blacklist"):
        assert f"{name} at {head_revision(SERVICES[name].migrations_dir)}" in out.stdout
        assert (tmp_path / "data" / f"{name}.db").exists()
    out = zhengming("outbox", "replay", "--service", "intake", env=cli_env)
    assert out.returncode == 0 and "intake: 0 outbox row(s) queued" in out.stdout
    out = zhengming("dlq", "list", env=cli_env)
    assert out.returncode == 0 and "no dead letters" in out.stdout
