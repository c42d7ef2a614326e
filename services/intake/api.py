"""Intake HTTP routes: parse, authorize, call the service, shape the response."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request, status
from fastapi.responses import JSONResponse

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
from shared.observability import report_id_var
from shared.ratelimit import RateLimiter
from shared.web import RegionPrefix, UoW, authorized, get_runtime, problems

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


def created(submission: service.Submission) -> JSONResponse:
    body = ReportCreated(
        id=submission.report_id, receipt_code=submission.receipt_code, status=submission.status,
        flags=submission.flags, linked_report_ids=submission.linked_report_ids,
    )
    headers = {"Location": f"/v1/reports/{submission.report_id}"}
    if submission.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(body.model_dump(mode="json"), status_code=201, headers=headers)


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
    principal: Annotated[Principal, authorized("reports:submit")],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key", min_length=1, max_length=200,
                                                  pattern=r"^[\x21-\x7e]+$")] = None,
) -> JSONResponse:
    runtime = get_runtime(request)
    writer = submission_writer(request)
    new = service.prepare(cipher=runtime.cipher, calendar=runtime.calendar, rules=writer.rules, report_in=body,
                          principal=principal, idempotency_key=idempotency_key)
    # Stored together with whatever else arrives meanwhile; answered only after that commit.
    submission = await writer.submit(new)
    if not submission.replayed:
        report_id_var.set(submission.report_id)
    return created(submission)


def submission_writer(request: Request) -> SubmissionWriter:
    """The writer of this app's running runtime, made on first use (it lives in the event loop)."""
    runtime = get_runtime(request)
    made: tuple[object, SubmissionWriter] | None = getattr(request.app.state, "submission_writer", None)
    if made is None or made[0] is not runtime:
        writer = SubmissionWriter(runtime.uow, runtime.cipher, rules_from(runtime.settings))  # type: ignore[arg-type]
        made = request.app.state.submission_writer = (runtime, writer)
    return made[1]


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
