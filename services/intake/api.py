"""Intake HTTP routes: parse, authorize, call the service, shape the response."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response, status

from services.intake import service
from services.intake.models import Report
from services.intake.schemas import AllegationOut, ReportCreated, ReportIn, ReportOut, SubjectOut
from shared.auth import Principal
from shared.web import UoW, authorized, get_runtime, problems

router = APIRouter(prefix="/v1", tags=["reports"])


def report_out(report: Report) -> ReportOut:
    return ReportOut(
        id=report.id,
        channel=report.channel,
        status=report.status,
        subject=SubjectOut(
            name=report.subject_name, position=report.subject_position,
            organization=report.subject_organization, region_code=report.region_code,
        ),
        allegations=[
            AllegationOut(id=a.id, category=a.category, summary=a.summary, occurred_on=a.occurred_on, place=a.place)
            for a in report.allegations
        ],
        anonymous=report.anonymous,
        external_ref=report.external_ref,
        received_at=report.received_at,
    )


@router.post(
    "/reports",
    status_code=status.HTTP_201_CREATED,
    response_model=ReportCreated,
    responses=problems(401, 403, 413, 422),
    summary="Submit a report",
    description="Stores the report durably and returns its id and a receipt code (shown only here). "
    "`report.submitted.v1` is published from the outbox after the commit.",
)
async def submit_report(
    body: ReportIn,
    request: Request,
    response: Response,
    uow: UoW,
    _principal: Annotated[Principal, authorized("reports:submit")],
) -> ReportCreated:
    report, receipt_code = await service.submit(uow=uow, cipher=get_runtime(request).cipher, report_in=body)
    await uow.commit()
    response.headers["Location"] = f"/v1/reports/{report.id}"
    return ReportCreated(id=report.id, receipt_code=receipt_code, status=report.status)


@router.get(
    "/reports/{report_id}",
    response_model=ReportOut,
    responses=problems(401, 403, 404),
    summary="Read one report in your jurisdiction",
)
async def get_report(
    report_id: str, uow: UoW, principal: Annotated[Principal, authorized("reports:read")]
) -> ReportOut:
    return report_out(await service.get(uow=uow, report_id=report_id, principal=principal))
