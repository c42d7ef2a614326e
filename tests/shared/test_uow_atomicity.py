"""A change and its events commit together or not at all (issue #24). Two ways of seeing it: in one
process, a unit of work sends the database one transaction and one COMMIT holding the change, its
outbox row and its audit record; and a process killed outright -- no cleanup, no rollback -- just
before that COMMIT leaves neither behind, and killed just after it leaves both."""

import os
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

import shared
from services.verification.models import Case
from shared.models import AuditRecord, OutboxMessage
from shared.uow import UnitOfWork
from tests.factories import submitted
from tests.keys import AUDIT_KEYS

# The code under test, wherever it was imported from (a mutation run imports a mutated copy).
CODE_ROOT = Path(shared.__file__).resolve().parent.parent


def a_case(report_id: str) -> Case:
    return Case(id=f"c-{report_id}", report_id=report_id, status="open", region_code="330502", channel="online",
                subject_name="王", subject_position="局长", subject_organization="某局", anonymous=True,
                report_received_at=datetime.now(UTC), verification_due=date(2027, 1, 29))


async def change_with_event(sessions, report_id: str) -> None:
    async with UnitOfWork(sessions, source="/t", audit_keys=AUDIT_KEYS) as uow:
        uow.session.add(a_case(report_id))
        uow.raise_event(submitted(report_id), key=report_id)
        uow.record_audit(actor="officer-1", action="case.opened", object_type="case", object_id=f"c-{report_id}",
                         reason="test", details={})
        await uow.commit()


async def stored(sessions) -> tuple[int, int, int]:
    async with sessions() as s:
        return (await s.scalar(select(func.count()).select_from(Case)),
                await s.scalar(select(func.count()).select_from(OutboxMessage)),
                await s.scalar(select(func.count()).select_from(AuditRecord)))


async def test_a_change_its_events_and_its_audit_record_go_to_the_database_in_one_commit(new_database, engine_for):
    from shared.db import session_factory

    engine = engine_for(await new_database("verification"))
    sessions = session_factory(engine)
    seen: list[str] = []

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def statement(conn, cursor, sql, params, context, executemany):
        seen.append(sql.split()[0].upper() + " " + " ".join(sql.split()[1:3]))

    @event.listens_for(engine.sync_engine, "commit")
    def commit(conn):
        seen.append("COMMIT")

    @event.listens_for(engine.sync_engine, "rollback")
    def rollback(conn):
        seen.append("ROLLBACK")

    await change_with_event(sessions, "r-1")
    assert seen.count("COMMIT") == 1 and seen[-1] == "COMMIT" and "ROLLBACK" not in seen, seen
    writes = [s for s in seen if s.startswith("INSERT")]
    assert any("cases" in s for s in writes) and any("outbox" in s for s in writes), writes
    assert any("audit_records" in s for s in writes), writes
    assert await stored(sessions) == (1, 1, 1)


# Run in a process of its own: apply the change with its event, and kill the process with SIGKILL
# right before the COMMIT is sent or right after it returned.
_CRASHING_UNIT = r"""
import asyncio, os, signal, sys
from sqlalchemy import event
from sqlalchemy.orm import Session
from shared.db import create_engine, session_factory
from tests.shared.test_uow_atomicity import change_with_event

url, kill_at = sys.argv[1], sys.argv[2]

def die(*_):
    os.kill(os.getpid(), signal.SIGKILL)

async def main():
    engine = create_engine(url)
    if kill_at == "before_commit":
        event.listen(engine.sync_engine, "commit", die)  # every statement sent, COMMIT not yet
    else:
        event.listen(Session, "after_commit", die)  # the first COMMIT returned
    await change_with_event(session_factory(engine), "r-1")
    print("not killed")

asyncio.run(main())
"""


@pytest.mark.parametrize(("kill_at", "left_behind"), [("before_commit", (0, 0, 0)), ("after_commit", (1, 1, 1))])
async def test_a_process_killed_around_the_commit_leaves_the_change_with_its_events_or_neither(
        new_database, sessions_for, kill_at, left_behind):
    url = await new_database("verification")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(CODE_ROOT), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", _CRASHING_UNIT, url, kill_at], cwd=CODE_ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == -9, (run.returncode, run.stdout, run.stderr[-2000:])
    assert await stored(sessions_for(url)) == left_behind
