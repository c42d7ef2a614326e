"""Every Kafka client of a service authenticates as configured: the options reach the relay's producer,
the consumer and topic creation, and a client set for SASL_SSL really opens TLS, trusting only the
configured CA. (The embedded broker cannot do SASL -- see deploy/README.md -- so the handshake is
checked against a TLS listener of the test's own.)"""

import asyncio
import contextlib
import datetime
import socket
import ssl
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from shared import broker, kafka_producer, kafka_source
from shared.broker import KafkaSecurity, free_port
from shared.kafka_admin import ensure_topics
from shared.kafka_source import KafkaSource
from shared.relay import OutboxRelay


@pytest.fixture
def sasl(tmp_path):
    (tmp_path / "password").write_text("s3cret-intake\n")
    return KafkaSecurity(protocol="SASL_SSL", username="intake", password_file=tmp_path / "password",
                         cafile=tmp_path / "ca.pem")


def test_plaintext_adds_nothing_and_sasl_ssl_names_the_principal_its_password_and_the_ca(sasl, tmp_path):
    assert KafkaSecurity().client_options() == {}
    assert sasl.client_options() == {
        "security_protocol": "SASL_SSL", "ssl_check_hostname": True, "ssl_cafile": str(tmp_path / "ca.pem"),
        "sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "intake", "sasl_plain_password": "s3cret-intake"}
    mtls = KafkaSecurity(protocol="SSL", cafile=tmp_path / "ca.pem", certfile=tmp_path / "c.pem",
                         keyfile=tmp_path / "k.pem").client_options()
    assert mtls["ssl_certfile"] == str(tmp_path / "c.pem") and "sasl_mechanism" not in mtls


def test_a_rotated_password_is_read_when_the_next_client_is_made(sasl, tmp_path):
    (tmp_path / "password").write_text("rotated")
    assert sasl.client_options()["sasl_plain_password"] == "rotated"


class Capture:
    def __init__(self):
        self.made: list[dict] = []

    def __call__(self, *args, **kwargs):
        self.made.append(kwargs)
        return self

    def subscribe(self, *args, **kwargs):
        pass


async def test_the_relay_the_consumer_and_topic_creation_all_use_the_security_settings(sasl, monkeypatch):
    producers, consumers, admins = Capture(), Capture(), Capture()
    monkeypatch.setattr(kafka_producer, "KafkaProducer", producers)
    monkeypatch.setattr(kafka_source, "KafkaConsumer", consumers)
    monkeypatch.setattr(kafka_source, "reachable", lambda bootstrap: True)
    monkeypatch.setattr(kafka_source, "ensure_topics", lambda *a, **kw: admins(**kw))
    OutboxRelay(None, bootstrap="kafka:9093", service="intake", security=sasl)._publisher._producer_sync()  # type: ignore[arg-type]
    KafkaSource(subscriber="intake", topic="reports.verified", bootstrap="kafka:9093", security=sasl)._open_sync()
    for made in (producers.made[0], consumers.made[0]):
        assert made["security_protocol"] == "SASL_SSL" and made["sasl_plain_username"] == "intake"
    assert admins.made[0]["security"] == sasl


def _certificates(tmp_path):
    """A CA and a certificate for `localhost` it signed; the CA as PEM, the server's pair as files."""
    def name(cn):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("zm test ca")).issuer_name(name("zm test ca"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder().subject_name(name("localhost")).issuer_name(ca.subject)
              .public_key(server_key.public_key()).serial_number(2)
              .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(hours=1))
              .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
              .sign(ca_key, hashes.SHA256()))
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "server.pem").write_bytes(server.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "server.key").write_bytes(server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))


def _tls_listener(tmp_path, port, seen: dict):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "server.pem", tmp_path / "server.key")
    listener = socket.create_server(("127.0.0.1", port))
    listener.settimeout(15)

    def serve():
        try:
            raw, _ = listener.accept()
            try:
                with context.wrap_socket(raw, server_side=True) as tls:
                    seen["tls"] = tls.version()
                    tls.settimeout(5)
                    seen["first_request"] = tls.recv(64)
            except (ssl.SSLError, OSError) as exc:
                seen["refused"] = type(exc).__name__
        except OSError:
            pass
        finally:
            listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("trusted_ca", [True, False])
async def test_a_sasl_ssl_client_speaks_kafka_only_inside_tls_with_the_configured_ca(tmp_path, trusted_ca):
    _certificates(tmp_path)
    if not trusted_ca:  # a CA the server's certificate was not signed by: the client must not talk
        other = tmp_path / "other"
        other.mkdir()
        _certificates(other)
        (tmp_path / "ca.pem").write_bytes((other / "ca.pem").read_bytes())
    (tmp_path / "password").write_text("pw")
    security = KafkaSecurity(protocol="SASL_SSL", username="intake", password_file=tmp_path / "password",
                             cafile=tmp_path / "ca.pem")
    port, seen = free_port(), {}
    thread = _tls_listener(tmp_path, port, seen)

    def client():
        with contextlib.suppress(Exception):  # the listener is no broker; only what reached it matters
            ensure_topics(f"localhost:{port}", ["t"], partitions=1, security=security)

    threading.Thread(target=client, daemon=True).start()
    await asyncio.to_thread(thread.join, 20)
    if trusted_ca:
        assert seen.get("tls", "").startswith("TLS")
        size, api_key = int.from_bytes(seen["first_request"][:4], "big"), seen["first_request"][4:6]
        assert 0 < size < 10_000 and api_key in (b"\x00\x12", b"\x00\x11")  # ApiVersions or SaslHandshake
    else:
        assert "tls" not in seen and "refused" in seen


def test_broker_module_keeps_plaintext_as_the_default_for_the_embedded_broker():
    assert broker.PLAINTEXT.protocol == "PLAINTEXT"
