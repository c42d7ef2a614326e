"""The consuming side of the broker: the one place that knows kafka-python's and Tansu's quirks.

A `KafkaSource` is one consumer-group member reading one topic. It opens and subscribes its
client, polls plain `Message`s, commits the offsets its caller gives it, and keeps positions
right across rebalances, broker restarts and recreated topics -- replacing its client where
kafka-python would otherwise get stuck. kafka-python clients are blocking and not thread-safe:
every call on the client runs on the source's one thread.

An idle source costs little: the broker holds a fetch that finds nothing for up to the fetch
wait, and that wait follows the traffic (`fetch_wait_ms`). While messages flow, and for some seconds
after, it is short, since on the Tansu broker a message produced during a held fetch waits out the
rest of it; as a quiet spell lengthens, so does the wait, up to `idle_fetch_wait_ms`, so the delay a
first message after a long lull can see stays a small share of that lull. Apache Kafka answers a held fetch as soon as
data arrives, where the long wait costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer
from kafka.errors import CommitFailedError, KafkaConnectionError
from kafka.structs import MemberState, OffsetAndMetadata, TopicPartition

from shared.broker import PLAINTEXT, KafkaSecurity, reachable
from shared.events import dead_letter_topic
from shared.inbox import Message
from shared.kafka_admin import ensure_topics

log = logging.getLogger("zhengming.consumer")


class _Reassigned(ConsumerRebalanceListener):
    """Marks the source for a position resync; the callbacks run on kafka-python's IO loop, so
    they only set a flag and the next poll does the (blocking) work."""

    def __init__(self, owner: KafkaSource) -> None:
        self.owner = owner

    def on_partitions_revoked(self, revoked: Any) -> None:
        pass

    def on_partitions_assigned(self, assigned: Any) -> None:
        self.owner.resume_from_committed()

    def on_partitions_lost(self, lost: Any) -> None:
        self.owner.resume_from_committed()


class KafkaSource:
    # kafka-python waits for the group coordinator without limit when fetching or committing
    # offsets; a broker that lost its groups could then hold the consumer silently for ever. A
    # timeout makes it a failure like any other: retried from the committed offsets, and logged.
    COORDINATOR_TIMEOUT_MS = 10_000
    REOPEN_WITHOUT_COORDINATOR_S = 60.0
    # A group join on the local broker takes about half the session timeout (3 s). One still going
    # after this long is held up: on Tansu a member that left while its group was forming stays the
    # group's awaited leader, and no one is given partitions for 14 to over 20 minutes. The group is then
    # formed anew (`_reform_group_sync`). Apache Kafka refuses to delete a group that has members, so
    # there a rebalance that is merely slow is left alone.
    HELD_UP_JOIN_S = 60.0

    def __init__(
        self,
        *,
        subscriber: str,
        topic: str,
        bootstrap: str,
        security: KafkaSecurity = PLAINTEXT,
        partitions: int = 3,
        session_timeout_ms: int = 6000,
        fetch_wait_ms: int = 100,
        idle_fetch_wait_ms: int = 1000,
        quiet_before_longer_s: float = 10.0,
    ) -> None:
        """`fetch_wait_ms`: how long the broker holds an empty fetch while messages flow;
        `idle_fetch_wait_ms`: the longest it is held after a quiet spell, which begins to lengthen it
        once it lasted `quiet_before_longer_s` (see the module's notes)."""
        self.subscriber = subscriber
        self.topic = topic
        self._bootstrap = bootstrap
        self._security = security
        self._partitions = partitions
        self._session_timeout_ms = session_timeout_ms
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"consumer-{subscriber}")
        self._consumer: KafkaConsumer | None = None
        # Set once the group gave this member partitions.
        self.assigned = asyncio.Event()
        self._has_assignment = False
        self._reassigned = False
        self._coordinator_found = 0.0  # the event loop's time when the client last knew its coordinator
        self._joining_since: float | None = None  # the event loop's time when the current join began
        # The topic's identity (KIP-516 topic id) as this consumer last polled it. The id changes
        # when the topic is recreated -- the in-memory broker restarted and lost its log and the
        # outbox replay refilled a new one, or an operator deleted and made it again -- and a
        # position in the old log means nothing in the new one.
        self._topic_id: str = ""
        # Set when the topic was recreated: the client is replaced, and its first assignment reads
        # every partition from the start instead of from committed offsets, which may be numbers
        # from the old log (the old client can commit, in the seconds before its metadata shows the
        # new id, what it fetched at old positions) and mean nothing in the new one.
        self._replace_client = False
        self._from_start = False
        self._busy_wait_ms = fetch_wait_ms
        self._idle_wait_ms = max(idle_fetch_wait_ms, fetch_wait_ms)
        # Gaps of a few seconds (between a burst's parts, an officer's steps) keep the short wait: the
        # first message after each would otherwise wait on a held fetch, and all that come with it.
        self._quiet_before_longer_s = quiet_before_longer_s
        self.fetch_wait_ms = fetch_wait_ms  # the wait the client asks the broker for now
        self._last_message = time.monotonic()  # when the last poll brought messages (or the source began)
        self._lags: dict[int, int] = {}  # partition -> how far behind its log's end, as of the last poll
        self._poll_timeout_ms = 300
        self.polls = 0  # poll rounds so far

    # The share of the quiet spell (beyond `quiet_before_longer_s`) that the next fetch may be held: a
    # message arriving after a lull of 10 + t seconds waits at most t/4 more (at most `idle_fetch_wait_ms`).
    QUIET_SHARE = 0.25

    def _next_fetch_wait_ms(self, quiet_s: float) -> int:
        longer_s = max(0.0, quiet_s - self._quiet_before_longer_s)
        return int(min(self._idle_wait_ms, max(self._busy_wait_ms, longer_s * 1000 * self.QUIET_SHARE)))

    async def _call(self, fn: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def resume_from_committed(self) -> None:
        """Have the next poll resume every partition from the group's committed offset (after a
        rebalance, or a failure that left positions in doubt)."""
        self._reassigned = True

    async def poll(self) -> dict[int, list[Message]]:
        """The next messages by partition, each partition's in order; opens the client if there is
        none. Empty while the client rejoins, resyncs its positions or is replaced."""
        loop = asyncio.get_running_loop()
        if self._consumer is None:
            self._consumer = await self._call(self._open_sync)
            self._coordinator_found = loop.time()
        # One hop to the client's thread per round: the poll, and what the checks below need.
        polled, joining, coordinator_unknown = await self._call(self._round_sync)
        self.polls += 1
        if self._replace_client:
            self._replace_client = False
            await self.close()
            return {}
        if self._has_assignment:
            self.assigned.set()
        if not joining:
            self._joining_since = None
        elif self._joining_since is None:
            self._joining_since = loop.time()
        elif loop.time() - self._joining_since > self.HELD_UP_JOIN_S:
            log.warning("group %s has been forming for %.0f s; forming it anew with its committed offsets",
                        self.subscriber, loop.time() - self._joining_since)
            self._joining_since = None
            await self._call(self._reform_group_sync)
        if not coordinator_unknown:
            self._coordinator_found = loop.time()
        elif loop.time() - self._coordinator_found > self.REOPEN_WITHOUT_COORDINATOR_S:
            # Seen after a broker restart on Tansu: the client polls without error but never finds
            # its group's coordinator again. A new client does.
            log.warning("no group coordinator for %.0f s; reopening the client",
                        loop.time() - self._coordinator_found)
            await self.close()
            return {}
        return polled

    async def commit(self, offsets: dict[int, int]) -> bool:
        """Commit each partition's next offset (all in one request); False if a rebalance took the
        commit away. A partition still ours then carries on from its offset; one that is not
        resumes with its new owner from the last commit, and the inbox absorbs what we applied."""
        try:
            await self._call(self._commit_sync, offsets)
            return True
        except CommitFailedError:
            log.info("offset commit lost to a rebalance", extra={"partitions": sorted(offsets)})
            await self._call(self._seek_sync, offsets)
            return False

    async def lag(self) -> dict[int, int]:
        """How far each partition this member holds is behind the end of its log (as of the last poll)."""
        if self._consumer is None:
            return {}
        return dict(self._lags)

    def assignment(self) -> set[int]:
        """The partitions this member holds."""
        return set() if self._consumer is None else {tp.partition for tp in self._consumer.assignment()}

    def joining(self) -> bool:
        """True while the client takes part in a group join (a rebalance) that has not completed."""
        return getattr(self._group_coordinator(), "state", None) is MemberState.REBALANCING

    def _group_coordinator(self) -> Any:
        return getattr(self._consumer, "_coordinator", None)  # no public accessor

    async def close(self) -> None:
        """Leave the group; the next poll opens a new client."""
        await self._call(self._close_sync)

    async def shutdown(self) -> None:
        """Leave the group for good, and stop the source's thread."""
        await self.close()
        self._executor.shutdown(wait=False)

    def _open_sync(self) -> KafkaConsumer:
        if not reachable(self._bootstrap):
            raise KafkaConnectionError(f"broker unreachable at {self._bootstrap}")
        ensure_topics(self._bootstrap, [self.topic, dead_letter_topic(self.topic)], partitions=self._partitions,
                      security=self._security)
        consumer = KafkaConsumer(
            bootstrap_servers=self._bootstrap,
            group_id=self.subscriber,
            client_id=f"{self.subscriber}-consumer",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self._session_timeout_ms,
            heartbeat_interval_ms=max(500, self._session_timeout_ms // 6),
            max_poll_records=100,
            # How long the broker holds a fetch that found nothing (default 500 ms). On the Tansu
            # broker a message produced meanwhile waits out the rest of it, so this bounds the
            # added latency; each empty fetch costs the client ~0.2 ms of CPU and the broker about
            # as much: ~2% of a core at 100 ms, ~0.4% at 1 s.
            # Set before every poll from the traffic (`_round_sync`).
            fetch_max_wait_ms=self.fetch_wait_ms,
            max_poll_interval_ms=300_000,
            # Refreshed often enough that a recreated topic (its id changed) is noticed within
            # seconds even when no error or rebalance says so; see `_poll_sync`.
            metadata_max_age_ms=10_000,
            # Topics are made by `ensure_topics` with the configured partitions, never on the side
            # by a metadata request after the broker lost them: the broker's default count would
            # change the partitions under a running group, which kafka-python 3.0.12 does not
            # always rebalance onto (a member kept three of four partitions for good).
            allow_auto_create_topics=False,
            **self._security.client_options(),
        )
        consumer.subscribe([self.topic], listener=_Reassigned(self))
        return consumer

    def _current_topic_id(self) -> str:
        assert self._consumer is not None
        topic_id = self._consumer._client.cluster.topic_id(self.topic)  # no public accessor
        return str(topic_id) if topic_id is not None else ""

    def _round_sync(self) -> tuple[dict[int, list[Message]], bool, bool]:
        """One poll round on the client's thread: the fetch wait set from the traffic, the poll, the
        lag of each partition, and whether the member is joining or lost its coordinator."""
        assert self._consumer is not None
        now = time.monotonic()
        wait_ms = self._next_fetch_wait_ms(now - self._last_message)
        if wait_ms != self.fetch_wait_ms:
            # kafka-python reads it for each fetch request it builds; no public setter.
            self._consumer._fetcher.config["fetch_max_wait_ms"] = wait_ms
            self.fetch_wait_ms = wait_ms
        # Waiting about as long as the fetch itself: the loop comes round once per empty fetch.
        self._poll_timeout_ms = max(300, wait_ms)
        polled = self._poll_sync()
        if polled:
            self._last_message = time.monotonic()
        self._lags = self._lag_sync()
        return polled, self.joining(), self._coordinator_unknown()

    def _poll_sync(self) -> dict[int, list[Message]]:
        assert self._consumer is not None
        records: dict[TopicPartition, list[Any]] = self._consumer.poll(timeout_ms=self._poll_timeout_ms)
        self._has_assignment = bool(self._consumer.assignment())
        current = self._current_topic_id()
        recreated = bool(self._topic_id and current and current != self._topic_id)
        if current:
            self._topic_id = current
        if recreated:
            # Positions in memory belong to the old log: what was just polled may come from the
            # middle of the new one. Drop it, and replace the client: kafka-python does not reliably
            # rebalance a running group onto a topic whose partitions changed under it. The new
            # client reads every partition from its start; the inbox absorbs what was applied.
            log.warning("topic %s was recreated; replacing the client to reread it from the beginning", self.topic)
            self._replace_client = self._from_start = True
            return {}
        if self._reassigned:
            self._resync_positions()
            return {}
        beyond = self._beyond_the_end()
        if beyond:
            # A position past the end of its log belongs to a log that no longer exists: the broker
            # lost its data and this client's metadata does not show the new topic id yet (it
            # refreshes every 10 s). Tansu waits at such a position instead of answering out of
            # range, so nothing would arrive meanwhile. Reread; the id change replaces the client.
            log.warning("position past the end of the log; rereading from the beginning",
                        extra={"partitions": sorted(tp.partition for tp in beyond)})
            for tp in beyond:
                self._consumer.seek_to_beginning(tp)
            return {}
        return {
            tp.partition: [Message(r.topic, r.partition, r.offset, r.key, r.headers, r.value) for r in polled]
            for tp, polled in records.items()
        }

    def _resync_positions(self) -> None:
        """After any (re)assignment, resume every partition from the group's committed offset,
        never from a position remembered in memory; what was polled with the old positions is
        dropped and fetched again."""
        assert self._consumer is not None
        self._reassigned = False
        assignment = self._consumer.assignment()
        for tp in assignment:
            committed = None
            if not self._from_start:
                committed = self._consumer.committed(tp, timeout_ms=self.COORDINATOR_TIMEOUT_MS)
            if committed is None:
                self._consumer.seek_to_beginning(tp)
            else:
                self._consumer.seek(tp, committed)
        if assignment:
            self._from_start = False

    def _beyond_the_end(self) -> list[TopicPartition]:
        assert self._consumer is not None
        beyond = []
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            state = self._consumer._subscription.assignment.get(tp)  # no public accessor
            if high is None or state is None or not state.has_valid_position:
                continue
            if state.position.offset > high:
                beyond.append(tp)
        return beyond

    def _coordinator_unknown(self) -> bool:
        coordinator = self._group_coordinator()
        return coordinator is not None and bool(coordinator.coordinator_unknown())

    def _lag_sync(self) -> dict[int, int]:
        """Each held partition's distance to the end of its log, for those whose position and end
        are known (without asking the broker)."""
        assert self._consumer is not None
        lags = {}
        for tp in self._consumer.assignment():
            high = self._consumer.highwater(tp)
            state = self._consumer._subscription.assignment.get(tp)  # no public accessor
            if high is not None and state is not None and state.has_valid_position:
                lags[tp.partition] = max(0, high - state.position.offset)
        return lags

    def _commit_sync(self, offsets: dict[int, int]) -> None:
        assert self._consumer is not None
        self._consumer.commit(
            {TopicPartition(self.topic, partition): OffsetAndMetadata(offset, "", -1)
             for partition, offset in offsets.items()},
            timeout_ms=self.COORDINATOR_TIMEOUT_MS)

    def _seek_sync(self, offsets: dict[int, int]) -> None:
        assert self._consumer is not None
        assignment = self._consumer.assignment()
        for partition, offset in offsets.items():
            tp = TopicPartition(self.topic, partition)
            if tp in assignment:
                self._consumer.seek(tp, offset)

    def _reform_group_sync(self) -> None:
        """Delete the held-up group and commit its offsets again: the next join forms a new group
        that starts where the old one was. The client keeps polling and joins it. Two members doing
        this at once can lose the offsets between them, and the group then rereads from the start:
        slower, never wrong, since the inbox absorbs what was applied before."""
        admin = KafkaAdminClient(bootstrap_servers=self._bootstrap, client_id=f"{self.subscriber}-admin",
                                 request_timeout_ms=self.COORDINATOR_TIMEOUT_MS, **self._security.client_options())
        try:
            offsets = {tp: OffsetAndMetadata(meta.offset, "", -1)
                       for tp, meta in admin.list_group_offsets(self.subscriber).get(self.subscriber, {}).items()
                       if meta.offset >= 0}
            outcome = admin.delete_groups([self.subscriber]).get(self.subscriber)
        finally:
            admin.close()
        if outcome != "OK":
            log.warning("group %s could not be deleted: %s", self.subscriber, outcome)
            return
        if offsets:
            # A member of no group (partitions assigned by hand) may commit a group's offsets.
            restorer = KafkaConsumer(bootstrap_servers=self._bootstrap, group_id=self.subscriber,
                                     client_id=f"{self.subscriber}-restorer", enable_auto_commit=False,
                                     **self._security.client_options())
            try:
                restorer.assign(list(offsets))
                restorer.commit(offsets, timeout_ms=self.COORDINATOR_TIMEOUT_MS)
            finally:
                restorer.close(autocommit=False)
        log.warning("group %s formed anew; %d committed offsets kept", self.subscriber, len(offsets))

    def _close_sync(self) -> None:
        if self._consumer is not None:
            self._finish_joining()
            self._consumer.close(autocommit=False)
            self._consumer = None

    def _finish_joining(self, limit_s: float = 10.0) -> None:
        """Let a group join in progress complete before leaving. On the Tansu broker a member that
        leaves while the group is forming stays its awaited leader, and the group takes no one else
        for many minutes. Records polled meanwhile are dropped and their offsets not committed."""
        assert self._consumer is not None
        deadline = time.monotonic() + limit_s
        while self.joining() and time.monotonic() < deadline:
            try:
                self._consumer.poll(timeout_ms=200)
            except Exception:  # leaving anyway; the broker may be the reason
                return
