"""A small load generator: raw HTTP/1.1 keep-alive connections driven from asyncio.

Run in its own process (bench/run.py does) so it never shares an event loop or a GIL with the
service under test. Closed loop: each connection sends the next request as soon as the last one
is answered, for a fixed duration after a warm-up.
"""

from __future__ import annotations

import asyncio
import json
import time
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
