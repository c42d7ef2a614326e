"""A small load generator: raw HTTP/1.1 keep-alive connections driven from asyncio.

Run in its own process (bench/run.py does) so it never shares an event loop or a GIL with the
service under test. Closed loop: each connection sends the next request as soon as the last one
is answered, for a fixed duration after a warm-up.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass
class Result:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]
    bodies: list[bytes]

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)

        def pct(p: float) -> float:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else 0.0

        return {"requests": self.requests, "errors": self.errors, "seconds": round(self.seconds, 2),
                "rps": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
                "p50_ms": pct(0.50), "p95_ms": pct(0.95), "p99_ms": pct(0.99), "statuses": self.statuses}


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> tuple[int, bytes]:
    writer.write(raw)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    body = await reader.readexactly(length) if length else b""
    return status, body


def build(method: str, path: str, host: str, headers: dict[str, str], body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", "Connection: keep-alive",
             f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def closed_loop(host: str, port: int, make_request: Callable[[int], bytes], *, connections: int,
                      duration_s: float, warmup_s: float, keep_bodies: bool = False) -> Result:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    bodies: list[bytes] = []
    counter = {"n": 0, "errors": 0}
    start = time.perf_counter()
    measure_from = start + warmup_s
    stop_at = measure_from + duration_s

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (now := time.perf_counter()) < stop_at:
                counter["n"] += 1
                t0 = now
                try:
                    status, body = await _request(reader, writer, make_request(counter["n"]))
                except (OSError, asyncio.IncompleteReadError):
                    counter["errors"] += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                t1 = time.perf_counter()
                if t0 >= measure_from:
                    latencies.append((t1 - t0) * 1000)
                    statuses[status] = statuses.get(status, 0) + 1
                    if keep_bodies:
                        bodies.append(body)
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(connections)))
    measured = len(latencies)
    return Result(measured, counter["errors"], duration_s, latencies, statuses, bodies)


async def open_loop(host: str, port: int, make_request: Callable[[int], bytes], *, rate: float,
                    duration_s: float, connections: int = 32) -> tuple[Result, list[tuple[float, bytes]]]:
    """A fixed arrival rate; latency from when each request was due. Returns (result, [(t_201, body)])."""
    pool: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await asyncio.open_connection(host, port))
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    answered: list[tuple[float, bytes]] = []
    start = time.perf_counter()
    total = int(rate * duration_s)

    async def one(i: int) -> None:
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        conn = await pool.get()
        try:
            status, body = await _request(*conn, make_request(i))
        finally:
            pool.put_nowait(conn)
        done = time.perf_counter()
        latencies.append((done - due) * 1000)
        statuses[status] = statuses.get(status, 0) + 1
        answered.append((time.time(), body))

    await asyncio.gather(*(one(i) for i in range(total)))
    result = Result(len(latencies), 0, time.perf_counter() - start, latencies, statuses, [])
    return result, answered


def json_body(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


# --- the lean engine: one asyncio Protocol per connection, no task or stream per request ------------
#
# At several thousand requests a second the generator shares two cores with the service, so every
# microsecond it spends is taken from what it measures. StreamReader/StreamWriter and a task per
# request cost ~0.2 ms a request; a Protocol that parses the response in data_received and sends the
# next request from there costs a few tens of microseconds (uvloop, when installed, halves it again).


def use_fast_event_loop() -> None:
    """uvloop if it is installed (it is in the project's venv); the standard loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 keep-alive connection with at most one request in flight."""

    def __init__(self, on_answer: Callable[[_Connection, int, bytes], None],
                 on_lost: Callable[[_Connection], None]) -> None:
        self.on_answer = on_answer
        self.on_lost = on_lost
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.busy = False
        self.closed = False
        self.sent_at = 0.0  # when the request in flight was sent (closed loop) or fell due (open loop)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.on_lost(self)

    def send(self, raw: bytes, since: float) -> None:
        self.sent_at = since
        self.busy = True
        assert self.transport is not None
        self.transport.write(raw)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            at = head.find(b"\r\ncontent-length:")
            length = 0
            if at >= 0:
                eol = head.find(b"\r\n", at + 2)
                length = int(head[at + 17:eol if eol >= 0 else len(head)])
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4:end + 4 + length]
            self.buffer = self.buffer[end + 4 + length:]
            self.busy = False
            self.on_answer(self, int(head[9:12]), body)


@dataclass
class Tally:
    """What came back: latencies (seconds), statuses, and how many bodies matched `marker`."""

    marker: bytes | None
    measure_from: float
    latencies: list[float]
    statuses: dict[int, int]
    marked: int = 0

    def record(self, started: float, now: float, status: int, body: bytes) -> None:
        if started < self.measure_from:
            return
        self.latencies.append(now - started)
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if self.marker is not None and self.marker in body:
            self.marked += 1


def percentiles_ms(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {}
    ordered = sorted(latencies)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 3)

    return {"p50_ms": at(0.50), "p90_ms": at(0.90), "p99_ms": at(0.99), "p99_9_ms": at(0.999),
            "max_ms": round(ordered[-1] * 1000, 3), "mean_ms": round(sum(ordered) / len(ordered) * 1000, 3)}


async def _connect(host: str, ports: list[int], count: int, on_answer: Callable[[_Connection, int, bytes], None],
                   on_lost: Callable[[_Connection], None]) -> list[_Connection]:
    loop = asyncio.get_running_loop()
    conns = []
    for k in range(count):
        _, conn = await loop.create_connection(lambda: _Connection(on_answer, on_lost), host, ports[k % len(ports)])
        conns.append(conn)
    return conns


async def lean_closed_loop(host: str, ports: list[int], requests: list[bytes], *, connections: int, warmup_s: float,
                           duration_s: float, marker: bytes | None = None) -> dict[str, Any]:
    """Each connection sends its next request as soon as the last is answered; latency from sending."""
    loop = asyncio.get_running_loop()
    clock = time.perf_counter
    start = clock()
    tally = Tally(marker, start + warmup_s, [], {})
    stop_at = start + warmup_s + duration_s
    done = loop.create_future()
    state = {"next": 0, "open": connections}

    def on_answer(conn: _Connection, status: int, body: bytes) -> None:
        now = clock()
        tally.record(conn.sent_at, now, status, body)
        if now < stop_at and not conn.closed:
            conn.send(requests[state["next"] % len(requests)], clock())
            state["next"] += 1
            return
        state["open"] -= 1
        if state["open"] == 0 and not done.done():
            done.set_result(None)

    def on_lost(conn: _Connection) -> None:
        """A connection the server closed: its request counts as an error (status 0), and a new
        connection takes its place while the run lasts."""
        if conn.busy:
            conn.busy = False
            on_answer(conn, 0, b"")
            if clock() < stop_at:
                replacing.add(loop.create_task(replace()))

    async def replace() -> None:
        (conn,) = await _connect(host, ports, 1, on_answer, on_lost)
        conns.append(conn)
        state["open"] += 1
        on_answer_from_new(conn)

    replacing: set[asyncio.Task[None]] = set()

    def on_answer_from_new(conn: _Connection) -> None:
        conn.send(requests[state["next"] % len(requests)], clock())
        state["next"] += 1

    conns = await _connect(host, ports, connections, on_answer, on_lost)
    for conn in list(conns):
        on_answer_from_new(conn)
    await done
    for conn in conns:
        if conn.transport is not None and not conn.closed:
            conn.transport.close()
    return {"mode": "closed_loop", "connections": connections, "duration_s": duration_s,
            "requests": len(tally.latencies), "throughput_per_s": round(len(tally.latencies) / duration_s, 1),
            "statuses": tally.statuses, **({"marked_answers": tally.marked} if marker else {}),
            **percentiles_ms(tally.latencies)}


async def lean_open_loop(host: str, ports: list[int], requests: list[bytes], *, rate: float, connections: int,
                         warmup_s: float, duration_s: float, marker: bytes | None = None) -> dict[str, Any]:
    """Requests fall due at a fixed rate whatever the answers do; each is timed from when it fell due, so a
    request waiting for a free connection or a late wake-up of this process counts against the service
    (no coordinated omission)."""
    loop = asyncio.get_running_loop()
    clock = time.perf_counter
    total = int(rate * (warmup_s + duration_s))
    idle: deque[_Connection] = deque()  # first in, first out: every connection stays in use (a server
    # closes a keep-alive connection left idle for a few seconds)
    backlog: deque[tuple[int, float]] = deque()
    state = {"due": 0, "answered": 0, "max_backlog": 0}
    done = loop.create_future()
    origin = 0.0
    tally = Tally(marker, 0.0, [], {})

    def dispatch(conn: _Connection, n: int, due: float) -> None:
        conn.send(requests[n % len(requests)], due)

    def pump() -> None:
        """Issue every request that has fallen due by now."""
        due_now = min(total, int((clock() - origin) * rate) + 1)
        while state["due"] < due_now:
            n = state["due"]
            state["due"] += 1
            due = origin + n / rate
            if idle:
                dispatch(idle.popleft(), n, due)
            else:
                backlog.append((n, due))
        state["max_backlog"] = max(state["max_backlog"], len(backlog))

    def on_answer(conn: _Connection, status: int, body: bytes) -> None:
        tally.record(conn.sent_at, clock(), status, body)
        state["answered"] += 1
        if state["answered"] == total:
            done.set_result(None)
            return
        if not conn.closed:
            give_work(conn)

    def give_work(conn: _Connection) -> None:
        pump()
        if backlog:
            n, due = backlog.popleft()
            dispatch(conn, n, due)
        else:
            idle.append(conn)

    def on_lost(conn: _Connection) -> None:
        """A connection the server closed: a request in flight on it counts as an error (status 0),
        and a new connection takes its place."""
        if conn in idle:
            idle.remove(conn)
        if conn.busy:
            conn.busy = False
            on_answer(conn, 0, b"")
        if not done.done():
            replacing.add(loop.create_task(replace()))

    async def replace() -> None:
        (conn,) = await _connect(host, ports, 1, on_answer, on_lost)
        give_work(conn)

    replacing: set[asyncio.Task[None]] = set()

    def tick() -> None:
        # Answers arriving pump too; this wakes the loop when none arrive. The event loop's timers
        # have millisecond resolution (a shorter delay spins it), so a request may go out up to
        # ~1 ms after it fell due: that delay is counted in its latency, against the service.
        pump()
        if state["due"] < total:
            loop.call_later(0.001, tick)

    idle.extend(await _connect(host, ports, connections, on_answer, on_lost))
    origin = clock()
    tally.measure_from = origin + warmup_s
    tick()
    await done
    elapsed = clock() - origin - warmup_s
    for conn in list(idle):
        if conn.transport is not None and not conn.closed:
            conn.transport.close()
    return {"mode": "open_loop", "target_rate_per_s": rate, "connections": connections, "duration_s": duration_s,
            "requests": len(tally.latencies), "achieved_rate_per_s": round(len(tally.latencies) / elapsed, 1),
            "statuses": tally.statuses, "most_waiting_for_a_connection": state["max_backlog"],
            **percentiles_ms(tally.latencies)}
