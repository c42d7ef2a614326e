"""Intake HTTP routes: parse, authorize, call the service, shape the response."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import Response
from pydantic import StringConstraints

from services.intake import conversation, custody, service
from services.intake.models import IdentityAccessRequest, Report
from services.intake.resources import Intake, IntakeResources
from services.intake.schemas import (
    AllegationOut,
    Channel,
    IdentityAccessRequestOut,
    IdentityAccessRequestPage,
    IdentityDecisionIn,
    IdentityRequestIn,
    ReceiptStatus,
    ReportCreated,
    ReporterIdentity,
    ReportIn,
    ReportOut,
    ReportPage,
    ReportStats,
    SubjectOut,
)
from services.intake.service import ReceiptNotFound, ReportNotFound
from services.intake.store import IdempotencyKeyReused
from shared.auth import Principal, RegionOutsideJurisdiction, ServiceCaller
from shared.errors import DatabaseUnavailable, InvalidRequest
from shared.fastroute import HeaderParam, fast_operation
from shared.logs import report_id_var
from shared.messages import Message
from shared.pagination import InvalidCursor
from shared.ratelimit import RateLimited
from shared.web import (
    RegionPrefix,
    RuntimeDep,
    ServiceApp,
    UoW,
    authorized,
    authorized_any,
    get_runtime,
    officer_or_service,
    problems,
)

router = APIRouter(prefix="/v1")


def report_out(report: Report, unread_messages: int = 0) -> ReportOut:
    return ReportOut(
        id=report.id,
        channel=report.channel,
        status=report.status,
        outcome=report.outcome,
        subject=SubjectOut(
            name=report.subject_name, position=report.subject_position,
            organization=report.subject_organization, region_code=report.region_code,
        ),
        allegations=[
            AllegationOut(id=a.id, category=a.category, summary=a.summary, occurred_on=a.occurred_on, place=a.place)
            for a in report.allegations
        ],
        anonymous=report.anonymous,
        flags=report.flags,
        linked_report_ids=report.linked_report_ids,
        acceptance_notice_due=report.acceptance_notice_due,
        acceptance_notice_at=report.acceptance_notice_at,
        unread_messages=unread_messages,
        external_ref=report.external_ref,
        received_at=report.received_at,
        concluded_at=report.concluded_at,
    )


SUBMIT_SCOPE = "reports:submit"
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]


@fast_operation(
    router, "POST", "/reports", body=ReportIn, scopes=(SUBMIT_SCOPE,),
    headers=(HeaderParam("idempotency_key", "Idempotency-Key", IdempotencyKey),),
    status_code=status.HTTP_201_CREATED,
    tags=["reports"],
    response_model=ReportCreated,
    responses=problems(IdempotencyKeyReused, DatabaseUnavailable),
    operation_id="submit_report",
    summary="Submit a report",
    description="Stores the report durably and answers 201 with its id and a receipt code (shown only here) "
    "after the commit; `report.submitted.v1` is published from the outbox. Near-duplicates and repeats "
    "are accepted and flagged. With an `Idempotency-Key` header, a retry with the same body within 24 h "
    "answers 201 again with the first id and receipt code (header `Idempotent-Replayed: true`) and "
    "stores nothing new; the same key with a different body is 422. 503 (with Retry-After) when the "
    "database cannot be reached: the report may not have been stored; retry with the same Idempotency-Key.",
)
async def submit_report(app: ServiceApp, principal: Principal, report_in: ReportIn,
                        idempotency_key: str | None) -> Response:
    """The submission once the caller, the body and the key are known, answered 201 only after the
    report is committed (together with whatever else arrives meanwhile)."""
    runtime, own = app.runtime, app.resources
    assert isinstance(own, IntakeResources)
    new = service.prepare(cipher=runtime.cipher, calendar=runtime.calendar, rules=own.writer.rules,
                          report_in=report_in, principal=principal, idempotency_key=idempotency_key)
    submission = await own.writer.submit(new)
    if not submission.replayed:
        report_id_var.set(submission.report_id)
    return created(submission)


def created(submission: service.Submission) -> Response:
    """The 201 answer, the same from both forms of the route."""
    body = ReportCreated(
        id=submission.report_id, receipt_code=submission.receipt_code, status=submission.status,
        flags=submission.flags, linked_report_ids=submission.linked_report_ids,
    )
    headers = {"Location": f"/v1/reports/{submission.report_id}"}
    if submission.replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(body.__pydantic_serializer__.to_json(body), status_code=201, media_type="application/json",
                    headers=headers)


@router.get(
    "/reports",
    tags=["reports"],
    response_model=ReportPage,
    responses=problems(InvalidCursor),
    operation_id="list_reports",
    summary="List reports in your jurisdiction",
    description="Oldest first by receipt time; follow `next_cursor` for the next page. "
    "`region` narrows within your jurisdiction; dates are China-local and inclusive.",
)
async def list_reports(
    uow: UoW,
    principal: Annotated[Principal, authorized("reports:read")],
    region: RegionPrefix = None,
    status_: Annotated[str | None, Query(alias="status", pattern=r"^(received|concluded)$")] = None,
    channel: Channel | None = None,
    received_from: Annotated[date | None, Query(description="YYYY-MM-DD, inclusive")] = None,
    received_to: Annotated[date | None, Query(description="YYYY-MM-DD, inclusive")] = None,
    flagged: Annotated[bool | None, Query(description="only flagged (true) or unflagged (false) reports")] = None,
    notice_overdue: Annotated[bool | None, Query(description="only reports whose acceptance notice is late: due "
                                                             "day passed in China time, not posted (true), or "
                                                             "the others (false)")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ReportPage:
    reports, next_cursor = await service.list_reports(
        uow=uow, principal=principal, region=region, status=status_, channel=channel.value if channel else None,
        received_from=received_from, received_to=received_to, flagged=flagged, cursor=cursor, limit=limit,
        notice_overdue=notice_overdue,
    )
    unread = await conversation.unread_counts(uow=uow, report_ids=[r.id for r in reports])
    return ReportPage(items=[report_out(r, unread.get(r.id, 0)) for r in reports], next_cursor=next_cursor)


@router.get(
    "/reports/{report_id}",
    tags=["reports"],
    response_model=ReportOut,
    responses=problems(ReportNotFound),
    operation_id="get_report",
    summary="Read one report in your jurisdiction",
)
async def get_report(
    report_id: Annotated[str, Path(max_length=36)], uow: UoW,
    principal: Annotated[Principal, authorized("reports:read")],
) -> ReportOut:
    report = await service.get(uow=uow, report_id=report_id, principal=principal)
    unread = await conversation.unread_counts(uow=uow, report_ids=[report.id])
    return report_out(report, unread.get(report.id, 0))


CUSTODY_RULES = (
    "A reporter's identity is released only (a) to the credit_blacklist service's own credential, for a report "
    "whose final, approved malicious verdict intake recorded from a verified (signed) `report.verified.v1`, and "
    "then only the name and ID number; or (b) to an officer with scope `reports:identity` through an "
    "identity-access request (`POST /v1/reports/{id}/identity-requests`) that a custodian (scope "
    "`identity:custody`, municipal level or higher, not the requester, serving the report's region) approved: "
    "once, within the time limit (24 hours by default). Every request, decision and release is audited. "
)


@router.get(
    "/reports/{report_id}/reporter",
    tags=["identity"],
    response_model=ReporterIdentity,
    responses=problems(ReportNotFound, custody.IdentityReleaseRefused, custody.IdentityReleaseDeferred,
                       InvalidRequest),
    operation_id="release_reporter_identity",
    summary="Release the reporter's identity under custody (audited)",
    description=CUSTODY_RULES + "An officer passes the approved `request_id`; a second read is 403 "
    "(`rule: request_released`), as is one without a request (`identity_request_required`), after expiry "
    "(`request_expired`) or by another officer (`not_the_requester`). credit_blacklist passes the `verdict_id` and "
    "`version` it lists for: 403 for any verdict that is not the recorded, approved malicious one; 409 "
    "`verdict_not_recorded` (intake has not applied it yet: retry) or `verdict_superseded`.",
)
async def get_reporter(
    report_id: Annotated[str, Path(max_length=36)],
    request: Request,
    uow: UoW,
    caller: Annotated[Principal | ServiceCaller,
                      officer_or_service("reports:identity", services=[custody.LISTING_CALLER])],
    request_id: Annotated[str | None, Query(max_length=36, description="an approved identity-access request "
                                                                       "of yours for this report")] = None,
    verdict_id: Annotated[str | None, Query(max_length=36, description="credit_blacklist: the verdict listed for")]
    = None,
    version: Annotated[int | None, Query(ge=1, le=1_000_000, description="credit_blacklist: its version")] = None,
) -> ReporterIdentity:
    cipher = get_runtime(request).cipher
    if isinstance(caller, ServiceCaller):
        if verdict_id is None or version is None:
            raise InvalidRequest(Message("intake.listing_names_verdict"), errors=[
                {"field": name, "message": Message("intake.required_for_listing"), "type": "missing"}
                for name, value in (("verdict_id", verdict_id), ("version", version)) if value is None])
        identity = await custody.release_for_listing(uow=uow, cipher=cipher, report_id=report_id,
                                                     verdict_id=verdict_id, version=version)
    else:
        identity = await custody.release_to_officer(uow=uow, cipher=cipher, principal=caller, report_id=report_id,
                                                    request_id=request_id)
    await uow.commit()
    return ReporterIdentity(**identity.__dict__)


# Who may look at identity-access requests: custodians and auditors all in their region, officers their own.
REQUEST_READERS = ("identity:custody", "audit:read", "reports:identity")


def access_request_out(row: IdentityAccessRequest) -> IdentityAccessRequestOut:
    return IdentityAccessRequestOut(
        id=row.id, report_id=row.report_id, region_code=row.region_code, status=custody.effective_status(row),
        requested_by=row.requested_by, requester_org_level=row.requester_org_level, reason=row.reason,
        requested_at=row.requested_at, decided_by=row.decided_by, decider_org_level=row.decider_org_level,
        decision_reason=row.decision_reason, decided_at=row.decided_at, expires_at=row.expires_at,
        released_at=row.released_at,
    )


@router.post(
    "/reports/{report_id}/identity-requests",
    tags=["identity"],
    status_code=status.HTTP_201_CREATED,
    response_model=IdentityAccessRequestOut,
    responses=problems(ReportNotFound),
    operation_id="file_identity_request",
    summary="Ask to read a reporter's identity (custody: a custodian decides)",
    description=CUSTODY_RULES,
)
async def file_identity_request(
    report_id: Annotated[str, Path(max_length=36)], body: IdentityRequestIn, uow: UoW,
    principal: Annotated[Principal, authorized("reports:identity")],
) -> IdentityAccessRequestOut:
    row = await custody.file_request(uow=uow, principal=principal, report_id=report_id, reason=body.reason)
    await uow.commit()
    return access_request_out(row)


@router.post(
    "/identity-requests/{request_id}/decision",
    tags=["identity"],
    response_model=IdentityAccessRequestOut,
    responses=problems(custody.AccessRequestNotFound, custody.AccessDecisionRefused, custody.AccessRequestDecided),
    operation_id="decide_identity_request",
    summary="Approve or refuse an identity-access request (custodian)",
    description="Scope `identity:custody`, organization level municipal or higher, serving the report's region, "
    "and not the officer who asked (403 with `rule`: `separation_of_duties` or `custodian_level`). An approved "
    "request lets its officer read the identity once before `expires_at`. 409 when already decided.",
)
async def decide_identity_request(
    request_id: Annotated[str, Path(max_length=36)], body: IdentityDecisionIn, request: Request, uow: UoW,
    principal: Annotated[Principal, authorized("identity:custody")], own: Intake,
) -> IdentityAccessRequestOut:
    row = await custody.decide(uow=uow, principal=principal, request_id=request_id,
                               approve=body.decision == "approved", reason=body.reason,
                               release_hours=own.settings.identity_release_hours)
    await uow.commit()
    return access_request_out(row)


@router.get(
    "/identity-requests",
    tags=["identity"],
    response_model=IdentityAccessRequestPage,
    responses=problems(InvalidCursor),
    operation_id="list_identity_requests",
    summary="List identity-access requests by report, officer and period",
    description="Custodians (`identity:custody`) and auditors (`audit:read`) see every request in their "
    "jurisdiction; an officer with `reports:identity` only their own. `officer` matches who filed or decided.",
)
async def list_identity_requests(
    uow: UoW,
    principal: Annotated[Principal, authorized_any(*REQUEST_READERS)],
    report_id: Annotated[str | None, Query(max_length=36)] = None,
    officer: Annotated[str | None, Query(max_length=200)] = None,
    status_: Annotated[str | None, Query(alias="status",
                                         pattern=r"^(pending|approved|refused|released|expired)$")] = None,
    requested_from: Annotated[date | None, Query(description="YYYY-MM-DD, China time, inclusive")] = None,
    requested_to: Annotated[date | None, Query(description="YYYY-MM-DD, China time, inclusive")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> IdentityAccessRequestPage:
    rows, next_cursor = await custody.list_requests(
        uow=uow, principal=principal, report_id=report_id, officer=officer, status=status_,
        requested_from=requested_from, requested_to=requested_to, cursor=cursor, limit=limit)
    return IdentityAccessRequestPage(items=[access_request_out(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/identity-requests/{request_id}",
    tags=["identity"],
    response_model=IdentityAccessRequestOut,
    responses=problems(custody.AccessRequestNotFound),
    operation_id="get_identity_request",
    summary="Read one identity-access request",
)
async def get_identity_request(
    request_id: Annotated[str, Path(max_length=36)], uow: UoW,
    principal: Annotated[Principal, authorized_any(*REQUEST_READERS)],
) -> IdentityAccessRequestOut:
    return access_request_out(await custody.get_request(uow=uow, principal=principal, request_id=request_id))


@router.get(
    "/receipts/{receipt_code}",
    tags=["public"],
    response_model=ReceiptStatus,
    responses=problems(ReceiptNotFound, RateLimited),
    operation_id="get_receipt_status",
    summary="Follow a report with its receipt code (no token)",
    description="Answers the status, the date received and, once concluded, the outcome class only. "
    "Rate limited (429 with Retry-After): per client, per code, and for lookups of codes that do not exist "
    "from all clients together. The client is the connecting address, or the one a configured trusted proxy "
    "names; a client's own X-Forwarded-For is never believed.",
)
async def get_receipt(
    receipt_code: Annotated[str, Path(max_length=64, examples=["7K3M-Q9TD-2HXA-V5NB"])],
    request: Request,
    uow: UoW,
    own: Intake,
) -> ReceiptStatus:
    with own.receipt_lookup(receipt_code, client=request.client.host if request.client else "unknown"):
        status_, received_on, outcome = await service.receipt_status(uow=uow, receipt_code=receipt_code)
    return ReceiptStatus(status=status_, received_on=received_on, outcome=outcome)


@router.get(
    "/stats",
    tags=["statistics"],
    response_model=ReportStats,
    responses=problems(RegionOutsideJurisdiction),
    operation_id="get_report_stats",
    summary="Report statistics by region and period",
)
async def get_stats(
    uow: UoW,
    runtime: RuntimeDep,
    principal: Annotated[Principal, authorized("reports:read")],
    region: RegionPrefix = None,
    received_from: date | None = None,
    received_to: date | None = None,
) -> ReportStats:
    return await service.stats(uow=uow, principal=principal, region=region, received_from=received_from,
                               received_to=received_to, calendar=runtime.calendar)
