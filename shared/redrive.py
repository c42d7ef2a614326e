"""Redriving (or, for good, discarding) a dead letter: once the fault is fixed (a handler bug, a trust file, a missing
reference), apply an event a subscriber gave up on, through the same checks (signature, trusted
producer, allowed type) and the same handler, from the copy its dead-lettering kept.

Everything happens in one transaction: the dead-lettered mark becomes an applied one, the handler
runs, the dead letter is dropped and the redrive is audited -- or, if the event fails again,
nothing changes and the dead letter stays with its original reason. Nothing is published to
another service's topic (brokers in production let each service write only its own)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy import select

from shared.events import PoisonEvent, decode
from shared.inbox import Handler
from shared.messages import Message
from shared.models import DeadLetter, InboxMark, OutboxMessage
from shared.signing import EventTrust
from shared.uow import UnitOfWork

DLT_HEADER_PREFIX = "dlt_"  # the provenance headers dead-lettering adds to the original ones


class NoSuchDeadLetter(LookupError):
    pass


@dataclass(frozen=True)
class Redriven:
    dead_letter_id: int
    event_id: str
    outcome: str  # applied | already_applied | failed
    detail: str = ""


def copy_id(subscriber: str, inbox_id: str) -> str:
    """The outbox id of the copy `shared.inbox` keeps of a dead-lettered event (sent to `<topic>.DLT`)."""
    return f"dlt:{subscriber}:{inbox_id}"


async def redrive(*, uow_factory: Callable[[], UnitOfWork], trust: EventTrust,
                  handlers: Mapping[tuple[str, str], Handler], dead_letter_id: int, actor: str) -> Redriven:
    """Apply dead letter `dead_letter_id` again; `handlers` maps (subscriber, topic) to the handler
    that subscriber applies to that topic's events."""
    async with uow_factory() as uow:
        dead = await uow.session.get(DeadLetter, dead_letter_id, with_for_update=True)
        if dead is None:
            raise NoSuchDeadLetter(f"no dead letter {dead_letter_id}")
        handler = handlers.get((dead.subscriber, dead.topic))
        if handler is None:
            return Redriven(dead.id, dead.event_id, "failed",
                            Message("cli.redrive.no_longer_consumes", subscriber=dead.subscriber, topic=dead.topic))
        copy = await uow.session.scalar(select(OutboxMessage).where(
            OutboxMessage.event_id == copy_id(dead.subscriber, dead.event_id)))
        if copy is None:
            return Redriven(dead.id, dead.event_id, "failed", Message("cli.redrive.copy_missing"))
        headers = [(name, value.encode()) for name, value in copy.headers.items()
                   if not name.startswith(DLT_HEADER_PREFIX)]
        try:
            event = decode(headers, copy.message_key.encode() or None, copy.payload, trust=trust)
        except PoisonEvent as exc:
            return Redriven(dead.id, dead.event_id, "failed", f"{exc.reason}: {exc}")
        # A dead letter that could not be trusted was kept by its place on the topic, not by the id
        # it claimed; now that it decodes and verifies, it is marked by its own id.
        held = await uow.session.get(InboxMark, (dead.subscriber, dead.event_id))
        already = await uow.session.get(InboxMark, (dead.subscriber, event.id))
        if already is not None and already.outcome == "applied":
            outcome = "already_applied"
        else:
            if held is not None:
                await uow.session.delete(held)
            if already is not None and already is not held:
                await uow.session.delete(already)
            await uow.session.flush()
            uow.session.add(InboxMark(subscriber=dead.subscriber, event_id=event.id, topic=dead.topic,
                                      partition=dead.partition, offset=dead.offset, outcome="applied"))
            try:
                await handler(event, uow)
            except Exception as exc:  # leaving without commit rolls everything back: still dead-lettered
                return Redriven(dead.id, event.id, "failed", f"{type(exc).__name__}: {exc}"[:1000])
            outcome = "applied"
        await uow.session.delete(dead)
        uow.record_audit(actor=actor, action="dead_letter.redriven", object_type="event", object_id=event.id,
                         details={"dead_letter_id": dead.id, "subscriber": dead.subscriber, "topic": dead.topic,
                                  "event_type": event.type, "reason": dead.reason, "outcome": outcome})
        await uow.commit()
        return Redriven(dead.id, event.id, outcome)


async def discard(*, uow_factory: Callable[[], UnitOfWork], dead_letter_id: int, actor: str, reason: str) -> str:
    """Give up on a dead letter for good (a forged event, say): it leaves the backlog, its inbox mark
    stays (a redelivery is still refused) and the audit trail keeps what it was and why; the event id."""
    async with uow_factory() as uow:
        dead = await uow.session.get(DeadLetter, dead_letter_id, with_for_update=True)
        if dead is None:
            raise NoSuchDeadLetter(f"no dead letter {dead_letter_id}")
        await uow.session.delete(dead)
        uow.record_audit(actor=actor, action="dead_letter.discarded", object_type="event", object_id=dead.event_id,
                         reason=reason, details={"dead_letter_id": dead.id, "subscriber": dead.subscriber,
                                                 "topic": dead.topic, "partition": dead.partition,
                                                 "offset": dead.offset, "event_type": dead.event_type,
                                                 "reason": dead.reason, "error": dead.error[:500]})
        await uow.commit()
        return dead.event_id
