"""The one normal form of a resident ID number. Intake and the blacklist must agree on it exactly,
or the blind indexes they compute for the same person would not match."""

from __future__ import annotations


def normalize_id_number(id_number: str) -> str:
    """Resident ID numbers compare upper-case without spaces (the check digit may be `x`)."""
    return id_number.strip().replace(" ", "").upper()
