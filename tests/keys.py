"""The services' signing keys and the audit MAC key of this test session, made once in memory:
tests sign events as the real producer would (`SERVICE_KEYS`), consumers check them against
`TRUST`, and the apps under test read the same keys from the session's data folder
(`write_service_keys`)."""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.audit import AuditKeys
from shared.events import PRODUCERS, SIGNING_SERVICES, EventData
from shared.signing import EventTrust, ServiceKey, trust_document

_PRIVATE = {service: Ed25519PrivateKey.generate() for service in SIGNING_SERVICES}
SERVICE_KEYS = {service: ServiceKey(service, key) for service, key in _PRIVATE.items()}
TRUST = EventTrust({service: [key.public_key] for service, key in SERVICE_KEYS.items()}, PRODUCERS)
_AUDIT_KEY = secrets.token_bytes(32)
AUDIT_KEYS = AuditKeys({"a1": _AUDIT_KEY}, "a1")  # the apps' too: written to the data folder below
# A key no one trusts: what an attacker on the network signs with.
STRANGER = ServiceKey("verification", Ed25519PrivateKey.generate())


def signer_of(data: EventData) -> ServiceKey:
    """The key of the service that produces `data`'s type (for an audit anchor: the one it is about)."""
    return SERVICE_KEYS[getattr(data, "service", None) or data.producer]


def write_service_keys(keys_dir: Path) -> None:
    """The same keys as files, where a service in development finds them, and the trust file."""
    for service, key in _PRIVATE.items():
        path = keys_dir / "services" / f"{service}.pem"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    (keys_dir / "audit-keys.json").write_text(
        json.dumps({"active": "a1", "keys": {"a1": base64.b64encode(_AUDIT_KEY).decode()}}))
    (keys_dir / "event-trust.json").write_text(
        trust_document({service: [key.public_pem()] for service, key in SERVICE_KEYS.items()}))
