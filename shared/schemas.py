"""Base for request bodies: unknown fields rejected, and no NUL characters anywhere."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)

from shared.calendar import CHINA_TZ
from shared.messages import Message


def _contains_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple | set):
        return any(_contains_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_nul(k) or _contains_nul(v) for k, v in value.items())
    return False


class StrictModel(BaseModel):
    """Every request body model derives from this.

    NUL characters are refused here because PostgreSQL cannot store them in text: let through,
    they would fail deep in the database instead of as a clear 422 naming the field.
    """

    model_config = ConfigDict(extra="forbid", str_max_length=10_000)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul_characters(cls, value: Any) -> Any:
        if _contains_nul(value):
            raise ValueError(Message("value.nul_characters"))
        return value


def _plausible_moment(value: datetime) -> datetime:
    if not 1900 <= value.year <= 9998:
        raise ValueError(Message("value.year_range"))
    return value


# A point in time with its UTC offset, in a range every time zone can represent.
Moment = Annotated[AwareDatetime, AfterValidator(_plausible_moment)]


# A moment as the API answers it: China time with its offset (+08:00). Documented as a date-time (the
# serializer alone would say "a string"), so generated clients parse it as one.
ChinaTime = Annotated[AwareDatetime, PlainSerializer(lambda value: value.astimezone(CHINA_TZ).isoformat(),
                                                     return_type=str, when_used="json"),
                      WithJsonSchema({"type": "string", "format": "date-time"}, mode="serialization")]

REASON_MIN_CHARACTERS = 15
REASON_MIN_DISTINCT = 8


def _a_real_sentence(value: str) -> str:
    letters = [ch for ch in value if ch.isalnum()]
    if len(letters) < REASON_MIN_CHARACTERS or len(set(letters)) < REASON_MIN_DISTINCT:
        raise ValueError(Message("value.reason_sentence", minimum=REASON_MIN_CHARACTERS, distinct=REASON_MIN_DISTINCT))
    return value


# Why an officer asks for, or decides, something that touches a person: a real sentence, not a token.
Reason = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000), AfterValidator(_a_real_sentence)]
# A brief reason an officer records with a decision that a later reviewer reads (an approval, an
# objection's outcome); what touches a person beyond that takes a `Reason` sentence.
BriefReason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=5, max_length=2000)]
