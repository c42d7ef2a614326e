"""Verdicts, a stand-in for intake's identity release, time travel for stored entries, and the requests
the API tests make again and again."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select

from services.credit_blacklist import service
from services.credit_blacklist.identity import ReporterIdentity, ReportUnknown
from services.credit_blacklist.models import Entry
from shared.events import ReceivedEvent, ReportVerifiedV1
from tests.factories import NAMED_REPORTER_ID


def verdict(report_id: str = "r-1", *, verdict: str = "malicious", version: int = 1, severity: str | None = "ordinary",
            anonymous: bool = False, region_code: str = "330502", **overrides: Any) -> ReportVerifiedV1:
    malicious = verdict == "malicious"

    def ident(prefix: str) -> str:  # readable in tests, a uuid for real (36-character) report ids
        name = f"{prefix}-{report_id}-{version}"
        return name if len(name) <= 36 else str(uuid.uuid5(uuid.NAMESPACE_URL, name))

    return ReportVerifiedV1(
        report_id=report_id, case_id=ident("c"), verdict_id=ident("v"),
        version=version, verdict=verdict, malice_kind="false_accusation" if malicious else None,
        severity=severity if malicious else None, region_code=region_code, anonymous=anonymous,
        reporter_blind_index=None if anonymous else "ab" * 32, concluded_at=datetime.now(UTC),
        approver="dir-1" if malicious else None, approver_org_level="municipal" if malicious else None, **overrides,
    )


def received(event_id: str, data: ReportVerifiedV1) -> ReceivedEvent:
    return ReceivedEvent(id=event_id, type=data.event_type, source="/t", subject=data.report_id, time=None,
                         key=data.report_id, data=data)


class FakeIntake:
    """Answers identity requests from a table, and counts them."""

    def __init__(self) -> None:
        self.people: dict[str, ReporterIdentity] = {}
        self.calls: list[tuple[str, str]] = []

    def add(self, report_id: str, *, id_number: str = NAMED_REPORTER_ID, name: str = "李秀英",
            anonymous: bool = False) -> None:
        self.people[report_id] = ReporterIdentity(
            report_id=report_id, anonymous=anonymous, name=None if anonymous else name,
            id_number=None if anonymous else id_number, phone=None if anonymous else "13800138000",
            address=None if anonymous else "浙江省湖州市吴兴区某街道1号")

    async def reporter_identity(self, *, report_id: str, verdict_id: str, version: int) -> ReporterIdentity:
        self.calls.append((report_id, verdict_id))
        if report_id not in self.people:
            raise ReportUnknown(f"intake has no report {report_id}")
        return self.people[report_id]


async def age(sessions: Any, entry_id: str, days: int) -> None:
    """Move an entry `days` into the past, as if it had been listed that long ago."""
    back = timedelta(days=days)
    async with sessions() as s, s.begin():
        entry = await s.scalar(select(Entry).where(Entry.id == entry_id))
        entry.notified_at -= back
        entry.created_at -= back
        entry.objection_deadline -= back
        if entry.listed_from is not None:
            entry.listed_from -= back
            entry.listed_until -= back


# --- requests the API tests share ------------------------------------------------------------------

REPAIR_REASON = "当事人已向被反映人公开道歉并消除影响，最短公示期已满，申请信用修复。"
REVOCATION_REASON = "经复查，列入所依据的核查结论认定当事人身份有误，申请撤销该条失信记录。"
GRANT_REASON = "经审核，申请所述情况属实，材料齐全，同意该申请。"


async def check(desk: Any, id_number: str = NAMED_REPORTER_ID, headers: dict[str, str] | None = None) -> Any:
    """The check's answer for `id_number`, which must be 200."""
    r = await desk.client.post("/v1/checks", json={"id_number": id_number}, headers=headers or desk.checker)
    assert r.status_code == 200, r.text
    return r.json()


async def object_to(desk: Any, entry_id: str, **body: Any) -> httpx.Response:
    return await desk.client.post(f"/v1/entries/{entry_id}/objections",
                                  json={"grounds": "本人不服，举报时并不知情，请求复核。", **body}, headers=desk.writer)


async def decide(desk: Any, objection_id: str, decision: str, headers: dict[str, str] | None = None
                 ) -> httpx.Response:
    return await desk.client.post(f"/v1/objections/{objection_id}/decision",
                                  json={"decision": decision, "reason": "经复核，决定如上。"},
                                  headers=headers or desk.decider)


async def list_one(app: Any, report_id: str = "r-1", id_number: str = NAMED_REPORTER_ID, severity: str = "ordinary",
                   region: str = "330502") -> str:
    """A final malicious verdict applied by the running app (the reporter named through a stand-in
    intake): the entry it notifies."""
    intake = FakeIntake()
    intake.add(report_id, id_number=id_number)
    runtime = app.runtime
    async with runtime.uow() as uow:
        seen = await service.apply_verdict(uow=uow, verdict=verdict(report_id, severity=severity, region_code=region),
                                           identities=intake, cipher=runtime.cipher, calendar=runtime.calendar,
                                           rules=service.BlacklistRules())
        await uow.commit()
    assert seen.entry_id is not None
    return seen.entry_id
