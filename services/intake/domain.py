"""Pure intake rules: receipt codes and the normal form of identity values. No I/O."""

from __future__ import annotations

import hashlib
import secrets

# Crockford's base32: no I, L, O or U, so a code read aloud or copied by hand is unambiguous.
RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECEIPT_LENGTH = 16  # 16 symbols x 5 bits = 80 bits of randomness
_LOOKALIKES = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_receipt_code() -> str:
    """A fresh receipt code, shown once to the reporter: `XXXX-XXXX-XXXX-XXXX`."""
    raw = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(RECEIPT_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, RECEIPT_LENGTH, 4))


def normalize_receipt_code(code: str) -> str:
    """Upper-case, drop separators and spaces, and read look-alike letters as the digits meant."""
    return code.upper().replace("-", "").replace(" ", "").translate(_LOOKALIKES)


def receipt_code_hash(code: str) -> str:
    # 80 random bits cannot be brute-forced, so a plain digest is enough to store.
    return hashlib.sha256(normalize_receipt_code(code).encode()).hexdigest()


def normalize_id_number(id_number: str) -> str:
    """Resident ID numbers compare upper-case without spaces (the check digit may be `x`)."""
    return id_number.strip().replace(" ", "").upper()
