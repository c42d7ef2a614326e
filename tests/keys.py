"""The services' signing keys for this test session, made once in memory: tests sign events as the
real producer would (`SERVICE_KEYS`), consumers check them against `TRUST`, and the apps under test
read the same keys from the session's data folder (`write_service_keys`)."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.events import PRODUCERS, EventData
from shared.signing import EventTrust, ServiceKey, trust_document

_PRIVATE = {service: Ed25519PrivateKey.generate() for service in sorted(set(PRODUCERS.values()))}
SERVICE_KEYS = {service: ServiceKey(service, key) for service, key in _PRIVATE.items()}
TRUST = EventTrust({service: [key.public_key] for service, key in SERVICE_KEYS.items()}, PRODUCERS)
# A key no one trusts: what an attacker on the network signs with.
STRANGER = ServiceKey("verification", Ed25519PrivateKey.generate())


def signer_of(data: EventData | type[EventData]) -> ServiceKey:
    """The key of the service that produces `data`'s type."""
    return SERVICE_KEYS[data.producer]


def write_service_keys(keys_dir: Path) -> None:
    """The same keys as files, where a service in development finds them, and the trust file."""
    for service, key in _PRIVATE.items():
        path = keys_dir / "services" / f"{service}.pem"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    (keys_dir / "event-trust.json").write_text(
        trust_document({service: [key.public_pem()] for service, key in SERVICE_KEYS.items()}))
