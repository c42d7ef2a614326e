"""report.submitted.v1 opens exactly one case per report, even from two different events."""

from dataclasses import replace

from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from services.verification.models import Case
from shared.events import SubjectV1
from shared.uow import UnitOfWork
from tests.factories import submitted
from tests.keys import AUDIT_KEYS
from tests.verification.helpers import on_report_submitted, on_reports_submitted, received


async def test_a_case_opens_with_the_reports_allegations_and_region(new_database, sessions_for):
    sessions = sessions_for(await new_database("verification"))
    async with UnitOfWork(sessions, source="/t", audit_keys=AUDIT_KEYS) as uow:
        await on_report_submitted(received("e-1", "r-1"), uow)
        await uow.commit()
    async with sessions() as s:
        case = await s.scalar(select(Case).options(selectinload(Case.allegations)))
    assert case.report_id == "r-1" and case.status == "open" and case.region_code == "330502"
    assert [a.allegation_id for a in case.allegations] == ["a-1"]
    assert case.reporter_blind_index == "ab" * 32


async def test_the_same_report_twice_opens_one_case(new_database, sessions_for):
    sessions = sessions_for(await new_database("verification"))
    for event_id in ("e-1", "e-2"):  # e.g. re-submitted by an outbox replay under a new event id
        async with UnitOfWork(sessions, source="/t", audit_keys=AUDIT_KEYS) as uow:
            await on_report_submitted(received(event_id, "r-1"), uow)
            await uow.commit()
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Case)) == 1


async def test_reports_opened_together_are_triaged_as_if_one_after_the_other(new_database, sessions_for):
    """The consumer hands a poll's events to `handle_many` in one unit of work: each case must come
    out as the per-event handler makes it, counting the same reporter's cases opened earlier in the
    same batch, and a report seen twice still has one case."""

    def report(report_id, subject, blind_index="ab" * 32, linked=()):
        data = submitted(report_id).model_copy(update={
            "subject": SubjectV1(name=subject, position="局长", organization="某局", region_code="330502"),
            "reporter_blind_index": blind_index, "anonymous": blind_index is None, "linked_report_ids": list(linked)})
        return replace(received(f"e-{report_id}-{subject}", report_id), data=data)

    earlier = report("r-0", "王建国")
    batch = [report("r-1", "李四", linked=["r-0"]), report("r-2", "张三"), report("r-3", "赵六", blind_index=None),
             report("r-1", "李四", linked=["r-0"]), report("r-4", "钱七", blind_index="cd" * 32),
             report("r-5", "孙八", linked=["r-2"])]
    opened = []
    for together in (False, True):
        sessions = sessions_for(await new_database("verification"))
        async with UnitOfWork(sessions, source="/t", audit_keys=AUDIT_KEYS) as uow:  # one case before: concluded untrue
            await on_report_submitted(earlier, uow)
            await uow.session.execute(update(Case).values(status="final", verdict="untrue"))
            await uow.commit()
        if together:
            async with UnitOfWork(sessions, source="/t", audit_keys=AUDIT_KEYS) as uow:
                await on_reports_submitted(batch, uow)
                await uow.commit()
        else:
            for event in batch:
                async with UnitOfWork(sessions, source="/t", audit_keys=AUDIT_KEYS) as uow:
                    await on_report_submitted(event, uow)
                    await uow.commit()
        async with sessions() as s:
            cases = (await s.scalars(select(Case).options(selectinload(Case.allegations)))).all()
            opened.append({c.report_id: (c.signals, c.acceptance_notice_due, c.verification_due, c.subject_name,
                                         len(c.allegations)) for c in cases})
            assert len(cases) == 6
    one_by_one, together = opened
    assert together == one_by_one
    assert together["r-5"][0]["earlier_untrue_verdicts"] == 1 and together["r-5"][0]["targets_many_subjects"]
    assert "the reporter has 3 earlier report(s)" in together["r-5"][0]["notes"]  # r-0, r-1, r-2
    assert together["r-1"][0]["duplicate_of_concluded"] and not together["r-5"][0]["duplicate_of_concluded"]
    assert not together["r-4"][0]["repeat_reporter"] and not together["r-3"][0]["repeat_reporter"]
