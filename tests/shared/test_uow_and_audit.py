"""Unit of work and audit trail against a real database built by Alembic."""

from datetime import UTC, date, datetime

from sqlalchemy import func, select, update

from services.verification.models import Case
from shared.audit import append, verify_chain
from shared.models import AuditRecord, OutboxMessage
from shared.uow import UnitOfWork
from tests.factories import submitted
from tests.keys import AUDIT_KEYS


def a_case(report_id: str) -> Case:
    return Case(id=f"c-{report_id}", report_id=report_id, status="open", region_code="330502", channel="online",
                subject_name="王", subject_position="局长", subject_organization="某局", anonymous=True,
                report_received_at=datetime.now(UTC), verification_due=date(2027, 1, 29))


async def test_committed_change_and_its_event_are_stored_together(new_database, sessions_for):
    sessions = sessions_for(await new_database("verification"))
    async with UnitOfWork(sessions, source="/t", audit_keys=AUDIT_KEYS) as uow:
        uow.session.add(a_case("r-1"))
        uow.raise_event(submitted("r-1"), key="r-1")
        await uow.commit()
    async with sessions() as s:
        rows = (await s.scalars(select(OutboxMessage))).all()
        assert await s.scalar(select(func.count()).select_from(Case)) == 1
    assert len(rows) == 1
    assert rows[0].message_key == "r-1" and rows[0].topic == "reports.submitted" and rows[0].sent_at is None
    assert rows[0].headers["ce_type"] == "report.submitted.v1"


async def test_without_commit_neither_change_nor_event_is_stored(new_database, sessions_for):
    sessions = sessions_for(await new_database("verification"))
    try:
        async with UnitOfWork(sessions, source="/t", audit_keys=AUDIT_KEYS) as uow:
            uow.session.add(a_case("r-2"))
            uow.raise_event(submitted("r-2"), key="r-2")
            await uow.session.flush()
            raise RuntimeError("handler failed after flushing")
    except RuntimeError:
        pass
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Case)) == 0
        assert await s.scalar(select(func.count()).select_from(OutboxMessage)) == 0


async def test_audit_chain_verifies_and_pinpoints_tampering(new_database, sessions_for):
    sessions = sessions_for(await new_database("intake"))
    for i in range(5):
        async with sessions() as s, s.begin():
            await append(s, keys=AUDIT_KEYS, actor="officer-1", action="finding.recorded", object_type="case",
                         object_id=f"c-{i}", reason="test", details={"n": i})
    async with sessions() as s:
        report = await verify_chain(s, AUDIT_KEYS, batch=2)
        assert report.valid and report.records_checked == 5
    async with sessions() as s, s.begin():
        await s.execute(update(AuditRecord).where(AuditRecord.seq == 3).values(actor="someone-else"))
    async with sessions() as s:
        report = await verify_chain(s, AUDIT_KEYS)
        assert not report.valid and report.first_broken_seq == 3 and report.records_checked == 2


async def test_deleted_audit_record_breaks_the_chain(new_database, sessions_for):
    sessions = sessions_for(await new_database("intake"))
    async with sessions() as s, s.begin():
        for i in range(3):
            await append(s, keys=AUDIT_KEYS, actor="a", action="x", object_type="o", object_id=str(i))
    async with sessions() as s, s.begin():
        await s.delete(await s.scalar(select(AuditRecord).where(AuditRecord.seq == 2)))
    async with sessions() as s:
        report = await verify_chain(s, AUDIT_KEYS)
        assert not report.valid and report.first_broken_seq == 2


async def test_concurrent_units_of_work_keep_one_unbroken_audit_chain(new_database, sessions_for):
    import asyncio

    sessions = sessions_for(await new_database("verification"))

    async def officer_action(i: int) -> None:
        async with UnitOfWork(sessions, source="/t", audit_keys=AUDIT_KEYS) as uow:
            uow.session.add(a_case(f"r-{i}"))
            uow.record_audit(actor=f"officer-{i}", action="case.opened", object_type="case", object_id=f"c-r-{i}")
            await uow.commit()

    await asyncio.gather(*(officer_action(i) for i in range(8)))
    async with UnitOfWork(sessions, source="/t", audit_keys=AUDIT_KEYS) as uow:
        uow.record_audit(actor="x", action="never", object_type="case", object_id="c")
        # not committed: the record must not exist
    async with sessions() as s:
        report = await verify_chain(s, AUDIT_KEYS)
        seqs = (await s.scalars(select(AuditRecord.seq).order_by(AuditRecord.seq))).all()
        actors = set((await s.scalars(select(AuditRecord.actor))).all())
    assert report.valid and report.records_checked == 8
    assert seqs == list(range(1, 9))
    assert actors == {f"officer-{i}" for i in range(8)}
