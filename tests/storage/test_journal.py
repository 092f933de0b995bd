"""The message journal's group commits on real SQLite and PostgreSQL.

What a shopper would notice if it went wrong: a message lost, stored twice, filed in the wrong
conversation or out of order; one bad message taking others down with it. What an operator
would notice: one transaction per message, the database's commit rate as the bot's ceiling.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event

from bots.messages import IncomingMessage, Reply
from storage.database import Database
from storage.journal import MessageJournal
from storage.records import OutgoingRecord

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _msg(user: str, text: str, source_id: str | None = None, **fields: Any) -> IncomingMessage:
    channel = fields.pop("channel", "telegram")
    return IncomingMessage(
        channel=channel,
        chat_id=user,
        user_id=user,
        text=text,
        source_id=source_id,
        **fields,
    )


@contextmanager
def _commits(database: Database) -> Iterator[list[int]]:
    """Counts the transactions committed while the block runs."""
    seen: list[int] = []

    def on_commit(*_: Any) -> None:
        seen.append(1)

    engines = database.engines  # on SQLite the journal's writer has an engine of its own
    for engine in engines:
        event.listen(engine, "commit", on_commit)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, "commit", on_commit)


async def _history(database: Database, conversation_id: int) -> list[str]:
    async with database.uow() as uow:
        return [m.text for m in await uow.messages.history(conversation_id)]


async def test_messages_arriving_together_share_one_commit_and_keep_each_chats_order(
    database: Database,
) -> None:
    journal = MessageJournal(database.journal_writer())
    shoppers = [f"u{n}" for n in range(5)]
    for user in shoppers:  # known shoppers with open conversations
        await journal.file_incoming(_msg(user, "привет", f"{user}-0"), T0)

    with _commits(database) as commits:
        refs = await asyncio.gather(
            *(
                journal.file_incoming(_msg(user, f"#{n}", f"{user}-{n}"), T0)
                for n in range(1, 5)
                for user in shoppers
            )
        )

    assert len(commits) == 1
    assert all(ref.message_id is not None for ref in refs)
    by_user = {ref.customer_id for ref in refs}
    assert len(by_user) == 5
    for ref in refs[:5]:
        assert await _history(database, ref.conversation_id) == ["привет", "#1", "#2", "#3", "#4"]
    await journal.aclose()


async def test_first_contacts_and_known_shoppers_mixed_in_one_batch(database: Database) -> None:
    journal = MessageJournal(database.journal_writer())
    known = await journal.file_incoming(_msg("old", "я тут", "old-1"), T0)

    new_a, old, new_a_again, new_b = await asyncio.gather(
        journal.file_incoming(_msg("new", "первое", "new-1", display_name="Анна"), T0),
        journal.file_incoming(_msg("old", "снова", "old-2"), T0),
        journal.file_incoming(_msg("new", "второе", "new-2"), T0),
        journal.file_incoming(_msg("other", "привет", "other-1"), T0),
    )

    assert old.conversation_id == known.conversation_id
    assert new_a.conversation_id == new_a_again.conversation_id != known.conversation_id
    assert new_a.customer_id == new_a_again.customer_id
    assert new_b.customer_id not in {new_a.customer_id, known.customer_id}
    assert await _history(database, new_a.conversation_id) == ["первое", "второе"]
    assert await _history(database, known.conversation_id) == ["я тут", "снова"]
    await journal.aclose()


async def test_an_event_delivered_twice_is_stored_once_even_within_one_batch(
    database: Database,
) -> None:
    journal = MessageJournal(database.journal_writer())
    await journal.file_incoming(_msg("u1", "привет", "upd-1"), T0)

    first, again, other = await asyncio.gather(
        journal.file_incoming(_msg("u1", "меню", "upd-2"), T0),
        journal.file_incoming(_msg("u1", "меню", "upd-2"), T0),
        journal.file_incoming(_msg("u1", "привет", "upd-1"), T0),
    )

    assert not first.duplicate
    assert again.duplicate
    assert other.duplicate
    assert await _history(database, first.conversation_id) == ["привет", "меню"]
    await journal.aclose()


async def test_web_chat_messages_without_platform_ids_keep_their_order(
    database: Database,
) -> None:
    journal = MessageJournal(database.journal_writer())
    await journal.file_incoming(_msg("visitor", "0", channel="webchat"), T0)

    refs = await asyncio.gather(
        *(
            journal.file_incoming(_msg("visitor", str(n), channel="webchat"), T0)
            for n in range(1, 9)
        )
    )

    ids = [ref.message_id for ref in refs]
    assert None not in ids
    assert ids == sorted(ids)  # type: ignore[type-var]
    assert await _history(database, refs[0].conversation_id) == [str(n) for n in range(9)]
    await journal.aclose()


async def test_a_message_the_database_refuses_fails_alone(database: Database) -> None:
    journal = MessageJournal(database.journal_writer())
    for user in ("a", "b"):
        await journal.file_incoming(_msg(user, "привет", f"{user}-0"), T0)
    unstorable = _msg("b", "кривое", "b-1", raw={"not json": object()})

    results = await asyncio.gather(
        journal.file_incoming(_msg("a", "один", "a-1"), T0),
        journal.file_incoming(unstorable, T0),
        journal.file_incoming(_msg("a", "два", "a-2"), T0),
        return_exceptions=True,
    )

    assert isinstance(results[1], Exception)
    first, third = results[0], results[2]
    assert not isinstance(first, BaseException)
    assert not isinstance(third, BaseException)
    assert await _history(database, first.conversation_id) == ["привет", "один", "два"]
    await journal.aclose()


async def test_replies_are_recorded_with_messages_in_the_same_commit(database: Database) -> None:
    journal = MessageJournal(database.journal_writer())
    ref = await journal.file_incoming(_msg("u1", "меню", "u1-1"), T0)
    sent = OutgoingRecord(ref.conversation_id, "telegram", Reply("Меню"), T0, "u1:10")
    refused = OutgoingRecord(
        ref.conversation_id,
        "telegram",
        Reply("Ещё"),
        T0,
        None,
        error_code="502",
        error_description="Bad Gateway",
        retryable=True,
    )

    with _commits(database) as commits:
        await asyncio.gather(
            journal.record_outgoing([sent, refused]),
            journal.file_incoming(_msg("u1", "спасибо", "u1-2"), T0),
        )

    assert len(commits) == 1
    async with database.uow() as uow:
        history = await uow.messages.history(ref.conversation_id)
    assert [(m.text, m.direction, m.status) for m in history] == [
        ("меню", "in", "received"),
        ("Меню", "out", "sent"),
        ("Ещё", "out", "failed"),
        ("спасибо", "in", "received"),
    ]
    assert history[2].retryable
    assert history[2].next_attempt_at == T0
    await journal.aclose()


async def test_closing_writes_what_was_handed_in(database: Database) -> None:
    journal = MessageJournal(database.journal_writer())
    pending = [
        asyncio.ensure_future(journal.file_incoming(_msg(f"u{n}", "привет", f"s{n}"), T0))
        for n in range(6)
    ]
    await asyncio.sleep(0)  # a scheduling turn (no waiting): handed in, not yet written

    await journal.aclose()

    async with database.uow() as uow:
        assert await uow.messages.count() == 6  # written before aclose() returned
    assert all(ref.message_id for ref in await asyncio.gather(*pending))
    with pytest.raises(RuntimeError, match="closed"):
        await journal.file_incoming(_msg("late", "поздно", "late-1"), T0)


async def test_last_message_time_moves_once_a_minute_not_per_message(database: Database) -> None:
    journal = MessageJournal(database.journal_writer())
    ref = await journal.file_incoming(_msg("u1", "привет", "m0"), T0)

    with _commits(database):
        await journal.file_incoming(_msg("u1", "ещё", "m1"), T0 + timedelta(seconds=20))
    async with database.uow() as uow:
        unchanged = await uow.conversations.last_message_at(ref.conversation_id)
    await journal.file_incoming(_msg("u1", "и ещё", "m2"), T0 + timedelta(minutes=2))
    async with database.uow() as uow:
        moved = await uow.conversations.last_message_at(ref.conversation_id)

    assert unchanged == T0
    assert moved == T0 + timedelta(minutes=2)
    await journal.aclose()


async def test_a_message_with_nul_characters_is_stored(database: Database) -> None:
    # PostgreSQL refuses NUL in text; a shopper (or a broken client) can still send one.
    journal = MessageJournal(database.journal_writer())
    ref = await journal.file_incoming(
        _msg("u1", "a\x00b", "n1", raw={"message": {"text": "a\x00b"}}), T0
    )

    assert await _history(database, ref.conversation_id) == ["a\ufffdb"]
    await journal.aclose()


async def test_a_message_knows_when_an_earlier_reply_awaits_a_retry(database: Database) -> None:
    journal = MessageJournal(database.journal_writer())
    ref = await journal.file_incoming(_msg("u1", "привет", "w1"), T0)
    refused = OutgoingRecord(
        ref.conversation_id, "telegram", Reply("Меню"), T0, None, error_code="502", retryable=True
    )
    await journal.record_outgoing([refused])

    waiting, other = await asyncio.gather(
        journal.file_incoming(_msg("u1", "ау", "w2"), T0),
        journal.file_incoming(_msg("u2", "привет", "w3"), T0),
    )
    async with database.uow() as uow:
        [pending] = await uow.messages.failed()
        assert pending.next_attempt_at is not None
        await uow.messages.mark_resent(pending.id, "u1:5", held_until=pending.next_attempt_at)
        await uow.commit()
    after = await journal.file_incoming(_msg("u1", "ну вот", "w4"), T0)

    assert waiting.replies_waiting
    assert not other.replies_waiting
    assert not after.replies_waiting
    await journal.aclose()


async def test_a_caller_that_gives_up_does_not_stop_the_others_batch(database: Database) -> None:
    # A webhook request can be cancelled (the platform hung up) while its write is queued.
    journal = MessageJournal(database.journal_writer())
    await journal.file_incoming(_msg("u1", "привет", "c0"), T0)
    first = asyncio.ensure_future(journal.file_incoming(_msg("u1", "раз", "c1"), T0))
    gone = asyncio.ensure_future(journal.file_incoming(_msg("u1", "два", "c2"), T0))
    third = asyncio.ensure_future(journal.file_incoming(_msg("u1", "три", "c3"), T0))
    await asyncio.sleep(0)  # a scheduling turn (no waiting): all three are queued

    gone.cancel()
    refs = await asyncio.gather(first, third)

    assert gone.cancelled()
    assert all(ref.message_id for ref in refs)
    # What was handed in is kept, as a redelivery of it would be recognised.
    assert await _history(database, refs[0].conversation_id) == ["привет", "раз", "два", "три"]
    await journal.aclose()


async def test_units_of_work_that_read_then_write_never_collide_with_the_journal(
    database: Database,
) -> None:
    # On SQLite the journal writes through a connection of its own while units of work use
    # another: a transaction that reads first and writes later must wait for the lock, not
    # fail with "database is locked" because the journal committed in between.
    journal = MessageJournal(database.journal_writer())
    refs = [await journal.file_incoming(_msg(f"u{n}", "привет", f"u{n}-0"), T0) for n in range(8)]

    async def ask_for_a_person(conversation_id: int) -> int:
        async with database.uow() as uow:
            await uow.handoffs.active_for(conversation_id)  # read …
            request = await uow.handoffs.open(conversation_id, "оператор", T0)  # … then write
            await uow.commit()
            return request

    chatter = [
        journal.file_incoming(_msg(f"u{n % 8}", f"#{n}", f"u{n % 8}-{n + 1}"), T0)
        for n in range(200)
    ]
    handoffs = [ask_for_a_person(ref.conversation_id) for ref in refs]
    results = await asyncio.gather(*chatter, *handoffs, return_exceptions=True)

    assert [r for r in results if isinstance(r, BaseException)] == []
    async with database.uow() as uow:
        assert len(await uow.handoffs.waiting()) == 8
        assert await uow.messages.count("telegram") == 8 + 200
    await journal.aclose()
