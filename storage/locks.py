"""Per-conversation locks: one message of a chat is handled at a time, in any worker.

The lock is taken *before* state is loaded (aiogram #1317: loading first lets two quick
messages both read the old step). The memory twin forgets locks nobody holds, so a long-running
process does not keep one lock per chat it has ever seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from redis.exceptions import LockError

from storage.state.base import KeyBuilder, StateKey

__all__ = ["MAX_HOLD", "ConversationLock", "MemoryConversationLock", "RedisConversationLock"]

log = logging.getLogger(__name__)

MAX_HOLD = 600.0
"""Seconds a live turn's Redis lock is renewed for at most; past that it may expire."""


class ConversationLock(ABC):
    """Mutual exclusion per :class:`StateKey`."""

    @abstractmethod
    def lock(self, key: StateKey) -> AbstractAsyncContextManager[None]:
        """``async with locks.lock(key):`` — held by one task at a time per key.

        The tasks of one process get it in the order they asked: a chat's messages take
        their turns in the order they arrived.
        """

    @abstractmethod
    def users(self, key: StateKey) -> int:
        """How many tasks of this process hold or wait for ``key``'s lock."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""


class MemoryConversationLock(ConversationLock):
    """asyncio locks in this process, evicted once no task holds or waits for them."""

    def __init__(self) -> None:
        self._locks: dict[StateKey, tuple[asyncio.Lock, int]] = {}

    @property
    def size(self) -> int:
        """How many keys have a lock right now (held or awaited)."""
        return len(self._locks)

    def users(self, key: StateKey) -> int:
        """How many tasks hold or wait for ``key``'s lock."""
        return self._locks.get(key, (None, 0))[1]

    @asynccontextmanager
    async def lock(self, key: StateKey) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class RedisConversationLock(ConversationLock):
    """A Redis lock shared by every worker; it expires after ``timeout`` if a worker dies.

    Redis hands a free lock to whichever waiter polls first, so within a process the waiters
    first queue on a local lock, in order, and only the first of them polls Redis. A waiter
    gives up after ``blocking_timeout``, which is longer than ``timeout``: a lock left by a
    dead worker expires before anyone behind it gives up.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        timeout: float = 60.0,
        blocking_timeout: float | None = None,
        keys: KeyBuilder | None = None,
    ) -> None:
        self.redis = redis
        self._timeout = timeout
        self._blocking_timeout = timeout * 1.5 if blocking_timeout is None else blocking_timeout
        self._keys = keys or KeyBuilder()
        self._local = MemoryConversationLock()

    def users(self, key: StateKey) -> int:
        return self._local.users(key)

    @asynccontextmanager
    async def lock(self, key: StateKey) -> AsyncIterator[None]:
        # A lock that expired or vanished (a turn outlived ``timeout``, or Redis restarted
        # without persistence) is logged when released, not raised: the turn's work is done
        # and its state saved, and raising would trade its replies for an apology.
        lock = self.redis.lock(
            self._keys.build(key, "lock"),
            timeout=self._timeout,
            blocking_timeout=self._blocking_timeout,
            sleep=0.01,
            raise_on_release_error=False,
        )
        async with self._local.lock(key), lock:
            keeper = asyncio.create_task(self._keep(lock, key))
            try:
                yield
            finally:
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await keeper

    async def _keep(self, lock: Lock, key: StateKey) -> None:
        """Renew the lock while the turn holds it (its replies can take a while to send: a
        429 waited out), so it does not expire under a live turn and let the chat's next
        message overtake it. A worker that dies stops renewing, and the lock expires; a turn
        stuck past ``MAX_HOLD`` is no longer covered."""
        renewals = int(MAX_HOLD / (self._timeout / 3))
        for _ in range(renewals):
            await asyncio.sleep(self._timeout / 3)
            try:
                await lock.reacquire()
            except LockError:
                log.warning("the lock of %s was lost while its turn ran", key)
                return
            except Exception:  # Redis out of reach: the turn goes on; the lock may expire
                log.warning("renewing the lock of %s failed", key, exc_info=True)
                return
        log.warning("the turn of %s held its lock past %.0f s; no longer renewed", key, MAX_HOLD)

    async def close(self) -> None:
        await self.redis.aclose()
