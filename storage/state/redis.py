"""The shared state store for several workers: Redis, with a TTL so idle state expires."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Self

from redis.asyncio import Redis

from storage.state.base import KeyBuilder, StateKey, StateStore

__all__ = ["RedisStateStore"]


class RedisStateStore(StateStore):
    """State in Redis: ``<prefix>:state:...`` holds the step, ``<prefix>:data:...`` JSON data."""

    def __init__(
        self, redis: Redis, *, state_ttl: int | None = None, keys: KeyBuilder | None = None
    ) -> None:
        self.redis = redis
        self._ttl = state_ttl
        self._keys = keys or KeyBuilder()

    @classmethod
    def from_url(cls, url: str, *, state_ttl: int | None = None, prefix: str = "otklik") -> Self:
        """Build a store on its own connection pool (connects lazily)."""
        return cls(Redis.from_url(url), state_ttl=state_ttl, keys=KeyBuilder(prefix))

    async def get_state(self, key: StateKey) -> str | None:
        value = await self.redis.get(self._keys.build(key, "state"))
        return value.decode() if isinstance(value, bytes) else value

    async def set_state(self, key: StateKey, state: str | None) -> None:
        redis_key = self._keys.build(key, "state")
        if state is None:
            await self.redis.delete(redis_key)
        else:
            await self.redis.set(redis_key, state, ex=self._ttl)

    async def get_data(self, key: StateKey) -> dict[str, Any]:
        value = await self.redis.get(self._keys.build(key, "data"))
        if not value:
            return {}
        loaded: dict[str, Any] = json.loads(value)
        return loaded

    async def set_data(self, key: StateKey, data: Mapping[str, Any]) -> None:
        redis_key = self._keys.build(key, "data")
        if data:
            await self.redis.set(redis_key, json.dumps(dict(data)), ex=self._ttl)
        else:
            await self.redis.delete(redis_key)

    async def close(self) -> None:
        await self.redis.aclose()
