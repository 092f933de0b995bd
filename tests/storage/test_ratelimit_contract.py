"""One contract, both twins: the memory rate limiter and the Redis one count the same."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from redis.asyncio import Redis

from storage.ratelimit import Limit, MemoryRateLimiter, RateLimiter, RedisRateLimiter

START = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
THREE_A_MINUTE = Limit(hits=3, window=60)


@pytest.fixture(params=["memory", "redis"])
async def limiter(request: pytest.FixtureRequest) -> AsyncIterator[RateLimiter]:
    if request.param == "memory":
        made: RateLimiter = MemoryRateLimiter()
    else:
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        made = RedisRateLimiter(Redis.from_url(url), prefix=prefix)
    yield made
    await made.close()


async def test_hits_up_to_the_limit_pass_and_the_next_waits_for_the_window(
    limiter: RateLimiter,
) -> None:
    at = START + timedelta(seconds=45)
    allowed = [await limiter.hit("visitor-1", THREE_A_MINUTE, at) for _ in range(3)]

    refused = await limiter.hit("visitor-1", THREE_A_MINUTE, at)

    assert allowed == [0.0, 0.0, 0.0]
    assert refused == pytest.approx(15.0)


async def test_a_new_window_starts_counting_again(limiter: RateLimiter) -> None:
    for _ in range(4):
        await limiter.hit("visitor-1", THREE_A_MINUTE, START)

    assert await limiter.hit("visitor-1", THREE_A_MINUTE, START + timedelta(minutes=1)) == 0.0


async def test_keys_are_counted_apart(limiter: RateLimiter) -> None:
    for _ in range(3):
        await limiter.hit("visitor-1", THREE_A_MINUTE, START)

    assert await limiter.hit("visitor-2", THREE_A_MINUTE, START) == 0.0
    assert await limiter.hit("visitor-1", THREE_A_MINUTE, START) > 0


async def test_the_memory_twin_forgets_windows_that_ended() -> None:
    limiter = MemoryRateLimiter()
    for minute in range(100):
        await limiter.hit("visitor-1", THREE_A_MINUTE, START + timedelta(minutes=minute))

    assert limiter.size == 1
