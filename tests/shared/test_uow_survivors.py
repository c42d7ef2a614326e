"""What the unit of work promises beyond atomicity, held where the mutation harness (tools/mutate.py,
issue #24) found nothing holding it: events carry their subject and the service's signature, the relay
is woken only when outbox rows were written, an anchor is published when asked for, and a report's trace
remembered in the same unit is the one its events continue."""

import json

from sqlalchemy import select

from shared.models import OutboxMessage, TraceLink
from shared.signing import KEY_ID_HEADER, SIGNATURE_HEADER
from shared.tracing import TraceContext
from shared.uow import UnitOfWork
from tests.factories import submitted
from tests.keys import AUDIT_KEYS, SERVICE_KEYS


async def outbox(sessions):
    async with sessions() as s:
        return list(await s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def unit(sessions, **kw):
    return UnitOfWork(sessions, signer=SERVICE_KEYS["intake"], audit_keys=AUDIT_KEYS, **kw)


async def test_an_event_carries_its_subject_and_the_services_signature(new_database, sessions_for):
    sessions = sessions_for(await new_database("intake"))
    async with unit(sessions) as uow:
        uow.raise_event(submitted("r-1"), key="r-1", subject="report r-1")
        uow.raise_event(submitted("r-2"), key="r-2")
        await uow.commit()
    first, second = await outbox(sessions)
    assert first.headers["ce_subject"] == "report r-1" and second.headers["ce_subject"] == "r-2"
    assert first.headers[SIGNATURE_HEADER] and first.headers[KEY_ID_HEADER]  # unsigned, every consumer refuses it


async def test_events_flushed_early_are_written_once_and_the_unit_still_commits(new_database, sessions_for):
    sessions = sessions_for(await new_database("intake"))
    async with unit(sessions) as uow:
        uow.raise_event(submitted("r-1"), key="r-1")
        [first_id] = await uow.flush_events()
        assert await uow.flush_events() == []
        uow.raise_event(submitted("r-2"), key="r-2")
        await uow.commit()
    rows = await outbox(sessions)
    assert [r.message_key for r in rows] == ["r-1", "r-2"] and rows[0].event_id == first_id


async def test_the_relay_is_woken_after_a_commit_that_wrote_outbox_rows_and_only_then(new_database, sessions_for):
    sessions = sessions_for(await new_database("intake"))
    woken = []
    async with unit(sessions, on_events_committed=lambda: woken.append("events")) as uow:
        uow.record_audit(actor="officer-1", action="report.read", object_type="report", object_id="r-1",
                         reason="test", details={})
        await uow.commit()
    assert woken == []
    async with unit(sessions, on_events_committed=lambda: woken.append("events")) as uow:
        uow.raise_event(submitted("r-1"), key="r-1")
        await uow.commit()
    assert woken == ["events"]
    [row] = await outbox(sessions)
    async with unit(sessions, on_events_committed=lambda: woken.append("copy")) as uow:
        uow.add_outbox_messages([OutboxMessage(event_id="copy-1", event_type=row.event_type, topic=row.topic,
                                               message_key=row.message_key, headers=row.headers,
                                               payload=row.payload)])
        await uow.commit()
    assert woken == ["events", "copy"] and len(await outbox(sessions)) == 2


async def test_an_anchor_is_published_with_the_commit_only_when_asked_for(new_database, sessions_for):
    sessions = sessions_for(await new_database("intake"))
    for anchor in (False, True):
        async with unit(sessions) as uow:
            uow.record_audit(actor="custodian-1", action="identity.released", object_type="report",
                             object_id="r-1", reason="test", details={})
            if anchor:
                uow.anchor_audit()
            await uow.commit()
    [anchored] = [r for r in await outbox(sessions) if r.event_type == "audit.anchored.v1"]
    data = json.loads(anchored.payload)
    assert (data["service"], data["seq"], anchored.message_key) == ("intake", 2, "intake")


async def test_a_trace_remembered_in_the_unit_is_continued_by_the_reports_events(new_database, sessions_for):
    sessions = sessions_for(await new_database("intake"))
    journey = TraceContext.new(request_id="req-origin")
    async with unit(sessions) as uow:
        uow.remember_traces({"r-1": journey})
        uow.raise_event(submitted("r-1"), key="r-1")  # raised outside any request: a trace of its own
        await uow.flush_events()
        later = TraceContext.new(request_id="req-later")
        uow.remember_traces({"r-2": later})  # after a flush: still remembered with the commit
        await uow.commit()
    [event] = await outbox(sessions)
    assert event.headers["ce_traceparent"].split("-")[1] == journey.trace_id
    async with sessions() as s:
        links = {link.key: link.traceparent for link in await s.scalars(select(TraceLink))}
    assert links == {"r-1": journey.traceparent, "r-2": later.traceparent}


async def test_an_anchor_asked_for_without_audit_records_publishes_nothing(new_database, sessions_for):
    sessions = sessions_for(await new_database("intake"))
    async with unit(sessions) as uow:
        uow.anchor_audit()
        uow.raise_event(submitted("r-1"), key="r-1")
        await uow.commit()
    assert [r.event_type for r in await outbox(sessions)] == ["report.submitted.v1"]


async def test_audit_records_without_audit_keys_are_refused_before_anything_is_committed(new_database, sessions_for):
    import pytest

    sessions = sessions_for(await new_database("intake"))
    async with UnitOfWork(sessions, signer=SERVICE_KEYS["intake"]) as uow:
        uow.raise_event(submitted("r-1"), key="r-1")
        uow.record_audit(actor="officer-1", action="report.read", object_type="report", object_id="r-1",
                         reason="test", details={})
        with pytest.raises(RuntimeError, match=r"^this unit of work records audit entries but has no audit keys$"):
            await uow.commit()
    assert await outbox(sessions) == []


async def test_an_unsigned_unit_names_its_source_and_one_without_either_is_refused(new_database, sessions_for):
    import pytest

    sessions = sessions_for(await new_database("intake"))
    refusal = r"^a unit of work needs the service's signing key \(or, unsigned, a source\)$"
    with pytest.raises(ValueError, match=refusal):
        UnitOfWork(sessions)
    async with UnitOfWork(sessions, source="/zhengming/test") as uow:
        uow.raise_event(submitted("r-1"), key="r-1")
        await uow.commit()
        assert uow.committed is True
    [row] = await outbox(sessions)
    assert row.headers["ce_source"] == "/zhengming/test" and "ce_signature" not in row.headers


async def test_a_units_session_is_refused_before_and_after_its_async_with(new_database, sessions_for):
    import pytest

    uow = unit(sessions_for(await new_database("intake")))
    with pytest.raises(RuntimeError, match=r"^unit of work used outside `async with`$"):
        uow.session  # noqa: B018
    async with uow:
        assert uow.session is not None
    with pytest.raises(RuntimeError, match=r"^unit of work used outside `async with`$"):
        uow.session  # noqa: B018
