"""Redriving dead letters (shared/redrive.py) on a real database: once the fault is fixed the event
is applied through the same checks and handler, exactly once; one that fails again stays as it was."""

from sqlalchemy import select

from shared.models import AuditRecord, DeadLetter, InboxMark
from shared.redrive import discard, redrive
from shared.uow import UnitOfWork
from tests.keys import AUDIT_KEYS, SERVICE_KEYS, TRUST
from tests.shared.inbox_helpers import TOPIC, cases, delivered, failing_on, make_inbox, rows, settle
from tests.verification.helpers import on_report_submitted


def again(sessions, handler=on_report_submitted, trust=TRUST):
    async def run(dead_letter_id):
        return await redrive(
            uow_factory=lambda: UnitOfWork(sessions, signer=SERVICE_KEYS["verification"], audit_keys=AUDIT_KEYS),
            trust=trust, handlers={("verification", TOPIC): handler}, dead_letter_id=dead_letter_id,
            actor="cli:operator")
    return run


async def dead_lettered(sessions, message, handler):
    assert await settle(make_inbox(sessions, handler), message)
    [letter] = await rows(sessions, DeadLetter)
    return letter


async def test_a_dead_letter_redriven_after_the_fix_is_applied_once_and_audited(verification_db):
    letter = await dead_lettered(verification_db, delivered("r-bad", offset=4), failing_on("r-bad", {}))
    assert await cases(verification_db, "r-bad") == 0

    done = await again(verification_db)(letter.id)  # the handler is fixed: the real one

    assert done.outcome == "applied" and done.event_id == letter.event_id
    assert await cases(verification_db, "r-bad") == 1
    assert await rows(verification_db, DeadLetter) == []
    [mark] = await rows(verification_db, InboxMark)
    assert mark.outcome == "applied" and mark.offset == 4
    async with verification_db() as s:
        [audit] = (await s.scalars(select(AuditRecord).where(AuditRecord.action == "dead_letter.redriven"))).all()
    assert audit.actor == "cli:operator" and audit.details["reason"] == "handler_failed"
    # The same event delivered once more is a duplicate, not a second case.
    assert await settle(make_inbox(verification_db), delivered("r-bad", offset=4))
    assert await cases(verification_db, "r-bad") == 1


async def test_a_redrive_that_fails_again_changes_nothing(verification_db):
    letter = await dead_lettered(verification_db, delivered("r-bad", offset=4), failing_on("r-bad", {}))

    done = await again(verification_db, failing_on("r-bad", {}))(letter.id)

    assert done.outcome == "failed" and "subject organization unknown" in done.detail
    [still] = await rows(verification_db, DeadLetter)
    assert still.id == letter.id and still.reason == "handler_failed"
    [mark] = await rows(verification_db, InboxMark)
    assert mark.outcome == "dead_lettered" and await cases(verification_db) == 0


async def test_a_forged_event_stays_refused_when_redriven(verification_db):
    letter = await dead_lettered(verification_db, delivered("r-1", offset=2, unsigned=True), on_report_submitted)
    assert letter.reason == "signature_invalid"

    done = await again(verification_db)(letter.id)

    assert done.outcome == "failed" and done.detail.startswith("signature_invalid")
    assert len(await rows(verification_db, DeadLetter)) == 1 and await cases(verification_db) == 0


async def test_a_discarded_dead_letter_leaves_the_backlog_but_its_event_stays_refused_and_audited(verification_db):
    letter = await dead_lettered(verification_db, delivered("r-1", offset=2, unsigned=True), on_report_submitted)

    event_id = await discard(
        uow_factory=lambda: UnitOfWork(verification_db, signer=SERVICE_KEYS["verification"], audit_keys=AUDIT_KEYS),
        dead_letter_id=letter.id, actor="cli:operator", reason="伪造事件，经核实不予处理。")

    assert event_id == letter.event_id and await rows(verification_db, DeadLetter) == []
    [mark] = await rows(verification_db, InboxMark)
    assert mark.outcome == "dead_lettered"
    assert await settle(make_inbox(verification_db), delivered("r-1", offset=2, unsigned=True))
    assert await rows(verification_db, DeadLetter) == [] and await cases(verification_db) == 0  # still refused
    async with verification_db() as s:
        [audit] = (await s.scalars(select(AuditRecord).where(AuditRecord.action == "dead_letter.discarded"))).all()
    assert audit.reason == "伪造事件，经核实不予处理。" and audit.details["reason"] == "signature_invalid"
