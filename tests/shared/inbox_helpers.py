"""What the inbox, consumer-loop and consumer tests share: events as the broker hands them over,
an inbox and a consumer on a verification database, a stand-in broker source, counts."""

import asyncio

from sqlalchemy import func, select

from services.verification.models import Case
from shared.consumer import EventConsumer
from shared.events import encode
from shared.inbox import Inbox, Message
from shared.kafka_source import KafkaSource
from shared.observability import Metrics
from shared.uow import UnitOfWork
from tests.factories import submitted
from tests.keys import AUDIT_KEYS, SERVICE_KEYS, TRUST
from tests.verification.helpers import on_report_submitted

TOPIC = "reports.submitted"


class SimulatedCrash(BaseException):
    """Stands for kill -9: not an Exception, so nothing in the runner handles it."""


def delivered(report_id, *, offset, partition=0, key=None, signer=SERVICE_KEYS["intake"], unsigned=False):
    """A `report.submitted.v1` event as the broker hands it over (signed by intake unless told)."""
    key = key or report_id
    _, record = encode(submitted(report_id), key=key, source=signer.source, subject=report_id,
                       signer=None if unsigned else signer)
    return raw(record.value, [(k, v.encode()) for k, v in record.headers.items()], offset=offset,
               partition=partition, key=key.encode())


def raw(value, headers, *, offset, partition=0, key=b"r-1"):
    return Message(topic=TOPIC, partition=partition, offset=offset, key=key, headers=headers, value=value)


def make_inbox(sessions, handler=on_report_submitted, *, metrics=None, handle_many=None, uow_factory=None):
    return Inbox(
        subscriber="verification", topic=TOPIC, handler=handler, handle_many=handle_many,
        uow_factory=uow_factory or (lambda: UnitOfWork(sessions, signer=SERVICE_KEYS["verification"],
                                                       audit_keys=AUDIT_KEYS)),
        trust=TRUST, metrics=metrics or Metrics("verification"), max_attempts=3, backoff_s=0.01, backoff_max_s=0.05,
    )


async def cases(sessions, report_id=None):
    async with sessions() as s:
        stmt = select(func.count()).select_from(Case)
        if report_id:
            stmt = stmt.where(Case.report_id == report_id)
        return await s.scalar(stmt)


async def rows(sessions, model):
    async with sessions() as s:
        return list(await s.scalars(select(model)))


def consumed(metrics, outcome):
    return metrics.events_consumed.labels("verification", TOPIC, outcome)._value.get()


def failing_on(bad_report_id, calls):
    """A handler that fails for one report, for a reason of the event's own, and applies the others;
    it counts in `calls` how often it was called for each report."""
    async def handler(event, uow):
        calls[event.data.report_id] = calls.get(event.data.report_id, 0) + 1
        if event.data.report_id == bad_report_id:
            raise ValueError("subject organization unknown to this office")
        await on_report_submitted(event, uow)

    return handler


async def settle(inbox, message, failed=None):
    """`inbox.handle`, bounded: a message retried for ever fails the test instead of hanging it."""
    return await asyncio.wait_for(inbox.handle(message, asyncio.Event(), failed), timeout=20)


def make_consumer(sessions, broker, handler=on_report_submitted, metrics=None, handle_many=None, uow_factory=None):
    metrics = metrics or Metrics("verification")
    inbox = make_inbox(sessions, handler, metrics=metrics, handle_many=handle_many, uow_factory=uow_factory)
    return EventConsumer(inbox, KafkaSource(subscriber="verification", topic=TOPIC, bootstrap=broker),
                         metrics=metrics, backoff_max_s=0.05)


class StandInSource:
    """The broker source without a broker: hands out `polls` in turn (an exception is raised
    instead), then stops the consumer; keeps what it was asked to commit, with what `on_commit`
    saw at that moment."""

    def __init__(self, stop, polls, on_commit):
        self.stop, self.polls, self.on_commit = stop, list(polls), on_commit
        self.commits: list = []
        self.resumed = self.closed = 0
        self.assigned = asyncio.Event()

    async def poll(self):
        if not self.polls:
            self.stop.set()
            return {}
        polled = self.polls.pop(0)
        if isinstance(polled, Exception):
            raise polled
        return polled

    async def commit(self, offsets):
        self.commits.append((offsets, await self.on_commit()) if self.on_commit else offsets)
        return True

    async def lag(self):
        return {}

    def resume_from_committed(self):
        self.resumed += 1

    async def close(self):
        self.closed += 1

    async def shutdown(self):
        pass


async def run_over(consumer, *polls, on_commit=None):
    stop = asyncio.Event()
    consumer._source = source = StandInSource(stop, polls, on_commit)
    await asyncio.wait_for(consumer.run(stop), timeout=30)
    return source


