"""Group commit: batches form while a write is under way, never by waiting; each caller its own answer."""

import asyncio

import pytest

from shared.batching import GroupCommit


class Recorder:
    """A write_many that records its batches and holds each write until released."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.started = asyncio.Event()

    async def write(self, items: list[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        self.started.set()
        await self.release.wait()
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]


async def test_an_item_arriving_when_idle_is_written_at_once_and_the_rest_queue_behind_it():
    rec = Recorder()
    group: GroupCommit[int, int] = GroupCommit(rec.write, max_batch=3)
    first = asyncio.create_task(group.submit(0))
    await asyncio.wait_for(rec.started.wait(), 5)  # nobody else arrived: a batch of one, no delay
    assert rec.batches == [[0]]
    later = [asyncio.create_task(group.submit(i)) for i in range(1, 8)]
    for _ in range(5):  # turns enough for a second worker, were one started, to begin its write
        await asyncio.sleep(0)
    assert rec.batches == [[0]]  # one batch at a time: the others wait for the first commit
    rec.release.set()
    assert await first == 0
    results = await asyncio.gather(*later, return_exceptions=True)
    assert rec.batches == [[0], [1, 2, 3], [4, 5, 6], [7]]  # what queued meanwhile, at most max_batch
    assert [r if isinstance(r, int) else str(r) for r in results] == [
        "odd 1", 20, "odd 3", 40, "odd 5", 60, "odd 7"]


async def test_items_that_arrive_together_share_one_batch():
    rec = Recorder()
    rec.release.set()
    group: GroupCommit[int, int] = GroupCommit(rec.write, max_batch=64)
    assert await asyncio.gather(*(group.submit(i * 2) for i in range(5))) == [0, 20, 40, 60, 80]
    assert rec.batches == [[0, 2, 4, 6, 8]]


async def test_a_failed_write_fails_every_caller_of_that_batch_only():
    calls = []

    async def write(items: list[int]) -> list[int]:
        calls.append(items)
        if len(calls) == 1:
            raise ConnectionError("database gone")
        return items

    group: GroupCommit[int, int] = GroupCommit(write)
    results = await asyncio.gather(*(group.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    assert await group.submit(7) == 7  # the next batch is written as usual


async def test_a_wrong_number_of_outcomes_is_an_error_not_a_wrong_answer():
    async def write(items: list[int]) -> list[int]:
        return items[:-1]

    group: GroupCommit[int, int] = GroupCommit(write)
    with pytest.raises(RuntimeError, match="outcomes"):
        await asyncio.gather(group.submit(1), group.submit(2))


async def test_with_two_writers_a_second_batch_goes_out_while_the_first_is_written():
    rec = Recorder()
    group: GroupCommit[int, int] = GroupCommit(rec.write, concurrency=2)
    tasks = [asyncio.create_task(group.submit(0))]
    await asyncio.wait_for(rec.started.wait(), 5)
    tasks.append(asyncio.create_task(group.submit(2)))
    for _ in range(3):
        await asyncio.sleep(0)
    assert rec.batches == [[0], [2]]
    rec.release.set()
    assert await asyncio.gather(*tasks) == [0, 20]


async def test_a_caller_that_went_away_before_its_batch_is_not_written_and_one_in_flight_stands():
    rec = Recorder()
    group: GroupCommit[int, int] = GroupCommit(rec.write)
    in_flight = asyncio.create_task(group.submit(0))
    await asyncio.wait_for(rec.started.wait(), 5)
    gone, stays = asyncio.create_task(group.submit(2)), asyncio.create_task(group.submit(4))
    await asyncio.sleep(0)
    gone.cancel()  # its client disconnected while it waited for the next batch
    in_flight.cancel()  # this one's batch is already being written
    rec.release.set()
    assert await stays == 40
    assert rec.batches == [[0], [4]]  # the one written stays written; the one gone never was
    assert gone.cancelled() and in_flight.cancelled()
