"""A platform event delivered again: answered once, and answered at all when a worker died.

Two set-ups, both real: one process on SQLite with state in memory (the embedded default, where
"another worker" is the process started again after a crash), and two workers sharing Redis
state and locks over PostgreSQL. A worker that dies is one whose work simply stops: its
message filed and nothing after (a kill between two statements), or its turn task cancelled
while its replies were being sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bots.messages import IncomingMessage
from config import CONFIG_DIR
from config.catalog import Catalog
from dialogs.bus import EventBus
from dialogs.clock import ManualClock
from dialogs.engine import Engine, TurnResult
from dialogs.flows import FallbackFlow, Flow, MenuFlow
from dialogs.turn import Turn
from storage.database import Database
from storage.journal import MessageJournal
from storage.locks import ConversationLock, MemoryConversationLock, RedisConversationLock
from storage.state import KeyBuilder, MemoryStateStore, RedisStateStore, StateStore

MESSAGE = IncomingMessage(
    channel="telegram", chat_id="42", user_id="42", text="меню", source_id="update-1001"
)


@dataclass
class Setup:
    """Workers over one database; ``worker()`` starts one (in memory: the process restarted)."""

    database: Database
    worker: Callable[..., Engine]
    shared_state: bool


@pytest.fixture(params=["sqlite-memory", "postgres-redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str | None, str]:
    """The database's URL, and Redis's with a key prefix when the workers share it."""
    if request.param == "sqlite-memory":
        return f"sqlite+aiosqlite:///{tmp_path / 'otklik.db'}", None, ""
    return (
        request.getfixturevalue("postgres_url"),
        request.getfixturevalue("redis_url"),
        request.getfixturevalue("redis_prefix"),
    )


@pytest.fixture
async def setup(backend: tuple[str, str | None, str], clock: ManualClock) -> AsyncIterator[Setup]:
    url, redis_url, prefix = backend
    shared = redis_url is not None
    redis = Redis.from_url(redis_url) if redis_url is not None else None
    keys = KeyBuilder(prefix)
    database = Database(url)
    await database.upgrade()
    catalog = Catalog.load(CONFIG_DIR / "messages")

    def worker(*flows: Flow) -> Engine:
        states: StateStore
        locks: ConversationLock
        if redis is not None:
            states = RedisStateStore(redis, state_ttl=120, keys=keys)
            locks = RedisConversationLock(redis, timeout=10, keys=keys)
        else:
            states, locks = MemoryStateStore(), MemoryConversationLock()
        return Engine(
            journal=MessageJournal(database.journal_writer()),
            states=states,
            locks=locks,
            catalog=catalog,
            flows=[*flows, MenuFlow(), FallbackFlow()],
            bus=EventBus(),
            clock=clock,
        )

    yield Setup(database, worker, shared)
    if redis is not None:
        await redis.aclose()
    await database.dispose()


class Send:
    """A ``deliver`` that records what it was handed; ``hold()`` makes it wait until let go."""

    def __init__(self) -> None:
        self.handed: list[TurnResult] = []
        self.sending = asyncio.Event()
        self._go: asyncio.Event | None = None

    def hold(self) -> Send:
        self._go = asyncio.Event()
        return self

    def release(self) -> None:
        assert self._go is not None
        self._go.set()

    async def __call__(self, result: TurnResult) -> None:
        self.sending.set()
        if self._go is not None:
            await self._go.wait()
        self.handed.append(result)


async def _incoming(database: Database) -> int:
    async with database.uow() as uow:
        conversation = await uow.conversations.find_by_chat("telegram", "42")
        assert conversation is not None
        return sum(m.direction == "in" for m in await uow.messages.history(conversation))


async def test_an_event_stored_by_a_worker_that_died_is_answered_when_delivered_again(
    setup: Setup, clock: ManualClock
) -> None:
    # The first worker stored the message and died before its turn ran.
    await MessageJournal(setup.database.journal_writer()).file_incoming(MESSAGE, clock.now())

    again = await setup.worker().handle(MESSAGE)

    assert not again.duplicate
    assert "Чем могу помочь" in again.replies[0].text
    assert await _incoming(setup.database) == 1


async def test_an_event_whose_turn_ran_is_not_answered_again(
    setup: Setup, clock: ManualClock
) -> None:
    worker = setup.worker()
    first = await worker.handle(MESSAGE)

    again = await worker.handle(MESSAGE)

    assert first.replies
    assert again.duplicate
    assert again.replies == []


async def test_a_turn_cut_off_while_its_replies_were_sent_is_answered_when_delivered_again(
    setup: Setup,
) -> None:
    first_worker = setup.worker()
    stuck = Send().hold()
    turn = asyncio.create_task(first_worker.handle(MESSAGE, deliver=stuck))
    await stuck.sending.wait()
    turn.cancel()  # the worker is stopped while the platform has not yet taken the replies
    with pytest.raises(asyncio.CancelledError):
        await turn
    # In memory, "delivered again" reaches the same process (a crash would wipe its state and
    # prove nothing); with Redis, another worker that shares the state.
    second = setup.worker() if setup.shared_state else first_worker
    sent = Send()

    again = await second.handle(MESSAGE, deliver=sent)

    assert stuck.handed == []
    assert not again.duplicate
    assert [len(result.replies) for result in sent.handed] == [1]


async def test_an_event_handed_to_two_workers_at_once_is_answered_once(setup: Setup) -> None:
    first_worker = setup.worker()
    second_worker = setup.worker() if setup.shared_state else first_worker
    slow = Send().hold()
    first = asyncio.create_task(first_worker.handle(MESSAGE, deliver=slow))
    await slow.sending.wait()  # the first worker holds the chat while it sends
    other = Send()
    second = asyncio.create_task(second_worker.handle(MESSAGE, deliver=other))

    slow.release()
    answered, redelivered = await first, await second

    assert answered.replies
    assert [len(result.replies) for result in slow.handed] == [len(answered.replies)]
    assert redelivered.duplicate
    assert other.handed == []
    assert await _incoming(setup.database) == 1


class _Broken(Flow):
    async def handle(self, turn: Turn) -> bool:
        turn.goto("half-done")
        raise RuntimeError("a bug in a flow")


async def test_an_event_whose_turn_failed_is_not_answered_again(setup: Setup) -> None:
    worker = setup.worker(_Broken())
    apology = await worker.handle(MESSAGE)

    again = await worker.handle(MESSAGE)

    assert "что-то сломалось" in apology.replies[0].text
    assert again.duplicate  # the apology went out: the event counts as run
    assert again.replies == []
