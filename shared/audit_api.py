"""The audit routes every service has: verify the chain, list its records, and hand out the anchors of
other services' chains this one keeps."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from shared import anchors
from shared.audit import verify_chain
from shared.auth import Principal, ServiceCaller
from shared.calendar import local_day_bounds
from shared.events import SIGNING_SERVICES
from shared.models import AuditRecord
from shared.pagination import InvalidCursor, decode_cursor, encode_cursor
from shared.schemas import ChinaTime
from shared.web import RuntimeDep, UoW, authorized, officer_or_service, problems

router = APIRouter(tags=["operations"])


class AnchorCheck(BaseModel):
    held_by: str
    anchors: int = Field(description="how many heads of this chain that service kept")
    newest_seq: int
    status: str = Field(description="ok, or the first of truncated: … / rewritten: …")


class AuditChainReport(BaseModel):
    valid: bool
    records_checked: int
    first_broken_seq: int | None = None
    problem: str | None = Field(None, description="the first break: a missing or altered record, a record "
                                                  "MACed with an unknown key, a cut-off tail or a rechained one")
    last_seq: int = 0
    anchors: list[AnchorCheck] = Field(default_factory=list,
                                       description="the heads of this chain each other service kept, checked")
    anchor_sources: dict[str, str] = Field(default_factory=dict, description="how asking each other service went")
    truncation_checked: bool = Field(False, description="whether at least one other service's anchors were "
                                                        "checked: without them a cut-off tail cannot be seen")


@router.get(
    "/v1/audit/verify", response_model=AuditChainReport, operation_id="verify_audit_chain",
    summary="Walk the audit chain, and hold it against the anchors the other services kept",
    description="Checks every record's keyed MAC and its link to the one before, then asks the other services "
    "for the newest head of this chain they received (`audit.anchored.v1`): a chain that ends before an anchored "
    "sequence number was cut off, an anchored record whose MAC differs was rewritten and rechained.",
)
async def audit_verify(
    uow: UoW, runtime: RuntimeDep, _principal: Annotated[Principal, authorized("audit:read")]
) -> AuditChainReport:
    held, sources = await anchors.anchors_held_elsewhere(runtime)
    report = await verify_chain(uow.session, runtime.audit_keys, anchors=held)
    return AuditChainReport(valid=report.valid, records_checked=report.records_checked,
                            first_broken_seq=report.first_broken_seq, problem=report.problem,
                            last_seq=report.last_seq, anchors=[AnchorCheck(**a) for a in report.anchors_checked],
                            anchor_sources=sources, truncation_checked=any(v == "ok" for v in sources.values()))


class AuditRecordOut(BaseModel):
    seq: int
    at: ChinaTime
    actor: str
    action: str
    object_type: str
    object_id: str
    reason: str | None
    details: dict[str, Any]


class AuditRecordPage(BaseModel):
    items: list[AuditRecordOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


@router.get(
    "/v1/audit/records", response_model=AuditRecordPage, responses=problems(InvalidCursor),
    operation_id="list_audit_records",
    summary="List audit records: who did what, when and why",
    description="Oldest first. E.g. every identity release: `action=reporter.identity_released`; one officer's "
    "acts: `actor=…`; what happened to one report: `object_id=…`. Dates are China-local and inclusive.",
)
async def audit_records(
    uow: UoW,
    _principal: Annotated[Principal, authorized("audit:read")],
    action: Annotated[str | None, Query(max_length=100)] = None,
    actor: Annotated[str | None, Query(max_length=200)] = None,
    object_type: Annotated[str | None, Query(max_length=100)] = None,
    object_id: Annotated[str | None, Query(max_length=100)] = None,
    at_from: Annotated[date | None, Query(description="YYYY-MM-DD, China time, inclusive")] = None,
    at_to: Annotated[date | None, Query(description="YYYY-MM-DD, China time, inclusive")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> AuditRecordPage:
    stmt = select(AuditRecord).order_by(AuditRecord.seq).limit(limit + 1)
    for column, value in ((AuditRecord.action, action), (AuditRecord.actor, actor),
                          (AuditRecord.object_type, object_type), (AuditRecord.object_id, object_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    start, end = local_day_bounds(at_from, at_to)
    if start is not None:
        stmt = stmt.where(AuditRecord.at >= start)
    if end is not None:
        stmt = stmt.where(AuditRecord.at < end)
    if cursor is not None:
        _, after = decode_cursor(cursor)
        if not after.isdigit() or len(after) > 18:
            raise InvalidCursor.not_ours()
        stmt = stmt.where(AuditRecord.seq > int(after))
    rows = list((await uow.session.scalars(stmt)).all())
    page, more = rows[:limit], len(rows) > limit
    return AuditRecordPage(
        items=[AuditRecordOut(seq=r.seq, at=r.at, actor=r.actor, action=r.action, object_type=r.object_type,
                              object_id=r.object_id, reason=r.reason, details=r.details) for r in page],
        next_cursor=encode_cursor(page[-1].at, str(page[-1].seq)) if more else None,
    )


@router.get(
    "/v1/audit/anchors/{service}", response_model=anchors.HeldAnchorPage, operation_id="list_held_anchors",
    summary="The heads of another service's audit chain that this service kept",
    description="Oldest first, each (sequence number, MAC) once; follow `next_after_seq`. For an auditor "
    "(`audit:read`) and for the other services checking their own chain (with their own signed credential).",
)
async def anchors_held(
    service: Annotated[str, Path(max_length=100)], uow: UoW,
    _caller: Annotated[Principal | ServiceCaller, officer_or_service("audit:read", services=SIGNING_SERVICES)],
    after_seq: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> anchors.HeldAnchorPage:
    held = await anchors.anchors_of(uow, service, after_seq=after_seq, limit=limit + 1)
    page = held[:limit]
    return anchors.HeldAnchorPage(
        service=service, items=[anchors.HeldAnchor(seq=seq, head_mac=mac) for seq, mac in page],
        next_after_seq=page[-1][0] if len(held) > limit else None)
