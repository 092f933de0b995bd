"""One contract, both twins: the memory state store and the Redis one behave the same."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from storage.locks import ConversationLock, MemoryConversationLock, RedisConversationLock
from storage.state import KeyBuilder, MemoryStateStore, RedisStateStore, StateKey, StateStore

KEY = StateKey("telegram", "100", "7")
OTHER = StateKey("telegram", "101", "7")


@pytest.fixture(params=["memory", "redis"])
async def state_store(request: pytest.FixtureRequest) -> AsyncIterator[StateStore]:
    if request.param == "memory":
        store: StateStore = MemoryStateStore()
    else:
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        store = RedisStateStore(Redis.from_url(url), state_ttl=60, keys=KeyBuilder(prefix))
    yield store
    await store.close()


@pytest.fixture(params=["memory", "redis"])
async def locks(request: pytest.FixtureRequest) -> AsyncIterator[ConversationLock]:
    if request.param == "memory":
        lock: ConversationLock = MemoryConversationLock()
    else:
        url = request.getfixturevalue("redis_url")
        prefix = request.getfixturevalue("redis_prefix")
        lock = RedisConversationLock(Redis.from_url(url), timeout=10, keys=KeyBuilder(prefix))
    yield lock
    await lock.close()


async def test_a_new_conversation_has_no_state_and_no_data(state_store: StateStore) -> None:
    assert await state_store.get_state(KEY) is None
    assert await state_store.get_data(KEY) == {}


async def test_state_and_data_are_kept_per_key(state_store: StateStore) -> None:
    await state_store.set_state(KEY, "feedback.awaiting")
    await state_store.set_data(KEY, {"entry": "qr-12", "tries": 2, "tags": ["a"]})

    assert await state_store.get_state(KEY) == "feedback.awaiting"
    assert await state_store.get_data(KEY) == {"entry": "qr-12", "tries": 2, "tags": ["a"]}
    assert await state_store.get_state(OTHER) is None
    assert await state_store.get_data(OTHER) == {}


async def test_clearing_returns_to_the_top_level(state_store: StateStore) -> None:
    await state_store.set_state(KEY, "handoff.waiting")
    await state_store.set_data(KEY, {"x": 1})

    await state_store.set_state(KEY, None)
    await state_store.set_data(KEY, {})

    assert await state_store.get_state(KEY) is None
    assert await state_store.get_data(KEY) == {}


async def test_data_read_is_a_copy(state_store: StateStore) -> None:
    await state_store.set_data(KEY, {"items": [1]})

    data = await state_store.get_data(KEY)
    data["items"].append(2)

    assert await state_store.get_data(KEY) == {"items": [1]}


async def test_a_turn_loads_and_saves_step_and_data_together(state_store: StateStore) -> None:
    assert await state_store.load(KEY) == (None, {})

    await state_store.save(KEY, "feedback.awaiting", {"tries": 1})
    step, data = await state_store.load(KEY)
    data["tries"] = 5  # a copy: nothing changes until the next save

    assert step == "feedback.awaiting"
    assert await state_store.get_data(KEY) == {"tries": 1}
    assert await state_store.load(OTHER) == (None, {})

    await state_store.save(KEY, None, {})

    assert await state_store.load(KEY) == (None, {})
    assert await state_store.get_state(KEY) is None


async def test_update_data_merges(state_store: StateStore) -> None:
    await state_store.set_data(KEY, {"a": 1, "b": 2})

    merged = await state_store.update_data(KEY, b=3, c=4)

    assert merged == {"a": 1, "b": 3, "c": 4}
    assert await state_store.get_data(KEY) == merged


async def test_keys_with_separators_do_not_collide(state_store: StateStore) -> None:
    await state_store.set_state(StateKey("web", "a:b", "c"), "one")
    await state_store.set_state(StateKey("web", "a", "b:c"), "two")

    assert await state_store.get_state(StateKey("web", "a:b", "c")) == "one"
    assert await state_store.get_state(StateKey("web", "a", "b:c")) == "two"


async def test_redis_state_expires_after_the_ttl(redis_url: str, redis_prefix: str) -> None:
    redis = Redis.from_url(redis_url)
    store = RedisStateStore(redis, state_ttl=120, keys=KeyBuilder(redis_prefix))
    await store.set_state(KEY, "feedback.awaiting")

    ttl = await redis.ttl(KeyBuilder(redis_prefix).build(KEY, "state"))

    assert 0 < ttl <= 120
    await store.close()


async def test_a_second_holder_waits_until_the_first_releases(locks: ConversationLock) -> None:
    order: list[str] = []
    first_holds = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with locks.lock(KEY):
            order.append("first in")
            first_holds.set()
            await release_first.wait()
            order.append("first out")

    async def second() -> None:
        await first_holds.wait()
        async with locks.lock(KEY):
            order.append("second in")

    tasks = [asyncio.create_task(first()), asyncio.create_task(second())]
    await first_holds.wait()
    # Let the second task run up to its lock attempt; it must not get in.
    for _ in range(20):
        await asyncio.sleep(0)
    assert order == ["first in"]
    release_first.set()
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)

    assert order == ["first in", "first out", "second in"]


async def test_waiters_get_the_lock_in_the_order_they_asked(locks: ConversationLock) -> None:
    # A chat's second and third messages wait for its first turn and must keep their order.
    order: list[str] = []

    async def waiter(name: str) -> None:
        async with locks.lock(KEY):
            order.append(name)

    async def waiting(count: int) -> None:
        while locks.users(KEY) < count:  # noqa: ASYNC110 - no event says so
            await asyncio.sleep(0)

    async with locks.lock(KEY):
        tasks = []
        for count, name in enumerate(("second", "third", "fourth"), start=2):
            tasks.append(asyncio.create_task(waiter(name)))
            await asyncio.wait_for(waiting(count), timeout=5)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=10)

    assert order == ["second", "third", "fourth"]
    assert locks.users(KEY) == 0


async def test_different_conversations_do_not_block_each_other(locks: ConversationLock) -> None:
    async with locks.lock(KEY), asyncio.timeout(5), locks.lock(OTHER):
        entered = True

    assert entered


async def test_a_redis_lock_lost_mid_turn_does_not_fail_the_turn(
    redis_url: str, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    redis = Redis.from_url(redis_url)
    keys = KeyBuilder(redis_prefix)
    locks = RedisConversationLock(redis, timeout=10, keys=keys)
    finished = False

    async with locks.lock(KEY):
        await redis.delete(keys.build(KEY, "lock"))  # as after a Redis restart or an expiry
        finished = True

    assert finished
    assert "no longer owned" in caplog.text
    async with locks.lock(KEY):  # and the conversation can be locked again
        pass
    await locks.close()


async def test_a_redis_lock_is_renewed_while_its_turn_runs(
    redis_url: str, redis_prefix: str
) -> None:
    # Replies are sent inside the lock, and a 429 waited out can outlast its timeout: expired,
    # the lock would let the chat's next message overtake this turn in another worker.
    redis = Redis.from_url(redis_url)
    keys = KeyBuilder(redis_prefix)
    locks = RedisConversationLock(redis, timeout=0.6, keys=keys)
    name = keys.build(KEY, "lock")

    async def renewed() -> None:
        lowest = await redis.pttl(name)
        while (left := await redis.pttl(name)) <= lowest + 100:
            lowest = min(lowest, left)
            await asyncio.sleep(0.01)  # polling Redis for a change, not timing the test

    async with locks.lock(KEY):
        await asyncio.wait_for(renewed(), timeout=5)
        assert await redis.exists(name)

    assert not await redis.exists(name)  # released at the end of the turn
    await locks.close()


async def test_the_memory_lock_forgets_keys_nobody_holds() -> None:
    locks = MemoryConversationLock()
    for chat in range(100):
        async with locks.lock(StateKey("web", str(chat), "u")):
            assert locks.size == 1

    assert locks.size == 0


async def test_the_memory_store_forgets_the_least_recently_used_conversations() -> None:
    # Its Redis twin lets idle state expire; in memory, a long-running bot keeps a bounded
    # number of conversations, most recently used first.
    store = MemoryStateStore(max_conversations=2)
    first, second, third = (StateKey("web", chat, "u") for chat in ("1", "2", "3"))
    await store.set_state(first, "feedback:waiting")
    await store.set_data(first, {"n": 1})
    await store.set_state(second, "question:waiting")
    await store.set_data(second, {"n": 2})
    assert await store.get_state(first) == "feedback:waiting"  # used again: now the newest
    assert await store.get_data(first) == {"n": 1}

    await store.set_state(third, "handoff:waiting")
    await store.set_data(third, {"n": 3})

    assert await store.get_state(second) is None, "the least recently used is forgotten"
    assert await store.get_data(second) == {}
    assert await store.get_state(first) == "feedback:waiting"
    assert await store.get_data(third) == {"n": 3}
