"""The consumer loop without a broker: a stand-in source hands it polls, and what it commits, and
when, is checked against the database. (Against the real broker: test_consumer.py.)"""


from sqlalchemy import func, select

from shared.models import DeadLetter, InboxMark
from shared.uow import UnitOfWork
from tests.keys import AUDIT_KEYS, SERVICE_KEYS
from tests.shared.inbox_helpers import cases, delivered, failing_on, make_consumer, raw, run_over
from tests.verification.helpers import on_report_submitted, on_reports_submitted


async def _marks(sessions):
    async with sessions() as s:
        return await s.scalar(select(func.count()).select_from(InboxMark))


async def test_a_failing_handler_is_retried_then_dead_lettered_and_the_partition_moves_on(verification_db):
    """The four of one poll are first tried in one transaction; the failing event and the message
    that is no event at all are then dead-lettered alone, within `max_attempts`, and the good ones
    applied. Each offset is committed after its message is settled, never before."""
    sessions = verification_db
    calls: dict[str, int] = {}
    handler = failing_on("r-bad", calls)
    bad = delivered("r-bad", offset=1, key="r-1")
    poll = {0: [delivered("r-0", offset=0, key="r-1"), bad, raw(b"\xff not json", [], offset=2),
                delivered("r-1", offset=3)]}
    source = await run_over(make_consumer(sessions, "127.0.0.1:9", handler), poll, on_commit=lambda: _marks(sessions))

    assert source.commits == [({0: 1}, 1), ({0: 2}, 2), ({0: 3}, 3), ({0: 4}, 4)]
    assert calls["r-bad"] == 3
    assert await cases(sessions, "r-bad") == 0 and await cases(sessions) == 2
    async with sessions() as s:
        letters = {letter.event_id: letter for letter in await s.scalars(select(DeadLetter))}
    assert len(letters) == 2  # the failing event and the message that is not an event at all
    letter = letters[dict(bad.headers)["ce_id"].decode()]
    assert letter.attempts == 3 and letter.reason == "handler_failed"
    assert "subject organization unknown" in letter.error


async def test_a_poll_over_several_partitions_goes_to_handle_many_in_one_transaction_and_one_commit(
        verification_db):
    sessions = verification_db
    poll = {p: [delivered(f"r-{p + 4 * i}", offset=i, partition=p) for i in range(2)] for p in (2, 0, 3, 1)}
    batches: list[list[str]] = []
    units = []

    async def handle_many(events, uow):
        batches.append([event.data.report_id for event in events])
        await on_reports_submitted(events, uow)

    def counting_uow():
        units.append(1)
        return UnitOfWork(sessions, signer=SERVICE_KEYS["verification"], audit_keys=AUDIT_KEYS)

    consumer = make_consumer(sessions, "127.0.0.1:9", handle_many=handle_many, uow_factory=counting_uow)
    source = await run_over(consumer, poll, on_commit=lambda: _marks(sessions))

    assert batches == [["r-0", "r-4", "r-1", "r-5", "r-2", "r-6", "r-3", "r-7"]]  # by partition, each in order
    assert len(units) == 1 and await cases(sessions) == 8
    assert source.commits == [({0: 2, 1: 2, 2: 2, 3: 2}, 8)]


async def test_when_handle_many_fails_each_event_is_applied_alone_and_committed_after_it(verification_db):
    sessions = verification_db
    tried = []

    async def handle_many(events, uow):
        tried.append(len(events))
        raise ValueError("one of them is bad, but which")

    consumer = make_consumer(sessions, "127.0.0.1:9", handle_many=handle_many)
    source = await run_over(consumer, {p: [delivered(f"r-{p}", offset=0, partition=p)] for p in range(4)})

    assert tried == [4] and await cases(sessions) == 4
    assert source.commits == [{0: 1}, {1: 1}, {2: 1}, {3: 1}]
    async with sessions() as s:
        assert await s.scalar(select(func.count()).select_from(DeadLetter)) == 0


async def test_a_consumer_stopped_during_retries_leaves_that_offset_uncommitted(verification_db):
    sessions = verification_db
    stop_now = []

    async def handler(event, uow):
        if event.data.report_id == "r-1":
            if stop_now:  # its second attempt, the first alone
                consumer._source.stop.set()
            stop_now.append(1)
            raise ValueError("failing until stopped")
        await on_report_submitted(event, uow)

    consumer = make_consumer(sessions, "127.0.0.1:9", handler)
    source = await run_over(consumer, {0: [delivered("r-0", offset=0), delivered("r-1", offset=1)]})
    assert source.commits == [{0: 1}]
    assert await cases(sessions) == 1 and await _marks(sessions) == 1


async def test_after_a_failure_the_consumer_resumes_from_committed_offsets_and_reopens_after_many(
        verification_db):
    sessions = verification_db
    consumer = make_consumer(sessions, "127.0.0.1:9")
    consumer.REOPEN_AFTER_FAILURES = 2
    away = ConnectionError("broker away")
    source = await run_over(consumer, away, away, {0: [delivered("r-1", offset=0)]}, away)
    assert (source.resumed, source.closed) == (2, 1)  # the 2nd failure in a row replaced the client
    assert source.commits == [{0: 1}] and await cases(sessions, "r-1") == 1
