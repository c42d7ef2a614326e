"""Writes what deploy/compose.yaml mounts into one folder (deploy/make-dev-secrets.sh runs it, in the
image or in a checkout's venv). A key or password that exists is never replaced: field keys that
changed would leave stored identities unreadable, a new signing key would make every consumer refuse
the service's events, a new audit key would leave the service's audit chain unverifiable. Delete a
file to make it anew (deploy/README.md says what follows for each).

Derived files (the broker's JAAS file and the admin client's properties, both made from
kafka-admin-password) are written on every run, so they always match the password.

    python deploy/dev_secrets.py OUT
"""

from __future__ import annotations

import datetime
import json
import secrets
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.audit import AuditKeys
from shared.auth import generate_keypair
from shared.crypto import FieldCipher, create_exclusively
from shared.signing import ServiceKey, generate_service_key, trust_document

SERVICES = ("intake", "verification", "clarification", "credit_blacklist")
# The principal the setup jobs (topics, SCRAM users, ACLs) and the broker itself use: a super user.
ADMIN = "admin"
# Names the broker certificate is valid for: the compose host name every client dials, and
# localhost for tools run inside the broker's container.
BROKER_NAMES = ("kafka", "localhost")
CA_DAYS = 10 * 365
BROKER_CERT_DAYS = 825  # renew: delete kafka-broker.p12 and run again, then restart kafka


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    if generate_keypair(out / "jwt-private.pem", out / "jwt-public.pem"):
        say("jwt-private.pem, jwt-public.pem (Ed25519; the private key is mounted nowhere)")
    if FieldCipher.generate_file(out / "field-keys.json"):
        say("field-keys.json")
    for name in ("postgres", *(f"pg-{s}" for s in SERVICES), f"kafka-{ADMIN}", *(f"kafka-{s}" for s in SERVICES)):
        # hex: safe inside a database URL and inside kafka-configs' SCRAM-SHA-512=[password=...]
        if create_exclusively(out / f"{name}-password", secrets.token_hex(24).encode(), mode=0o600):
            say(f"{name}-password")
    signing_keys(out)
    for service in SERVICES:
        # Each service its own: one service's key must not let it (or whoever holds it) rechain
        # another's audit trail.
        if AuditKeys.generate_file(out / f"audit-keys-{service}.json"):
            say(f"audit-keys-{service}.json (HMAC-SHA-256, MACs {service}'s audit chain)")
    kafka_tls(out)
    kafka_admin_files(out)


def say(what: str) -> None:
    print(f"wrote {what}", flush=True)


def signing_keys(out: Path) -> None:
    """Each service's own Ed25519 key, and the trust file every consumer checks signatures with.
    A service whose key file is new gets its public key added to the trust file beside the ones
    already there: events signed with an old key may still be replayed from an outbox with their
    original signature, so an old key leaves the trust file by hand, once none can be (README)."""
    for service in SERVICES:
        if generate_service_key(out / f"signing-{service}.pem"):
            say(f"signing-{service}.pem (Ed25519, signs the events {service} produces)")
    trust_path = out / "event-trust.json"
    document: dict[str, list[str]] = json.loads(trust_path.read_text()) if trust_path.exists() else {}
    changed = not trust_path.exists()
    for service in SERVICES:
        pem = ServiceKey.from_file(service, out / f"signing-{service}.pem").public_pem()
        keys = document.setdefault(service, [])
        if pem not in keys:
            keys.append(pem)
            changed = True
    if changed:
        tmp = trust_path.with_name(f".{trust_path.name}.tmp")
        tmp.write_text(trust_document(document))
        tmp.replace(trust_path)
        say("event-trust.json (the public signing keys of every service)")


def kafka_tls(out: Path) -> None:
    """A CA of its own and the broker's certificate, signed by it, in a PKCS12 keystore (what the
    apache/kafka image's start script expects, with its password in a file). Clients verify the
    broker with kafka-ca.pem. A new CA always gets a new broker keystore."""
    ca_key_path, ca_path = out / "kafka-ca-key.pem", out / "kafka-ca.pem"
    now = datetime.datetime.now(datetime.UTC)
    new_ca = not ca_path.exists()
    if new_ca:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Zhengming development Kafka CA")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(key_cert_sign=True, crl_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        # The CA key stays in the folder (to sign a renewed broker certificate) and is mounted nowhere.
        create_exclusively(ca_key_path, ca_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()), mode=0o600)
        create_exclusively(ca_path, ca.public_bytes(serialization.Encoding.PEM), mode=0o644)
        say("kafka-ca.pem, kafka-ca-key.pem (the CA the broker certificate is checked against)")
    ca = x509.load_pem_x509_certificate(ca_path.read_bytes())
    ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)

    password_path = out / "kafka-broker-keystore-password"
    create_exclusively(password_path, secrets.token_hex(24).encode(), mode=0o600)
    keystore_path = out / "kafka-broker.p12"
    if keystore_path.exists() and not new_ca:
        return
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, BROKER_NAMES[0])]))
        .issuer_name(ca.subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=BROKER_CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                       critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in BROKER_NAMES]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    # PBES2 (AES-256, SHA-256 MAC), which the broker's Java 21 reads; the same password guards the
    # keystore and the key in it (the image reads both from this one file).
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(100_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(password_path.read_text().strip().encode())
    )
    tmp = keystore_path.with_name(f".{keystore_path.name}.tmp")
    tmp.write_bytes(pkcs12.serialize_key_and_certificates(b"kafka", key, cert, [ca], encryption))
    tmp.chmod(0o600)
    tmp.replace(keystore_path)
    say(f"kafka-broker.p12 (certificate for {', '.join(BROKER_NAMES)}, valid {BROKER_CERT_DAYS} days)")


def _key_usage(**usages: bool) -> x509.KeyUsage:
    names = ("digital_signature", "content_commitment", "key_encipherment", "data_encipherment", "key_agreement",
             "key_cert_sign", "crl_sign", "encipher_only", "decipher_only")
    return x509.KeyUsage(**{name: usages.get(name, False) for name in names})


def kafka_admin_files(out: Path) -> None:
    """The broker's JAAS file and the admin client's properties, from kafka-admin-password.

    The admin is the one principal the broker knows without the cluster's metadata: a PLAIN user of
    its JAAS file, over TLS. The services' SCRAM-SHA-512 credentials live in the metadata and are
    made by a job that must log in first (the kafka-users job, as this admin); the apache/kafka image
    formats its storage without `--add-scram`, and KRaft's controller listener cannot use SCRAM."""
    password = (out / f"kafka-{ADMIN}-password").read_text().strip()
    jaas = (
        "// Written by deploy/make-dev-secrets.sh from kafka-admin-password: the admin principal (PLAIN,\n"
        "// over TLS or on the broker's loopback controller listener) and the SCRAM server module.\n"
        "KafkaServer {\n"
        "    org.apache.kafka.common.security.plain.PlainLoginModule required\n"
        f'    username="{ADMIN}"\n'
        f'    password="{password}"\n'
        f'    user_{ADMIN}="{password}";\n'
        "    org.apache.kafka.common.security.scram.ScramLoginModule required;\n"
        "};\n"
    )
    client = (
        "# Written by deploy/make-dev-secrets.sh: how the setup jobs and the health check log in.\n"
        "security.protocol=SASL_SSL\n"
        "sasl.mechanism=PLAIN\n"
        "sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'username="{ADMIN}" password="{password}";\n'
        "ssl.truststore.type=PEM\n"
        "ssl.truststore.location=/run/secrets/kafka_ca\n"
    )
    for name, text in (("kafka-server-jaas.conf", jaas), ("kafka-admin.properties", client)):
        path = out / name
        if not path.exists() or path.read_text() != text:
            tmp = path.with_name(f".{name}.tmp")
            tmp.write_text(text)
            tmp.chmod(0o600)
            tmp.replace(path)
            say(name)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
