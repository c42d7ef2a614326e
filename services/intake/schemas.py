"""Request and response bodies of the intake API."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

from services.intake.domain import normalize_id_number
from shared.schemas import StrictModel


class Channel(StrEnum):
    letter = "letter"
    visit = "visit"
    online = "online"
    phone = "phone"
    hotline_12388 = "hotline_12388"
    transferred = "transferred"


class Category(StrEnum):
    bribery = "bribery"
    embezzlement = "embezzlement"
    abuse_of_power = "abuse_of_power"
    dereliction = "dereliction"
    work_style = "work_style"
    discipline_violation = "discipline_violation"
    other = "other"


Text100 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Text200 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class SubjectIn(StrictModel):
    name: Text100
    position: Text100
    organization: Text200
    region_code: Annotated[str, Field(pattern=r"^[0-9]{6}$", description="6-digit administrative division code")]


class AllegationIn(StrictModel):
    category: Category
    summary: Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=5000)]
    occurred_on: date | None = None
    place: Text200 | None = None


class ReporterIn(StrictModel):
    anonymous: bool
    name: Text100 | None = None
    id_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = Field(
        default=None, description="Resident identity card number (18 characters, checksum verified)"
    )
    phone: Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9\- ]{5,20}$")] | None = None
    address: Text200 | None = None

    @field_validator("id_number")
    @classmethod
    def _valid_resident_id(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return str(ric.validate(normalize_id_number(value)))
        except StdnumError as exc:
            raise ValueError(f"not a valid resident ID number ({exc})") from exc

    @model_validator(mode="after")
    def _identity_matches_anonymity(self) -> Self:
        given = [f for f in ("name", "id_number", "phone", "address") if getattr(self, f) is not None]
        if self.anonymous and given:
            raise ValueError(f"an anonymous reporter gives no identity, but {', '.join(given)} was sent")
        if not self.anonymous and (self.name is None or self.id_number is None):
            raise ValueError("a named reporter needs name and id_number")
        return self


class ReportIn(StrictModel):
    channel: Channel
    subject: SubjectIn
    allegations: Annotated[list[AllegationIn], Field(min_length=1, max_length=20)]
    reporter: ReporterIn
    external_ref: Text100 | None = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "channel": "online",
                    "subject": {
                        "name": "王某某",
                        "position": "副局长",
                        "organization": "某县自然资源局",
                        "region_code": "330502",
                    },
                    "allegations": [
                        {
                            "category": "bribery",
                            "summary": "在土地出让过程中收受开发商礼金人民币十万元。",
                            "occurred_on": "2026-03-15",
                            "place": "某县城关镇",
                        }
                    ],
                    "reporter": {"anonymous": False, "name": "李某", "id_number": "11010519491231002X"},
                    "external_ref": "XF-2026-000123",
                }
            ]
        },
    )


class ReportCreated(BaseModel):
    id: str
    receipt_code: str = Field(description="Shown once; lets the reporter follow the report's status")
    status: str


class SubjectOut(BaseModel):
    name: str
    position: str
    organization: str
    region_code: str


class AllegationOut(BaseModel):
    id: str
    category: str
    summary: str
    occurred_on: date | None
    place: str | None


class ReportOut(BaseModel):
    """A report as officers see it: never the reporter's identity, only whether it is anonymous."""

    id: str
    channel: str
    status: str
    subject: SubjectOut
    allegations: list[AllegationOut]
    anonymous: bool
    external_ref: str | None
    received_at: datetime
