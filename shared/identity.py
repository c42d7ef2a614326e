"""The one normal form of a resident ID number. Intake and the blacklist must agree on it exactly,
or the blind indexes they compute for the same person would not match."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, StringConstraints
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

from shared.messages import Message, Term


def normalize_id_number(id_number: str) -> str:
    """Resident ID numbers compare upper-case without spaces (the check digit may be `x`)."""
    return id_number.strip().replace(" ", "").upper()


def valid_resident_id(value: str) -> str:
    """`value` in its normal form when it is a valid resident ID number (18 characters, checksum
    verified); ValueError naming the fault otherwise, which Pydantic reports on the field."""
    try:
        return str(ric.validate(normalize_id_number(value)))
    except StdnumError as exc:
        raise ValueError(Message("value.resident_id", reason=Term("id_number_fault", type(exc).__name__, str(exc)))
                         ) from exc


# A request field holding a resident ID number: trimmed, at most 20 characters, checksum verified.
ResidentIdNumber = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20),
                             AfterValidator(valid_resident_id)]
