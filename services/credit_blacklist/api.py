"""credit_blacklist HTTP routes: parse, authorize, call the service, shape the response."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from services.credit_blacklist import domain, figures, lookup, objections, removals, service
from services.credit_blacklist.domain import EntryStatus, RemovalKind, Severity
from services.credit_blacklist.models import Entry, Objection, RemovalRequest
from services.credit_blacklist.objections import ObjectionAlreadyDecided, ObjectionNotFound, ObjectionRefused
from services.credit_blacklist.removals import (
    RemovalRequestDecided,
    RemovalRequestNotFound,
    RemovalRequestPending,
    RepairNotYetPossible,
    RevocationNotPossible,
)
from services.credit_blacklist.resources import BlacklistResources
from services.credit_blacklist.schemas import (
    BlacklistStats,
    CheckIn,
    CheckOut,
    DecisionIn,
    EntryOut,
    EntryPage,
    ObjectionIn,
    ObjectionOut,
    RemovalDecisionIn,
    RemovalRequestOut,
    RemovalRequestPage,
    RepairIn,
    RevocationIn,
    UnidentifiedCaseOut,
    UnidentifiedCasePage,
)
from services.credit_blacklist.service import DecisionRefused, EntryNotFound
from services.credit_blacklist.standing import standing
from shared.auth import Principal, RegionOutsideJurisdiction
from shared.calendar import china_date
from shared.crypto import FieldCipher
from shared.db import utcnow
from shared.errors import DatabaseUnavailable, InvalidRequest
from shared.fastroute import fast_operation
from shared.pagination import InvalidCursor
from shared.ratelimit import RateLimited
from shared.schemas import Reason as Sentence
from shared.web import RegionPrefix, ServiceApp, UoW, authorized, get_runtime, problems

router = APIRouter(prefix="/v1")
Reader = Annotated[Principal, authorized("blacklist:read")]
Writer = Annotated[Principal, authorized("blacklist:write")]
EXPORT_SCOPE = "blacklist:export"
Exporter = Annotated[Principal, authorized(EXPORT_SCOPE)]
EntryId = Annotated[str, Path(max_length=36)]
RequestId = Annotated[str, Path(max_length=36)]
Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=200)]
SEPARATION = ("403 `decision_refused` with `rule: separation_of_duties` when the decider is the officer who "
              "{asked}.")


def entry_out(entry: Entry, filed: list[Objection], requests: list[RemovalRequest], cipher: FieldCipher
              ) -> EntryOut:
    now = standing(entry)
    return EntryOut(
        id=entry.id, report_id=entry.report_id, case_id=entry.case_id, region_code=entry.region_code,
        status=now.status.value, severity=entry.severity, reason_code=entry.reason_code,
        legal_basis_ref=entry.legal_basis_ref, legal_basis_text=entry.legal_basis_text,
        repeat_offender=entry.repeat_offender, publication=entry.publication, period_months=entry.period_months,
        minimum_months=entry.minimum_months, period_basis=entry.period_basis,
        name=cipher.decrypt(entry.name_enc, column="entries.name_enc"),
        id_number_masked=domain.mask_id_number(cipher.decrypt(entry.id_number_enc, column="entries.id_number_enc")),
        notified_at=entry.notified_at, objection_deadline=entry.objection_deadline,
        listed_from=now.listed_from, listed_until=now.listed_until,
        repair_possible_from=domain.repair_possible_from(now, entry.minimum_months),
        removed_at=entry.removed_at, removal_reason=entry.removal_reason,
        objections=[ObjectionOut.model_validate(o) for o in filed],
        removal_requests=[RemovalRequestOut.model_validate(r) for r in requests],
        created_at=entry.created_at,
    )


async def entries_out(uow: UoW, request: Request, entries: list[Entry]) -> list[EntryOut]:
    ids = [e.id for e in entries]
    filed, requests = await objections.objections_of(uow, ids), await removals.requests_of(uow, ids)
    cipher = get_runtime(request).cipher
    return [entry_out(e, filed[e.id], requests[e.id], cipher) for e in entries]


async def respond(uow: UoW, request: Request, entry: Entry) -> EntryOut:
    return (await entries_out(uow, request, [entry]))[0]


# --- the check ------------------------------------------------------------------------------------


CHECK_SCOPE = "blacklist:check"


@fast_operation(
    router, "POST", "/checks", body=CheckIn, scopes=(CHECK_SCOPE,),
    tags=["check"], response_model=CheckOut, responses=problems(RateLimited, DatabaseUnavailable),
    operation_id="post_check",
    summary="Is this person listed?",
    description="Answers `listed`, the status and the last listed day for a resident ID number (checksum "
    "verified), through the blind index; never any other data about the person. Listed means `active` (and "
    "`notified` only where the service is configured so). Needs only `blacklist:check`; rate limited per "
    "client (429 with Retry-After). Nationwide: a listing is not limited to the checker's region.",
)
async def post_check(app: ServiceApp, principal: Principal, body: CheckIn) -> CheckOut:
    """The check once the caller and the ID number are known: the client's rate limit, then the lookup."""
    runtime, own = app.runtime, app.resources
    assert isinstance(own, BlacklistResources)
    own.check_limiter.check(principal.subject)
    return await lookup.check(reader=own.check_reader, cipher=runtime.cipher, id_number=body.id_number,
                              today=china_date(utcnow()), notified_counts=own.settings.check_lists_notified,
                              cache=own.check_cache)


# --- entries --------------------------------------------------------------------------------------


@router.get(
    "/entries", tags=["entries"], response_model=EntryPage, responses=problems(InvalidCursor),
    operation_id="list_entries",
    summary="List entries in your jurisdiction",
    description="Oldest first; follow `next_cursor`. `status` filters on the status today (a notice whose "
    "objection window closed counts as active even before the sweep writes it down).",
)
async def list_entries(
    uow: UoW, request: Request, principal: Reader,
    status: EntryStatus | None = None,
    severity: Severity | None = None,
    report_id: Annotated[str | None, Query(max_length=36)] = None,
    region: RegionPrefix = None,
    cursor: Cursor = None,
    limit: Limit = 50,
) -> EntryPage:
    entries, next_cursor = await lookup.list_entries(
        uow=uow, principal=principal, today=china_date(utcnow()), region=region, status=status,
        severity=severity.value if severity else None, report_id=report_id, cursor=cursor, limit=limit,
    )
    return EntryPage(items=await entries_out(uow, request, entries), next_cursor=next_cursor)


@router.get(
    "/entries/export", tags=["export"], responses={
        200: {"content": {"text/csv": {}, "application/json": {}},
              "description": "CSV (UTF-8 with BOM) or a JSON array; fields: " + ", ".join(lookup.EXPORT_FIELDS)},
    },
    operation_id="export_entries",
    summary="Export active entries for the social-credit system (scope blacklist:export, reason, audited)",
    description="Streams every entry active today in your jurisdiction whose publication is public (minor "
    "entries are internal and never exported). Each row carries the name and the full ID number, because the "
    "social-credit system must identify the person, and nothing else personal (no phone, no address). Needs "
    "the scope `blacklist:export` (reading entries is not enough) and a `reason`, a sentence of at least 15 "
    "letters or digits (422 naming `reason` otherwise). Every export is written to the audit trail with who "
    "asked, the scope, the reason, the count and the fields.",
)
async def export_entries(
    uow: UoW, request: Request, principal: Exporter,
    reason: Annotated[Sentence, Query(description="why the entries leave the service: a sentence",
                                      examples=["按月向社会信用信息平台报送本辖区公开的失信黑名单记录。"])],
    export_format: Annotated[Literal["csv", "json"], Query(
        alias="format", description="`csv` (CSV 表格，UTF-8 with BOM) or `json` (JSON 数组)")] = "csv",
) -> StreamingResponse:
    runtime = get_runtime(request)
    today = china_date(utcnow())
    count = await lookup.count_exportable(uow=uow, region=principal.region, today=today)
    export_id = str(uuid.uuid4())
    uow.record_audit(actor=principal.subject, action="entries.exported", object_type="export", object_id=export_id,
                     reason=reason, details={"scope": EXPORT_SCOPE, "format": export_format, "entries": count,
                                             "region": principal.region,
                                             "fields": list(lookup.EXPORT_FIELDS), "as_of": today.isoformat()})
    await uow.commit()
    rows = lookup.exported_entries(sessions=runtime.sessions, cipher=runtime.cipher, region=principal.region,
                                   today=today)
    body, media = (lookup.as_csv(rows), "text/csv; charset=utf-8") if export_format == "csv" else (
        lookup.as_json(rows), "application/json")
    filename = f"blacklist-active-{today:%Y%m%d}.{export_format}"
    return StreamingResponse(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "X-Export-Id": export_id,
        "X-Entry-Count": str(count), "Cache-Control": "no-store"})


@router.get("/entries/{entry_id}", tags=["entries"], response_model=EntryOut, responses=problems(EntryNotFound),
            operation_id="get_entry", summary="Read one entry")
async def get_entry(entry_id: EntryId, uow: UoW, request: Request, principal: Reader) -> EntryOut:
    return await respond(uow, request, await service.get(uow=uow, entry_id=entry_id, principal=principal))


@router.post(
    "/entries/{entry_id}/objections", tags=["objections"], response_model=ObjectionOut, status_code=201,
    responses=problems(EntryNotFound, ObjectionRefused, InvalidRequest), operation_id="file_objection",
    summary="Record the listed person's objection",
    description="While the entry is notified (inside its objection window) or active; one objection per entry. "
    "The entry is `under_review` (and not listed) until the objection is decided. 409 otherwise.",
)
async def post_objection(entry_id: EntryId, body: ObjectionIn, uow: UoW, principal: Writer) -> ObjectionOut:
    entry = await objections.entry_to_change(uow=uow, entry_id=entry_id, principal=principal)
    objection = await objections.file_objection(uow=uow, entry=entry, principal=principal, grounds=body.grounds,
                                             received_on=body.received_on)
    await uow.commit()
    return ObjectionOut.model_validate(objection)


@router.post(
    "/objections/{objection_id}/decision", tags=["objections"], response_model=EntryOut,
    responses=problems(ObjectionNotFound, DecisionRefused, ObjectionAlreadyDecided), operation_id="decide_objection",
    summary="Uphold or reject an objection (audited)",
    description="Upholding revokes the entry; rejecting returns it where it was (a notice whose window closed "
    "meanwhile becomes active from today). The reason is recorded and audited. 409 if already decided; "
    + SEPARATION.format(asked="recorded the objection"),
)
async def post_decision(
    objection_id: Annotated[str, Path(max_length=36)], body: DecisionIn, uow: UoW, request: Request,
    principal: Writer,
) -> EntryOut:
    objection, entry = await objections.get_objection(uow=uow, objection_id=objection_id, principal=principal)
    await objections.decide_objection(uow=uow, objection=objection, entry=entry, principal=principal,
                                   uphold=body.decision == "uphold", reason=body.reason)
    await uow.commit()
    return await respond(uow, request, entry)


# --- repair and revocation: one officer asks, another decides ---------------------------------------


async def ask(kind: RemovalKind, entry_id: str, reason: str, uow: UoW, principal: Principal) -> RemovalRequestOut:
    entry = await service.get(uow=uow, entry_id=entry_id, principal=principal, for_update=True)
    filed = await removals.request_removal(uow=uow, entry=entry, principal=principal, kind=kind, reason=reason)
    await uow.commit()
    return RemovalRequestOut.model_validate(filed)


@router.post(
    "/entries/{entry_id}/repair", tags=["repairs and revocations"], response_model=RemovalRequestOut,
    status_code=201, responses=problems(EntryNotFound, RepairNotYetPossible, RemovalRequestPending),
    operation_id="request_repair", summary="Request credit repair (audited)",
    description="Files a repair request with its reason (a sentence); another officer grants or refuses it at "
    "`POST /v1/repairs/{id}/decision`. Only for an active entry after its minimum period: earlier is 409 "
    "`repair_not_yet_possible` with `possible_from`, the first day repair may be granted. 409 "
    "`removal_request_pending` while another repair or revocation request for the entry awaits its decision.",
)
async def post_repair(entry_id: EntryId, body: RepairIn, uow: UoW, principal: Writer) -> RemovalRequestOut:
    return await ask(RemovalKind.repair, entry_id, body.reason, uow, principal)


@router.post(
    "/entries/{entry_id}/revocation", tags=["repairs and revocations"], response_model=RemovalRequestOut,
    status_code=201, responses=problems(EntryNotFound, RevocationNotPossible, RemovalRequestPending),
    operation_id="request_revocation", summary="Request revocation (audited)",
    description="Files a request to revoke the entry, with its reason (a sentence); another officer grants or "
    "refuses it at `POST /v1/revocations/{id}/decision`. Only for a notified or active entry (409 "
    "`revocation_not_possible` otherwise: under review, decide the objection; already removed). 409 "
    "`removal_request_pending` while another request for the entry awaits its decision.",
)
async def post_revocation(entry_id: EntryId, body: RevocationIn, uow: UoW, principal: Writer) -> RemovalRequestOut:
    return await ask(RemovalKind.revocation, entry_id, body.reason, uow, principal)


async def decide(kind: RemovalKind, request_id: str, body: RemovalDecisionIn, uow: UoW, request: Request,
                 principal: Principal) -> EntryOut:
    filed, entry = await removals.get_request(uow=uow, request_id=request_id, kind=kind, principal=principal)
    await removals.decide_removal(uow=uow, request=filed, entry=entry, principal=principal,
                                  grant=body.decision == "grant", reason=body.reason)
    await uow.commit()
    return await respond(uow, request, entry)


@router.post(
    "/repairs/{request_id}/decision", tags=["repairs and revocations"], response_model=EntryOut,
    responses=problems(RemovalRequestNotFound, DecisionRefused, RemovalRequestDecided, RepairNotYetPossible),
    operation_id="decide_repair", summary="Grant or refuse a repair request (audited)",
    description="Granting repairs the entry (`repaired`, removal published) if the minimum period is still "
    "over (409 `repair_not_yet_possible` otherwise); refusing leaves it listed. The reason is recorded and "
    "audited with the requester's. 409 if already decided; " + SEPARATION.format(asked="requested the repair"),
)
async def post_repair_decision(request_id: RequestId, body: RemovalDecisionIn, uow: UoW, request: Request,
                               principal: Writer) -> EntryOut:
    return await decide(RemovalKind.repair, request_id, body, uow, request, principal)


@router.post(
    "/revocations/{request_id}/decision", tags=["repairs and revocations"], response_model=EntryOut,
    responses=problems(RemovalRequestNotFound, DecisionRefused, RemovalRequestDecided, RevocationNotPossible),
    operation_id="decide_revocation", summary="Grant or refuse a revocation request (audited)",
    description="Granting revokes the entry (`revoked`, removal published with reason `revocation_granted`) if "
    "it is still notified or active (409 `revocation_not_possible` otherwise); refusing leaves it as it is. "
    "The reason is recorded and audited with the requester's. 409 if already decided; "
    + SEPARATION.format(asked="requested the revocation"),
)
async def post_revocation_decision(request_id: RequestId, body: RemovalDecisionIn, uow: UoW, request: Request,
                                   principal: Writer) -> EntryOut:
    return await decide(RemovalKind.revocation, request_id, body, uow, request, principal)


async def queue(kind: RemovalKind, uow: UoW, principal: Principal, status: str | None, cursor: str | None,
                limit: int) -> RemovalRequestPage:
    items, next_cursor = await removals.list_requests(uow=uow, principal=principal, kind=kind, status=status,
                                                      cursor=cursor, limit=limit)
    return RemovalRequestPage(items=[RemovalRequestOut.model_validate(r) for r in items], next_cursor=next_cursor)


RequestStatus = Annotated[Literal["pending", "granted", "refused"] | None, Query(
    description="`pending` (待决定): waiting for a decision (the deciders' queue); `granted` (已准予); "
                "`refused` (未准予)")]


@router.get("/repairs", tags=["repairs and revocations"], response_model=RemovalRequestPage,
            responses=problems(InvalidCursor), operation_id="list_repair_requests",
            summary="Repair requests in your jurisdiction",
            description="Oldest first; `status=pending` is the deciders' queue.")
async def list_repairs(uow: UoW, principal: Reader, status: RequestStatus = None, cursor: Cursor = None,
                       limit: Limit = 50) -> RemovalRequestPage:
    return await queue(RemovalKind.repair, uow, principal, status, cursor, limit)


@router.get("/revocations", tags=["repairs and revocations"], response_model=RemovalRequestPage,
            responses=problems(InvalidCursor), operation_id="list_revocation_requests",
            summary="Revocation requests in your jurisdiction",
            description="Oldest first; `status=pending` is the deciders' queue.")
async def list_revocations(uow: UoW, principal: Reader, status: RequestStatus = None, cursor: Cursor = None,
                           limit: Limit = 50) -> RemovalRequestPage:
    return await queue(RemovalKind.revocation, uow, principal, status, cursor, limit)


# --- figures ------------------------------------------------------------------------------------------


@router.get(
    "/stats", tags=["statistics"], response_model=BlacklistStats, responses=problems(RegionOutsideJurisdiction),
    operation_id="get_blacklist_stats",
    summary="The blacklist's figures for your jurisdiction and a period",
    description="Entries standing in each status today; and, over the China-local days `from`..`to` (both "
    "included, either open): listings by severity, expiries, repairs, revocations, objections upheld and "
    "rejected, and malicious cases with nobody to list (anonymous reporters).",
)
async def get_stats(
    uow: UoW, principal: Reader, region: RegionPrefix = None,
    period_from: Annotated[date | None, Query(alias="from")] = None,
    period_to: Annotated[date | None, Query(alias="to")] = None,
) -> BlacklistStats:
    return await figures.stats(uow=uow, principal=principal, region=region, first=period_from, last=period_to,
                               today=china_date(utcnow()))


@router.get(
    "/unidentified-cases", tags=["statistics"], response_model=UnidentifiedCasePage,
    responses=problems(RegionOutsideJurisdiction, InvalidCursor), operation_id="list_unidentified_cases",
    summary="Malicious cases with nobody to list",
    description="Final malicious verdicts whose reporter is anonymous: recorded and counted, never listed, and "
    "no identity is ever asked for. Oldest first; follow `next_cursor`.",
)
async def list_unidentified_cases(
    uow: UoW, principal: Reader, region: RegionPrefix = None, cursor: Cursor = None, limit: Limit = 50,
) -> UnidentifiedCasePage:
    rows, next_cursor = await figures.unidentified_cases(uow=uow, principal=principal, region=region, cursor=cursor,
                                                         limit=limit)
    return UnidentifiedCasePage(items=[UnidentifiedCaseOut.model_validate(r) for r in rows], next_cursor=next_cursor)
