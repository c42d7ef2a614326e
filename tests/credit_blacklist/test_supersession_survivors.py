"""A corrected verdict reaches a listing the person already served (issue #24): an expired or repaired
entry is revoked too when the new verdict is not malicious, so the record no longer says they accused
maliciously; a new malicious verdict leaves the served listing as it is and lists nobody twice."""

import json
from types import SimpleNamespace

import pytest
from sqlalchemy import select, update

from services.credit_blacklist.domain import TRANSITIONS, EntryStatus, can_move
from services.credit_blacklist.handlers import consumers
from services.credit_blacklist.models import Entry, ReportVerdict
from services.credit_blacklist.service import BlacklistRules
from shared.calendar import WorkingCalendar
from shared.models import DeadLetter, OutboxMessage
from shared.uow import UnitOfWork
from tests.credit_blacklist.helpers import FakeIntake, received, verdict
from tests.keys import AUDIT_KEYS, SERVICE_KEYS


@pytest.fixture
async def desk(new_database, cipher, sessions_for):
    sessions = sessions_for(await new_database("credit_blacklist"))
    intake = FakeIntake()
    handler = consumers(SimpleNamespace(cipher=cipher, calendar=WorkingCalendar()),
                        SimpleNamespace(identities=intake, rules=BlacklistRules()))[0].handler
    n = 0

    async def apply(data):
        nonlocal n
        n += 1
        async with UnitOfWork(sessions, signer=SERVICE_KEYS["credit_blacklist"], audit_keys=AUDIT_KEYS) as uow:
            await handler(received(f"e-{n}", data), uow)
            await uow.commit()

    async def entries():
        async with sessions() as s:
            return list(await s.scalars(select(Entry).order_by(Entry.created_at)))

    async def served_out(status):
        """The listing ended as the sweep or a granted repair leaves it."""
        async with sessions() as s, s.begin():
            await s.execute(update(Entry).values(status=status, removal_reason="period_ended"
                                                 if status == "expired" else "credit_repaired"))

    async def removed_events():
        async with sessions() as s:
            rows = await s.scalars(select(OutboxMessage).where(OutboxMessage.event_type == "blacklist.entry_removed.v1")
                                   .order_by(OutboxMessage.id))
            return [json.loads(r.payload) for r in rows]

    async def dead_letters():
        async with sessions() as s:
            return list(await s.scalars(select(DeadLetter)))

    async def outcome(report_id):
        async with sessions() as s:
            return (await s.get(ReportVerdict, report_id)).outcome

    return SimpleNamespace(apply=apply, entries=entries, served_out=served_out, removed_events=removed_events,
                           dead_letters=dead_letters, outcome=outcome, intake=intake)


@pytest.mark.parametrize("served", ["expired", "repaired"])
async def test_a_superseding_verdict_revokes_a_listing_already_served(desk, served):
    desk.intake.add("r-1")
    await desk.apply(verdict("r-1"))
    await desk.served_out(served)
    await desk.apply(verdict("r-1", verdict="untrue", version=2, supersedes_verdict_id="v-r-1-1"))
    [entry] = await desk.entries()
    assert (entry.status, entry.removal_reason) == ("revoked", "verdict_superseded")
    [removed] = [e for e in await desk.removed_events() if e["reason_code"] == "verdict_superseded"]
    assert (removed["entry_id"], removed["status"]) == (entry.id, "revoked")
    assert await desk.dead_letters() == [] and await desk.outcome("r-1") == "not_listed"


@pytest.mark.parametrize("served", ["expired", "repaired"])
async def test_a_superseding_malicious_verdict_leaves_a_served_listing_and_lists_nobody_twice(desk, served):
    desk.intake.add("r-1")
    await desk.apply(verdict("r-1"))
    await desk.served_out(served)
    await desk.apply(verdict("r-1", version=2, severity="serious", supersedes_verdict_id="v-r-1-1"))
    assert [e.status for e in await desk.entries()] == [served]
    assert await desk.outcome("r-1") == "served" and len(desk.intake.calls) == 1


def test_supersession_may_revoke_an_entry_from_every_state_and_nothing_else_leaves_revoked():
    for status in EntryStatus:
        assert can_move(status, EntryStatus.revoked, "verdict_superseded") == (status != EntryStatus.revoked)
        assert not can_move(EntryStatus.revoked, status)
    assert not can_move(EntryStatus.expired, EntryStatus.revoked, "revocation_granted")
    assert not can_move(EntryStatus.repaired, EntryStatus.revoked, "objection_upheld")
    assert TRANSITIONS[(EntryStatus.expired, EntryStatus.revoked)] == {"verdict_superseded"}
