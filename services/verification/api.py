from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.verification import service
from services.verification.domain import CaseStatus
from services.verification.models import Case
from services.verification.schemas import CaseAllegationOut, CaseOut, CasePage
from shared.auth import Principal
from shared.web import UoW, authorized, problems

router = APIRouter(prefix="/v1", tags=["cases"])
Reader = Annotated[Principal, authorized("verification:read")]


def case_out(case: Case) -> CaseOut:
    return CaseOut(
        id=case.id, report_id=case.report_id, status=case.status, region_code=case.region_code,
        channel=case.channel, subject_name=case.subject_name, subject_position=case.subject_position,
        subject_organization=case.subject_organization, anonymous=case.anonymous,
        allegations=[
            CaseAllegationOut(allegation_id=a.allegation_id, category=a.category, summary=a.summary,
                              occurred_on=a.occurred_on, place=a.place)
            for a in case.allegations
        ],
        report_received_at=case.report_received_at, opened_at=case.opened_at,
    )


@router.get("/cases", response_model=CasePage, responses=problems(401, 403, 422),
            summary="List cases in your jurisdiction")
async def list_cases(
    uow: UoW,
    principal: Reader,
    report_id: Annotated[str | None, Query(max_length=36)] = None,
    status: CaseStatus | None = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CasePage:
    cases, next_cursor = await service.list_cases(
        uow=uow, principal=principal, report_id=report_id, status=status.value if status else None,
        cursor=cursor, limit=limit,
    )
    return CasePage(items=[case_out(c) for c in cases], next_cursor=next_cursor)


@router.get("/cases/{case_id}", response_model=CaseOut, responses=problems(401, 403, 404),
            summary="Read one case")
async def get_case(case_id: str, uow: UoW, principal: Reader) -> CaseOut:
    return case_out(await service.get(uow=uow, case_id=case_id, principal=principal))
