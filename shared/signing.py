"""Each service's own Ed25519 key, the signatures it puts on its events, and the trust map consumers
check them against.

A message on the broker is never trusted because it is there: the producing service signs every
event when its unit of work writes it to the outbox (so a replay carries the same signature), and
every consumer checks, before anything is applied, that

1. the event's `source` is a service in the trust map (else `untrusted_source`),
2. that service is the producer of the event's `type` in the catalog (else `type_not_allowed`; a
   type every service publishes about itself, like `audit.anchored.v1`, must be about the signer),
3. the signature verifies under one of that service's public keys (else `signature_invalid`:
   unsigned, unknown key id, or a signature that does not match).

The scheme, for anyone who verifies outside this code (also in the AsyncAPI catalog):

* extension attributes `signature` (standard base64 of the 64-byte Ed25519 signature) and
  `signaturekeyid` (which key signed), in Kafka headers `ce_signature` and `ce_signaturekeyid`;
* the signed bytes are the UTF-8 lines
  `zhengming-event-signature/1`, `id=…`, `source=…`, `type=…`, `subject=…`, `time=…`,
  `datacontenttype=…`, each ended by a line feed, then one more line feed, then the data bytes
  exactly as they are in the message value. The attribute values are the header values as sent;
  an attribute that is missing or holds a line break is refused;
* a key id is `<service>-` followed by the first 16 hex digits of the SHA-256 of the raw 32-byte
  public key.

The same key signs the service's short-lived credential for calls to another service (see
`mint_service_credential`); the two message forms cannot be confused (a JWT's signed input holds no
line feed).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.crypto import create_exclusively
from shared.errors import Unauthorized
from shared.messages import Message, Term

SCHEME = b"zhengming-event-signature/1"
SIGNATURE_HEADER = "ce_signature"
KEY_ID_HEADER = "ce_signaturekeyid"
# The CloudEvents attributes a signature covers, and the Kafka header each travels in.
SIGNED_ATTRIBUTES: tuple[tuple[str, str], ...] = (
    ("id", "ce_id"), ("source", "ce_source"), ("type", "ce_type"), ("subject", "ce_subject"),
    ("time", "ce_time"), ("datacontenttype", "content-type"),
)
SOURCE_PREFIX = "/zhengming/"
SERVICE_CREDENTIAL_TYPE = "zm-service+jwt"
SERVICE_CREDENTIAL_MAX_TTL_S = 300


def source_of(service: str) -> str:
    """The CloudEvents `source` of a service's events."""
    return f"{SOURCE_PREFIX}{service}"


def key_id_of(service: str, public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return f"{service}-{hashlib.sha256(raw).hexdigest()[:16]}"


class UnsignableEvent(ValueError):
    """An attribute is missing or holds a line break: there is no canonical form to sign."""


def canonical_form(headers: Mapping[str, str | None], data: bytes) -> bytes:
    """The bytes a signature covers: the scheme line, the six attributes, a blank line, the data."""
    lines = [SCHEME]
    for name, header in SIGNED_ATTRIBUTES:
        value = headers.get(header)
        if value is None or "\n" in value or "\r" in value:
            raise UnsignableEvent(f"attribute {name} is missing or holds a line break")
        lines.append(f"{name}={value}".encode())
    return b"\n".join(lines) + b"\n\n" + data


class ServiceKey:
    """A service's own private key: signs its events and its calls to other services."""

    def __init__(self, service: str, private_key: Ed25519PrivateKey) -> None:
        self.service = service
        self._private = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id_of(service, self.public_key)

    @classmethod
    def from_file(cls, service: str, path: Path) -> ServiceKey:
        key = serialization.load_pem_private_key(path.read_bytes(), None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{path} is not an Ed25519 private key")
        return cls(service, key)

    @property
    def source(self) -> str:
        return source_of(self.service)

    def public_pem(self) -> str:
        return _public_pem(self.public_key)

    def sign_event(self, headers: Mapping[str, str], data: bytes) -> dict[str, str]:
        """`headers` with the signature and key id added (the event's own attributes unchanged)."""
        signature = self._private.sign(canonical_form(headers, data))
        return {**headers, SIGNATURE_HEADER: base64.b64encode(signature).decode(), KEY_ID_HEADER: self.key_id}

    def credential(self, *, audience: str, ttl_s: int = 120) -> str:
        """A short-lived bearer credential for a call to the service `audience`."""
        now = int(time.time())
        claims = {"iss": self.source, "sub": self.service, "aud": source_of(audience), "iat": now, "nbf": now,
                  "exp": now + min(ttl_s, SERVICE_CREDENTIAL_MAX_TTL_S), "jti": str(uuid.uuid4())}
        return jwt.encode(claims, self._private, algorithm="EdDSA",
                          headers={"kid": self.key_id, "typ": SERVICE_CREDENTIAL_TYPE})


class UntrustedEvent(Exception):
    """An event that fails the trust check; `reason` is one of the three reasons in the module doc."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class TrustedKey:
    service: str
    public_key: Ed25519PublicKey


class EventTrust:
    """Which service may produce which event types (`producers`, from the catalog), with which keys
    (several per service while a key is rotated)."""

    def __init__(self, public_keys: Mapping[str, Iterable[Ed25519PublicKey]], producers: Mapping[str, str]) -> None:
        self._keys: dict[str, TrustedKey] = {}
        self._services: set[str] = set()
        for service, keys in public_keys.items():
            self._services.add(service)
            for key in keys:
                self._keys[key_id_of(service, key)] = TrustedKey(service, key)
        self._producers = dict(producers)

    @classmethod
    def from_document(cls, document: Mapping[str, Sequence[str]], producers: Mapping[str, str]) -> EventTrust:
        keys: dict[str, list[Ed25519PublicKey]] = {}
        for service, pems in document.items():
            if not isinstance(pems, list) or not pems:
                raise ValueError(f"trust file: {service!r} needs a list of one or more PEM public keys")
            for pem in pems:
                key = serialization.load_pem_public_key(pem.encode())
                if not isinstance(key, Ed25519PublicKey):
                    raise ValueError(f"trust file: a key of {service!r} is not an Ed25519 public key")
                keys.setdefault(service, []).append(key)
        return cls(keys, producers)

    @classmethod
    def from_file(cls, path: Path, producers: Mapping[str, str]) -> EventTrust:
        document = json.loads(path.read_text())
        if not isinstance(document, dict):
            raise ValueError(f"{path}: a trust file maps each service to its PEM public keys")
        return cls.from_document(document, producers)

    @property
    def services(self) -> frozenset[str]:
        return frozenset(self._services)

    def key(self, key_id: str) -> TrustedKey | None:
        return self._keys.get(key_id)

    def check(self, headers: Mapping[str, bytes], data: bytes) -> str:
        """The producing service of an event, or UntrustedEvent saying why it is not to be applied."""
        text = {name: _text(value) for name, value in headers.items()}
        source, event_type = text.get("ce_source") or "", text.get("ce_type") or ""
        service = source.removeprefix(SOURCE_PREFIX) if source.startswith(SOURCE_PREFIX) else None
        if service is None or service not in self._services:
            raise UntrustedEvent("untrusted_source", f"source {source[:100]!r} is not a trusted service")
        if self._producers.get(event_type) not in (service, "*"):
            raise UntrustedEvent("type_not_allowed", f"{service} does not produce {event_type[:100]!r} events")
        signature, key_id = text.get(SIGNATURE_HEADER), text.get(KEY_ID_HEADER)
        if not signature or not key_id:
            raise UntrustedEvent("signature_invalid", "the event is not signed")
        trusted = self._keys.get(key_id)
        if trusted is None or trusted.service != service:
            raise UntrustedEvent("signature_invalid", f"key {key_id[:100]!r} is not a key of {service}")
        try:
            trusted.public_key.verify(base64.b64decode(signature, validate=True), canonical_form(text, data))
        except (InvalidSignature, UnsignableEvent, binascii.Error, ValueError) as exc:
            raise UntrustedEvent("signature_invalid", f"the signature does not match ({type(exc).__name__})") from exc
        return service

    def verify_credential(self, token: str, *, audience: str, callers: Iterable[str]) -> str:
        """The service behind a service credential addressed to `audience`, if it is one of `callers`
        and its signature, lifetime and claims hold; 401 otherwise."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized(Message("auth.credential_invalid", reason=token_fault(exc))) from exc
        trusted = self._keys.get(str(header.get("kid")))
        if trusted is None or trusted.service not in set(callers):
            raise Unauthorized(Message("auth.credential_unknown_key"))
        try:
            claims = jwt.decode(token, trusted.public_key, algorithms=["EdDSA"], audience=source_of(audience),
                                issuer=source_of(trusted.service), leeway=30,
                                options={"require": ["exp", "iat", "iss", "aud", "sub"]})
        except jwt.PyJWTError as exc:
            raise Unauthorized(Message("auth.credential_invalid", reason=token_fault(exc))) from exc
        if claims["sub"] != trusted.service or int(claims["exp"]) - int(claims["iat"]) > SERVICE_CREDENTIAL_MAX_TTL_S:
            raise Unauthorized(Message("auth.credential_misdirected"))
        return trusted.service


def token_fault(exc: Exception) -> Term:
    """Why a token or a service credential did not verify: PyJWT's sentence, which Chinese says by its kind."""
    return Term("token_fault", type(exc).__name__, str(exc))


def is_service_credential(token: str) -> bool:
    """Whether a bearer token presents itself as a service credential (to be checked as one)."""
    try:
        return jwt.get_unverified_header(token).get("typ") == SERVICE_CREDENTIAL_TYPE
    except jwt.PyJWTError:
        return False


def _text(value: bytes | str | None) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return value.decode("utf-8", "replace")


def _public_pem(key: Ed25519PublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


# --- key files -------------------------------------------------------------------------------------


def generate_service_key(private_path: Path) -> bool:
    """Write a new Ed25519 private key (PKCS#8 PEM, mode 600) unless one is there; True if written."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return create_exclusively(private_path, pem, mode=0o600)


def trust_document(public_pems: Mapping[str, Sequence[str]]) -> str:
    """The trust file: `{"<service>": ["<PEM public key>", ...], ...}` (JSON)."""
    return json.dumps({service: list(pems) for service, pems in sorted(public_pems.items())}, indent=2) + "\n"


def ensure_development_service_keys(keys_dir: Path, services: Iterable[str], *, allowed: bool) -> None:
    """In development, every service's key under `keys_dir/services/` and a trust file naming them all,
    made once by whichever process comes first (the files appear whole, never replaced)."""
    trust_path = keys_dir / "event-trust.json"
    if trust_path.exists():
        return
    if not allowed:
        raise RuntimeError(f"no event trust file at {trust_path}")
    pems: dict[str, list[str]] = {}
    for service in sorted(set(services)):
        path = keys_dir / "services" / f"{service}.pem"
        generate_service_key(path)
        pems[service] = [ServiceKey.from_file(service, path).public_pem()]
    create_exclusively(trust_path, trust_document(pems).encode(), mode=0o644)
