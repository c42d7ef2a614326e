"""Protected fields: AES-GCM encryption at rest with key ids, and a keyed blind index."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = "v1"


class FieldCipher:
    """Encrypts one column value at a time.

    The stored form is `v1:<key id>:<nonce>:<ciphertext>`; the key id lets old values be read
    after the active key rotates, and the associated data (`table.column`) binds a ciphertext to
    its column so it cannot be pasted into another one.
    """

    def __init__(self, keys: dict[str, bytes], active_key_id: str, blind_index_key: bytes) -> None:
        if active_key_id not in keys:
            raise ValueError(f"active key {active_key_id!r} is not among the keys")
        if any(len(k) != 32 for k in keys.values()) or len(blind_index_key) < 32:
            raise ValueError("data keys must be 32 bytes and the blind-index key at least 32 bytes")
        self._keys = {kid: AESGCM(k) for kid, k in keys.items()}
        self._active = active_key_id
        self._blind_key = blind_index_key

    @classmethod
    def from_file(cls, path: Path) -> FieldCipher:
        doc = json.loads(path.read_text())
        return cls(
            {kid: base64.b64decode(k) for kid, k in doc["keys"].items()},
            doc["active"],
            base64.b64decode(doc["blind_index_key"]),
        )

    @staticmethod
    def generate_file(path: Path) -> bool:
        """Write fresh keys to `path` unless it exists. True if this call wrote them."""
        doc = {
            "active": "k1",
            "keys": {"k1": base64.b64encode(secrets.token_bytes(32)).decode()},
            "blind_index_key": base64.b64encode(secrets.token_bytes(32)).decode(),
        }
        return create_exclusively(path, json.dumps(doc).encode(), mode=0o600)

    def encrypt(self, plaintext: str, *, column: str) -> str:
        nonce = secrets.token_bytes(12)
        ct = self._keys[self._active].encrypt(nonce, plaintext.encode(), column.encode())
        b64 = base64.urlsafe_b64encode
        return f"{FORMAT_VERSION}:{self._active}:{b64(nonce).decode()}:{b64(ct).decode()}"

    def decrypt(self, stored: str, *, column: str) -> str:
        version, key_id, nonce, ct = stored.split(":", 3)
        if version != FORMAT_VERSION or key_id not in self._keys:
            raise ValueError(f"cannot decrypt a {version} value under key {key_id!r}")
        b64 = base64.urlsafe_b64decode
        return self._keys[key_id].decrypt(b64(nonce), b64(ct), column.encode()).decode()

    def blind_index(self, normalized_value: str) -> str:
        """Keyed hash for matching a person without storing or sending the value itself."""
        return hmac.new(self._blind_key, normalized_value.encode(), hashlib.sha256).hexdigest()


def create_exclusively(path: Path, content: bytes, *, mode: int) -> bool:
    """Create `path` with `content` atomically; never replace an existing file.

    The content is written to a private temporary file and hard-linked into place, so a reader
    sees either no file or the whole file. Returns False when `path` already existed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        return True
    finally:
        tmp.unlink(missing_ok=True)


def ensure_development_field_keys(path: Path, *, allowed: bool) -> None:
    if path.exists():
        return
    if not allowed:
        raise RuntimeError(f"no field encryption keys at {path}")
    FieldCipher.generate_file(path)
