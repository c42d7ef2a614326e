"""Group commit: requests that arrive together are written together, each still answered alone.

A caller awaits `submit(item)`. When nothing is being written, the item goes out at once (a
batch of whatever is queued by then: no fixed delay when idle). While a batch is being written,
new items queue and form the next batch, so under load one transaction carries many items and
the commit cost is shared. `write_many` returns one outcome per item, in order: a result, or
the exception that item's caller should raise; if it raises, every item of the batch gets that
exception. Nobody gets an answer before `write_many` has returned, i.e. before its commit.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """Gathers concurrent `submit` calls into batches of at most `max_batch`; at most `concurrency`
    batches are being written at any time."""

    def __init__(self, write_many: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]], *,
                 max_batch: int = 64, concurrency: int = 1) -> None:
        if max_batch < 1 or concurrency < 1:
            raise ValueError("max_batch and concurrency must be at least 1")
        self._write_many = write_many
        self._max_batch = max_batch
        self._concurrency = concurrency
        self._queue: list[tuple[T, asyncio.Future[R]]] = []
        self._writing = 0  # batches being written; counted without an await in between, so exact
        self._workers: set[asyncio.Task[None]] = set()  # held so that running workers are not collected

    async def submit(self, item: T) -> R:
        """Queue `item`, and return its result once the batch holding it is written (or raise)."""
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        if self._writing < self._concurrency:
            self._writing += 1
            # A fresh context: the worker outlives this request and writes other requests' batches,
            # so it must not carry this one's request id into its log lines.
            worker = asyncio.create_task(self._drain(), name="group-commit", context=contextvars.Context())
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)
        return await future

    async def _drain(self) -> None:
        try:
            # One turn of the loop first: requests that became ready together join the first batch.
            await asyncio.sleep(0)
            await self._write_batches()
        finally:
            self._writing -= 1

    async def _write_batches(self) -> None:
        while self._queue:
            batch = [(item, fut) for item, fut in self._queue[: self._max_batch] if not fut.done()]
            del self._queue[: self._max_batch]
            if not batch:
                continue
            try:
                outcomes = await self._write_many([item for item, _ in batch])
                if len(outcomes) != len(batch):
                    raise RuntimeError(f"write_many answered {len(outcomes)} outcomes for {len(batch)} items")
            except Exception as exc:  # every caller of the batch hears of it
                outcomes = [exc] * len(batch)
            except BaseException:  # cancelled (shutdown): nobody may wait for ever
                for _, fut in [*batch, *self._queue]:
                    fut.cancel()
                self._queue.clear()
                raise
            for (_, fut), outcome in zip(batch, outcomes, strict=True):
                if fut.done():  # its caller went away (cancelled); the write stands
                    continue
                if isinstance(outcome, BaseException):
                    fut.set_exception(outcome)
                else:
                    fut.set_result(outcome)
