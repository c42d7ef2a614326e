"""Intake HTTP routes: parse, authorize, call the service, shape the response."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import StringConstraints, TypeAdapter, ValidationError

from services.intake import service
from services.intake.models import Report
from services.intake.schemas import (
    AllegationOut,
    Channel,
    ReceiptStatus,
    ReportCreated,
    ReporterIdentity,
    ReportIn,
    ReportOut,
    ReportPage,
    ReportStats,
    SubjectOut,
)
from services.intake.settings import IntakeSettings
from services.intake.writer import SubmissionWriter
from shared.auth import Principal
from shared.observability import Receive, Scope, Send, report_id_var
from shared.ratelimit import RateLimiter
from shared.web import (
    RegionPrefix,
    Runtime,
    UoW,
    authorized,
    bearer_principal,
    get_runtime,
    header,
    json_document,
    problems,
    read_body,
    valid_json_body,
    validated_body,
)

router = APIRouter(prefix="/v1")


def rules_from(settings: IntakeSettings) -> service.IntakeRules:
    return service.IntakeRules(
        acceptance_notice_working_days=settings.acceptance_notice_working_days,
        duplicate_similarity=settings.duplicate_similarity,
        idempotency_retention=timedelta(hours=settings.idempotency_retention_hours),
    )


def report_out(report: Report) -> ReportOut:
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
        external_ref=report.external_ref,
        received_at=report.received_at,
        concluded_at=report.concluded_at,
    )


SUBMIT_SCOPE = "reports:submit"
IdempotencyKey = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")]
_idempotency_key: TypeAdapter[str] = TypeAdapter(IdempotencyKey)


def submission_writer(app: FastAPI) -> SubmissionWriter:
    """The writer of this app's running runtime, made on first use (it lives in the event loop)."""
    runtime: Runtime = app.state.runtime
    made: tuple[object, SubmissionWriter] | None = getattr(app.state, "submission_writer", None)
    if made is None or made[0] is not runtime:
        writer = SubmissionWriter(runtime.uow, runtime.cipher, rules_from(runtime.settings))  # type: ignore[arg-type]
        made = app.state.submission_writer = (runtime, writer)
    return made[1]


async def accept(app: FastAPI, principal: Principal, report_in: ReportIn, idempotency_key: str | None) -> Response:
    """The submission once the caller, the body and the key are known, answered 201 only after the
    report is committed (together with whatever else arrives meanwhile)."""
    runtime: Runtime = app.state.runtime
    writer = submission_writer(app)
    new = service.prepare(cipher=runtime.cipher, calendar=runtime.calendar, rules=writer.rules,
                          report_in=report_in, principal=principal, idempotency_key=idempotency_key)
    submission = await writer.submit(new)
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


@router.post(
    "/reports",
    tags=["reports"],
    status_code=status.HTTP_201_CREATED,
    response_model=ReportCreated,
    responses=problems(401, 403, 413, 422, 503),
    summary="Submit a report",
    description="Stores the report durably and answers 201 with its id and a receipt code (shown only here) "
    "after the commit; `report.submitted.v1` is published from the outbox. Near-duplicates and repeats "
    "are accepted and flagged. With an `Idempotency-Key` header, a retry with the same body within 24 h "
    "answers 201 again with the first id and receipt code (header `Idempotent-Replayed: true`) and "
    "stores nothing new; the same key with a different body is 422. 503 (with Retry-After) when the "
    "database cannot be reached: the report may not have been stored; retry with the same Idempotency-Key.",
)
async def submit_report(
    body: ReportIn,
    request: Request,
    principal: Annotated[Principal, authorized(SUBMIT_SCOPE)],
    idempotency_key: Annotated[IdempotencyKey | None, Header(alias="Idempotency-Key")] = None,
) -> Response:
    """The documented operation. The service answers it through `submit_directly` (registered as a
    direct route in app.py); this FastAPI form is the reference the direct one is tested against."""
    return await accept(request.app, principal, body, idempotency_key)


async def submit_directly(scope: Scope, receive: Receive, send: Send) -> None:
    """POST /v1/reports in plain ASGI: the same steps in the same order as FastAPI takes them for
    `submit_report` (JSON body, bearer token and scope, then the Idempotency-Key and the body
    validated together), without FastAPI's routing and dependency solving."""
    raw = await read_body(receive)
    body = valid_json_body(ReportIn, scope, raw)  # the usual case; a body at fault takes FastAPI's steps
    document = json_document(scope, raw) if body is None else None
    principal = bearer_principal(scope, SUBMIT_SCOPE)
    idempotency_key, errors = checked_idempotency_key(header(scope, b"idempotency-key"))
    if body is None:
        try:
            body = validated_body(ReportIn, document)
        except RequestValidationError as exc:
            raise RequestValidationError([*errors, *exc.errors()]) from exc
    if errors:
        raise RequestValidationError(errors)
    answer = await accept(scope["app"], principal, body, idempotency_key)
    await answer(scope, receive, send)


def checked_idempotency_key(value: bytes | None) -> tuple[str | None, list[dict[str, Any]]]:
    """The Idempotency-Key header as FastAPI reads it (None when absent), or the errors FastAPI
    reports for it, which it lists before the body's in the same 422."""
    if value is None:
        return None, []
    try:
        return _idempotency_key.validate_python(value.decode("latin-1"), from_attributes=True), []
    except ValidationError as exc:
        return None, [{**err, "loc": ("header", "Idempotency-Key", *err["loc"])}
                      for err in exc.errors(include_url=False)]


@router.get(
    "/reports",
    tags=["reports"],
    response_model=ReportPage,
    responses=problems(401, 403, 422),
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
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ReportPage:
    reports, next_cursor = await service.list_reports(
        uow=uow, principal=principal, region=region, status=status_, channel=channel.value if channel else None,
        received_from=received_from, received_to=received_to, flagged=flagged, cursor=cursor, limit=limit,
    )
    return ReportPage(items=[report_out(r) for r in reports], next_cursor=next_cursor)


@router.get(
    "/reports/{report_id}",
    tags=["reports"],
    response_model=ReportOut,
    responses=problems(401, 403, 404),
    summary="Read one report in your jurisdiction",
)
async def get_report(
    report_id: Annotated[str, Path(max_length=36)], uow: UoW,
    principal: Annotated[Principal, authorized("reports:read")],
) -> ReportOut:
    return report_out(await service.get(uow=uow, report_id=report_id, principal=principal))


@router.get(
    "/reports/{report_id}/reporter",
    tags=["identity"],
    response_model=ReporterIdentity,
    responses=problems(401, 403, 404, 422),
    summary="Release the reporter's identity (audited)",
    description="Needs scope `reports:identity`. Every release is written to the audit trail with who "
    "asked and the `reason` given. Meant for the credit blacklist after a final malicious verdict.",
)
async def get_reporter(
    report_id: Annotated[str, Path(max_length=36)],
    request: Request,
    uow: UoW,
    principal: Annotated[Principal, authorized("reports:identity")],
    reason: Annotated[str, Query(min_length=5, max_length=500, description="why the identity is needed",
                                 examples=["blacklist listing for case 7f3c…, final malicious verdict"])],
) -> ReporterIdentity:
    identity = await service.release_identity(
        uow=uow, cipher=get_runtime(request).cipher, principal=principal, report_id=report_id, reason=reason
    )
    await uow.commit()
    return ReporterIdentity(**identity.__dict__)


@router.get(
    "/receipts/{receipt_code}",
    tags=["public"],
    response_model=ReceiptStatus,
    responses=problems(404, 429),
    summary="Follow a report with its receipt code (no token)",
    description="Answers the status, the date received and, once concluded, the outcome class only. "
    "Rate limited per client (429 with Retry-After).",
)
async def get_receipt(
    receipt_code: Annotated[str, Path(max_length=64, examples=["7K3M-Q9TD-2HXA-V5NB"])],
    request: Request,
    uow: UoW,
) -> ReceiptStatus:
    limiter: RateLimiter = request.app.state.receipt_limiter
    limiter.check(request.client.host if request.client else "unknown")
    status_, received_on, outcome = await service.receipt_status(uow=uow, receipt_code=receipt_code)
    return ReceiptStatus(status=status_, received_on=received_on, outcome=outcome)


@router.get(
    "/stats",
    tags=["statistics"],
    response_model=ReportStats,
    responses=problems(401, 403, 422),
    summary="Report statistics by region and period",
)
async def get_stats(
    uow: UoW,
    principal: Annotated[Principal, authorized("reports:read")],
    region: RegionPrefix = None,
    received_from: date | None = None,
    received_to: date | None = None,
) -> ReportStats:
    s = await service.stats(uow=uow, principal=principal, region=region, received_from=received_from,
                            received_to=received_to)
    return ReportStats(
        region=s.region, received_from=received_from, received_to=received_to, received=s.received,
        by_channel=s.by_channel, by_status=s.by_status, by_outcome=s.by_outcome,
        anonymous_share=round(s.anonymous / s.received, 4) if s.received else 0.0,
        repeat_share=round(s.flagged / s.received, 4) if s.received else 0.0,
    )
