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
        return _step(await self.redis.get(self._keys.build(key, "state")))

    async def set_state(self, key: StateKey, state: str | None) -> None:
        redis_key = self._keys.build(key, "state")
        if state is None:
            await self.redis.delete(redis_key)
        else:
            await self.redis.set(redis_key, state, ex=self._ttl)

    async def get_data(self, key: StateKey) -> dict[str, Any]:
        return _data(await self.redis.get(self._keys.build(key, "data")))

    async def set_data(self, key: StateKey, data: Mapping[str, Any]) -> None:
        redis_key = self._keys.build(key, "data")
        if data:
            await self.redis.set(redis_key, json.dumps(dict(data)), ex=self._ttl)
        else:
            await self.redis.delete(redis_key)

    async def load(self, key: StateKey) -> tuple[str | None, dict[str, Any]]:
        # Both GETs in one round trip: a message's turn costs the lock, this and ``save``.
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(self._keys.build(key, "state"))
            pipe.get(self._keys.build(key, "data"))
            step, data = await pipe.execute()
        return _step(step), _data(data)

    async def save(self, key: StateKey, state: str | None, data: Mapping[str, Any]) -> None:
        # MULTI/EXEC: a reader never sees the new step with the old data.
        state_key, data_key = self._keys.build(key, "state"), self._keys.build(key, "data")
        async with self.redis.pipeline(transaction=True) as pipe:
            if state is None:
                pipe.delete(state_key)
            else:
                pipe.set(state_key, state, ex=self._ttl)
            if data:
                pipe.set(data_key, json.dumps(dict(data)), ex=self._ttl)
            else:
                pipe.delete(data_key)
            await pipe.execute()

    async def close(self) -> None:
        await self.redis.aclose()


def _step(value: bytes | str | None) -> str | None:
    return value.decode() if isinstance(value, bytes) else value


def _data(value: bytes | str | None) -> dict[str, Any]:
    if not value:
        return {}
    loaded: dict[str, Any] = json.loads(value)
    return loaded
