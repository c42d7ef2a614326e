"""Starting, watching and stopping service processes: one way for `zhengming run` (services/cli.py)
and for the test and benchmark clusters (tools/cluster.py)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import httpx
from prometheus_client.multiprocess import mark_process_dead

from shared.broker import die_with_parent
from shared.messages import Message
from shared.observability import MULTIPROCESS_DIR_VARIABLE


class NotReady(RuntimeError):
    """A process exited during start-up, or did not become ready in time."""


def service_command(service: str, *args: str) -> list[str]:
    """The command that runs one service (or one role of it) with this interpreter."""
    return [sys.executable, "-m", "services", "run", service, *args]


def spawn(command: list[str], *, log: Path | None = None, env: Mapping[str, str] | None = None,
          own_session: bool = False) -> subprocess.Popen[bytes]:
    """Start `command`, its output appended to `log` (inherited when None). It dies with this
    process, even when this one is killed -9; with `own_session`, a Ctrl-C in the terminal reaches
    only this process, which then stops its children in order."""
    output = open(log, "ab") if log is not None else None
    return subprocess.Popen(  # noqa: S603 - our own interpreter and modules
        command, env=dict(env) if env is not None else None, stdout=output,
        stderr=subprocess.STDOUT if output is not None else None, start_new_session=own_session,
        preexec_fn=die_with_parent,
    )


class WorkerMetrics:
    """A fresh directory for the metrics of one set of API workers (prometheus_client's multiprocess
    mode), so /metrics on any worker counts the requests of all; nothing of an earlier run is counted."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="zm-metrics-"))  # under TMPDIR: /tmp is writable in the pods

    @property
    def environment(self) -> dict[str, str]:
        """The environment to start each worker with (before it imports prometheus_client)."""
        return {**os.environ, MULTIPROCESS_DIR_VARIABLE: str(self.path)}

    def exited(self, pid: int) -> None:
        """A worker has stopped: its live gauges (and its process metrics) are no longer reported."""
        mark_process_dead(pid, str(self.path))

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def stop_all(processes: Mapping[str, subprocess.Popen[bytes] | None], *, timeout_s: float = 15,
             said: Callable[[str], None] | None = None) -> None:
    """SIGTERM every process still running, then wait for each; one that has not stopped in
    `timeout_s` is killed. `said` hears the name of each once it has stopped."""
    for proc in processes.values():
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for name, proc in processes.items():
        if proc is None:
            continue
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if said is not None:
            said(name)


def wait_ready(processes: Mapping[str, tuple[subprocess.Popen[bytes] | None, str]], *, timeout_s: float,
               where_logged: Callable[[str], str] = lambda name: "its log") -> None:
    """Until each process (name → process and base URL) answers 200 on /readyz; NotReady when one
    exits meanwhile or `timeout_s` passes."""
    pending = set(processes)
    deadline = time.monotonic() + timeout_s
    while pending and time.monotonic() < deadline:
        for name in sorted(pending):
            proc, url = processes[name]
            if proc is not None and proc.poll() is not None:
                raise NotReady(Message("cli.exited_during_start", service=name, code=proc.returncode,
                                       log=where_logged(name)))
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    pending.discard(name)
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    if pending:
        raise NotReady(Message("cli.not_ready", seconds=timeout_s, services=", ".join(sorted(pending))))
