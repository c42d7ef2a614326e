"""Group commit of submissions: what arrives together is stored in one transaction.

Each request still gets its own answer, and only after the commit that made its report durable.
If the batch's transaction fails because of one request (an Idempotency-Key raced by another
process, a unique or data error), the batch is written again one request per transaction, so each
gets its own correct answer: 201, a replay, or its own problem. If the database cannot be
reached, every request of the batch gets the same 503.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.exc import IntegrityError

from services.intake import service, store
from services.intake.repeats import ShingleCache
from shared.batching import GroupCommit
from shared.crypto import FieldCipher
from shared.db import is_transient
from shared.errors import DatabaseUnavailable, DomainError
from shared.messages import Message
from shared.tracing import TraceContext, current_trace
from shared.uow import UnitOfWork

log = logging.getLogger("zhengming.intake.writer")
MAX_BATCH = 64
# Two batches in flight on PostgreSQL: while one waits for its commit, the next one's statements run
# (a batch is mostly waiting for round trips, so one at a time left the process idle, #22). A batch
# starts writing only after every batch in flight before it that names one of its officials (or one
# of its Idempotency-Keys) has finished, so the duplicate check still sees each report about an
# official after the one before it, as if written one after the other. On SQLite, one at a time.
CONCURRENT_BATCHES = 2


Outcome = service.Submission | DomainError


class SubmissionWriter:
    """One per API process: gathers concurrent submissions and commits them together."""

    def __init__(self, uow_factory: Callable[[], UnitOfWork], cipher: FieldCipher, rules: service.IntakeRules,
                 *, max_batch: int = MAX_BATCH) -> None:
        self._uow_factory = uow_factory
        self._cipher = cipher
        self.rules = rules
        self._cache = ShingleCache()
        # The trace each waiting submission was made in: the batch is written in a context of its own.
        self._traces: dict[str, TraceContext] = {}
        # Batches being written, each with what it orders on (None: everything) and when it is done.
        self._in_flight: list[tuple[frozenset[str] | None, asyncio.Future[None]]] = []
        self._dialect: str | None = None  # the database's, once a batch has been written
        self._group: GroupCommit[service.NewReport, Outcome] = GroupCommit(self._write_many, max_batch=max_batch,
                                                                         concurrency=CONCURRENT_BATCHES)

    async def submit(self, new: service.NewReport) -> service.Submission:
        """The answer for one prepared submission, after its commit; raises its problem. Its event
        carries the trace context of the request that made it, and the report's journey is
        remembered as starting with it."""
        if (trace := current_trace()) is not None:
            self._traces[new.report_id] = trace
        try:
            outcome = await self._group.submit(new)
        finally:
            self._traces.pop(new.report_id, None)
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    async def _write(self, reports: list[service.NewReport]) -> list[Outcome]:
        async with self._uow_factory() as uow:
            self._dialect = uow.session.get_bind().dialect.name
            uow.continue_traces({r.report_id: trace for r in reports if (trace := self._traces.get(r.report_id))})
            outcomes = await store.submit_many(
                uow=uow, cipher=self._cipher, rules=self.rules, reports=reports, cache=self._cache)
            # Each new report's journey starts with its request's trace: remembered in the same
            # commit, one statement for the batch, so the events later raised about it continue it.
            uow.remember_traces({o.report_id: trace for o in outcomes if isinstance(o, service.Submission)
                                 and not o.replayed and (trace := self._traces.get(o.report_id)) is not None})
            await uow.commit()
        return outcomes

    async def _write_many(self, reports: list[service.NewReport]) -> list[Outcome | BaseException]:
        """The batch written after the batches in flight it must follow (see CONCURRENT_BATCHES)."""
        keys = None if self._dialect != "postgresql" else frozenset(
            key for r in reports for key in (r.row["subject_key"], None if r.idempotency_key is None
                                             else f"{r.principal}\x00{r.idempotency_key}") if key is not None)
        before = {done for held, done in self._in_flight
                  if keys is None or held is None or not keys.isdisjoint(held)}
        entry: tuple[frozenset[str] | None, asyncio.Future[None]] = (keys, asyncio.get_running_loop().create_future())
        self._in_flight.append(entry)  # no await since the look at those in flight: the order is exact
        try:
            if before:
                await asyncio.wait(before)  # (never cancels them, should this batch be cancelled)
            return await self._write_in_turn(reports)
        finally:
            self._in_flight.remove(entry)
            entry[1].set_result(None)

    async def _write_in_turn(self, reports: list[service.NewReport]) -> list[Outcome | BaseException]:
        try:
            return list(await self._write(reports))
        except Exception as exc:
            if is_transient(exc):
                log.warning("database unavailable; %d submission(s) refused", len(reports),
                            extra={"error": type(exc).__name__})
                return [self._refusal() for _ in reports]
            if len(reports) == 1:
                return [await self._alone_failed(reports[0], exc)]
            log.info("batch of %d failed (%s); writing them one by one", len(reports), type(exc).__name__)
        return [await self._write_alone(r) for r in reports]

    async def _write_alone(self, new: service.NewReport) -> Outcome | BaseException:
        try:
            return (await self._write([new]))[0]
        except Exception as exc:
            if is_transient(exc):
                return self._refusal()
            return await self._alone_failed(new, exc)

    async def _alone_failed(self, new: service.NewReport, exc: Exception) -> Outcome | BaseException:
        """A single submission's transaction failed: a retry that lost the race for its
        Idempotency-Key gets the first answer; anything else stays the error it is."""
        if not isinstance(exc, IntegrityError) or new.idempotency_key is None or new.fingerprint is None:
            return exc
        try:
            async with self._uow_factory() as uow:
                first = await store.replay(uow=uow, cipher=self._cipher, principal_subject=new.principal,
                                             key=new.idempotency_key, fingerprint=new.fingerprint,
                                             rules=self.rules)
        except DomainError as problem:
            return problem
        except Exception as lookup_exc:
            return self._refusal() if is_transient(lookup_exc) else lookup_exc
        return exc if first is None else first

    @staticmethod
    def _refusal() -> DatabaseUnavailable:
        return DatabaseUnavailable(Message("intake.not_stored"), retry_after=1)
