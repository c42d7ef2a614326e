import pytest

from shared.ratelimit import RateLimited, RateLimiter


def test_burst_then_refused_with_retry_after_then_refilled():
    limiter = RateLimiter(per_minute=6, burst=3)
    for _ in range(3):
        limiter.check("1.2.3.4", now=100.0)
    with pytest.raises(RateLimited) as refused:
        limiter.check("1.2.3.4", now=100.0)
    assert refused.value.status == 429 and refused.value.extra["retry_after"] == 10
    limiter.check("5.6.7.8", now=100.0)  # another client is not affected
    limiter.check("1.2.3.4", now=110.0)  # one token back after 10 s


def test_memory_is_bounded():
    limiter = RateLimiter(per_minute=1, max_clients=100)
    for i in range(1000):
        limiter.check(f"10.0.{i // 256}.{i % 256}", now=1.0)
    assert len(limiter._buckets) == 100
