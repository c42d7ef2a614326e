from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel


class CaseAllegationOut(BaseModel):
    allegation_id: str
    category: str
    summary: str
    occurred_on: date | None
    place: str | None


class CaseOut(BaseModel):
    """A verification case. The reporter is never shown here, only whether they were anonymous."""

    id: str
    report_id: str
    status: str
    region_code: str
    channel: str
    subject_name: str
    subject_position: str
    subject_organization: str
    anonymous: bool
    allegations: list[CaseAllegationOut]
    report_received_at: datetime
    opened_at: datetime


class CasePage(BaseModel):
    items: list[CaseOut]
    next_cursor: str | None
