"""Per-client rate limiting for public endpoints (token bucket, in process memory).

Each API process limits on its own; with N replicas behind a balancer a client gets at most N
times the rate, which still bounds guessing. The client is the TCP peer address, or the address a
configured trusted proxy names (ZM_TRUSTED_PROXIES); a client-sent X-Forwarded-For is never believed.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from shared.errors import DomainError
from shared.messages import Message


class RateLimited(DomainError):
    code = "rate_limited"
    status = 429


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`per_minute` requests a minute per client, with bursts up to `burst`."""

    def __init__(self, per_minute: int, *, burst: int | None = None, max_clients: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst or per_minute)
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def check(self, client: str, now: float | None = None) -> None:
        """Spend one token for `client`, or raise RateLimited saying when to come back."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.pop(client, None) or _Bucket(self.burst, now)
        bucket.tokens, bucket.updated = self._refilled(bucket, now), now
        self._buckets[client] = bucket  # most recently used last
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        self._refuse_if_empty(bucket.tokens)
        bucket.tokens -= 1

    def require_tokens(self, client: str, now: float | None = None) -> None:
        """RateLimited if `client`'s bucket is empty now; spends nothing (the caller spends on failure)."""
        bucket = self._buckets.get(client)
        if bucket is not None:
            self._refuse_if_empty(self._refilled(bucket, time.monotonic() if now is None else now))

    def _refilled(self, bucket: _Bucket, now: float) -> float:
        return min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)

    def _refuse_if_empty(self, tokens: float) -> None:
        if tokens < 1:
            retry_after = math.ceil((1 - tokens) / self.rate)
            raise RateLimited(Message("rate.slow_down", retry_after=retry_after), retry_after=retry_after)
