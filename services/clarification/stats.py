"""The figures an office reports: clarifications opened, consented, declined, completed and cancelled,
meetings held, bulletins issued and follow-ups done, by region and period."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import case as sql_case
from sqlalchemy import func, select

from services.clarification import typical_cases
from services.clarification.models import Clarification, Meeting
from services.clarification.schemas import ClarificationStats
from shared.auth import Principal
from shared.db import in_region
from shared.queries import within_days
from shared.uow import UnitOfWork


def _count_if(condition: Any) -> Any:
    return func.coalesce(func.sum(sql_case((condition, 1), else_=0)), 0)


async def stats(*, uow: UnitOfWork, principal: Principal, region: str | None, opened_from: date | None,
                opened_to: date | None) -> ClarificationStats:
    """The figures of clarifications opened in the period (China-time days, both ends included) in
    `region`, or the principal's whole jurisdiction."""
    effective = principal.within(region)
    conditions = [in_region(Clarification.region_code, effective),
                  *within_days(Clarification.opened_at, opened_from, opened_to)]
    opened, mandatory, consented, declined, completed, cancelled, follow_ups, bulletins = (
        await uow.session.execute(select(
            func.count(), _count_if(Clarification.mandatory.is_(True)), _count_if(Clarification.consent.is_(True)),
            _count_if(Clarification.outcome == "declined"), _count_if(Clarification.outcome == "completed"),
            _count_if(Clarification.outcome == "cancelled"), _count_if(Clarification.follow_up_done_on.is_not(None)),
            _count_if(Clarification.bulletin_issued_on.is_not(None)),
        ).where(*conditions))).one()
    held = int(await uow.session.scalar(
        select(func.count()).select_from(Meeting).join(Clarification, Clarification.id == Meeting.clarification_id)
        .where(*conditions, Meeting.status == "held")) or 0)
    return ClarificationStats(
        region=effective, opened_from=opened_from, opened_to=opened_to, opened=opened, mandatory=mandatory,
        consented=consented, declined=declined, completed=completed, cancelled=cancelled, meetings_held=held,
        bulletins_issued=bulletins, follow_ups_done=follow_ups,
        typical_case_bulletins=await typical_cases.count(uow=uow, region=effective, first=opened_from,
                                                         last=opened_to))
