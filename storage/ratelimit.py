"""Rate limits per key (a web chat visitor, an address): a memory twin and a Redis twin.

Fixed windows counted on the caller's clock, so tests move time by hand and several workers
sharing Redis count together. A refused hit says how long until the window ends, for a
``Retry-After`` header.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

from redis.asyncio import Redis

__all__ = ["Limit", "MemoryRateLimiter", "RateLimiter", "RedisRateLimiter"]


@dataclass(frozen=True, slots=True)
class Limit:
    """At most ``hits`` per ``window`` seconds."""

    hits: int
    window: int


class RateLimiter(ABC):
    """Counts hits per key and window."""

    @abstractmethod
    async def hit(self, key: str, limit: Limit, now: datetime) -> float:
        """Count one hit; 0 when allowed, else the seconds until the window ends."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    @staticmethod
    def _window(limit: Limit, now: datetime) -> tuple[int, float]:
        """The window's number and the seconds left in it."""
        stamp = now.timestamp()
        number = math.floor(stamp / limit.window)
        return number, (number + 1) * limit.window - stamp


class MemoryRateLimiter(RateLimiter):
    """Counters in this process; windows that ended are dropped as new ones start."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int, int], int] = {}

    @property
    def size(self) -> int:
        """How many counters are kept right now."""
        return len(self._counts)

    async def hit(self, key: str, limit: Limit, now: datetime) -> float:
        number, left = self._window(limit, now)
        slot = (key, limit.window, number)
        if slot not in self._counts:
            self._forget_before(limit.window, number)
        count = self._counts.get(slot, 0) + 1
        self._counts[slot] = count
        return 0.0 if count <= limit.hits else left

    def _forget_before(self, window: int, number: int) -> None:
        stale = [s for s in self._counts if s[1] == window and s[2] < number]
        for slot in stale:
            del self._counts[slot]


class RedisRateLimiter(RateLimiter):
    """Counters in Redis (``<prefix>:rate:<key>:<window>``), shared by every worker."""

    def __init__(self, redis: Redis, *, prefix: str = "otklik") -> None:
        self.redis = redis
        self._prefix = prefix

    async def hit(self, key: str, limit: Limit, now: datetime) -> float:
        number, left = self._window(limit, now)
        redis_key = f"{self._prefix}:rate:{key}:{limit.window}:{number}"
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.incr(redis_key)
            pipe.expire(redis_key, limit.window * 2)
            count, _ = await pipe.execute()
        return 0.0 if int(count) <= limit.hits else left

    async def close(self) -> None:
        await self.redis.aclose()
