"""report.submitted.v1 opens exactly one case per report, even from two different events."""

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from services.verification.models import Case
from shared.db import create_engine, session_factory
from shared.events import ReceivedEvent
from shared.uow import UnitOfWork
from tests.shared.test_events import submitted
from tests.verification.helpers import on_report_submitted


def received(event_id: str, report_id: str) -> ReceivedEvent:
    return ReceivedEvent(id=event_id, type="report.submitted.v1", source="/t", subject=report_id, time=None,
                         key=report_id, data=submitted(report_id))


async def test_a_case_opens_with_the_reports_allegations_and_region(new_database):
    engine = create_engine(await new_database("verification"))
    sessions = session_factory(engine)
    async with UnitOfWork(sessions, source="/t") as uow:
        await on_report_submitted(received("e-1", "r-1"), uow)
        await uow.commit()
    async with sessions() as s:
        case = await s.scalar(select(Case).options(selectinload(Case.allegations)))
    assert case.report_id == "r-1" and case.status == "open" and case.region_code == "330502"
    assert [a.allegation_id for a in case.allegations] == ["a-1"]
    assert case.reporter_blind_index == "ab" * 32
    await engine.dispose()


async def test_the_same_report_twice_opens_one_case(new_database):
    engine = create_engine(await new_database("verification"))
    sessions = session_factory(engine)
    for event_id in ("e-1", "e-2"):  # e.g. re-submitted by an outbox replay under a new event id
        async with UnitOfWork(sessions, source="/t") as uow:
            await on_report_submitted(received(event_id, "r-1"), uow)
            await uow.commit()
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Case)) == 1
    await engine.dispose()
