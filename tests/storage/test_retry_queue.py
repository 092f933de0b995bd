"""The queue of refused replies the retry job works from, on real SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from bots.messages import Button, IncomingMessage, Reply
from storage.database import Database
from storage.records import StoredMessage

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
HOLD = T0 + timedelta(minutes=10)
TELEGRAM = ("telegram",)


async def _conversation(database: Database, chat_id: str = "100") -> int:
    message = IncomingMessage(channel="telegram", chat_id=chat_id, user_id=chat_id, text="hi")
    async with database.uow() as uow:
        ref = await uow.conversations.file_incoming(message, T0)
        await uow.commit()
    return ref.conversation_id


async def _refused(
    database: Database,
    conversation_id: int,
    text: str,
    *,
    retryable: bool = True,
    code: str = "502",
) -> int:
    async with database.uow() as uow:
        message_id = await uow.messages.add_outgoing(
            conversation_id,
            "telegram",
            Reply(text),
            T0,
            source_id=None,
            error_code=code,
            error_description="Bad Gateway",
            retryable=retryable,
        )
        await uow.commit()
    return message_id


async def _stored(database: Database, conversation_id: int) -> list[StoredMessage]:
    async with database.uow() as uow:
        return [m for m in await uow.messages.history(conversation_id) if m.direction == "out"]


async def _claim(database: Database, now: datetime = T0, limit: int = 100) -> list[int]:
    async with database.uow() as uow:
        claimed = await uow.messages.claim_due_for_retry(
            now, channels=TELEGRAM, hold_until=HOLD, limit=limit
        )
        await uow.commit()
    return [pending.id for pending in claimed]


async def test_a_passing_refusal_is_due_at_once_and_a_final_one_never(database: Database) -> None:
    first, second = await _conversation(database, "1"), await _conversation(database, "2")
    passing = await _refused(database, first, "Меню")
    await _refused(database, second, "Меню", retryable=False, code="403")
    async with database.uow() as uow:
        await uow.messages.add_outgoing(first, "telegram", Reply("ok"), T0, source_id="1:5")
        await uow.commit()

    stored = {m.text: m for m in await _stored(database, first)}
    assert (stored["Меню"].retryable, stored["Меню"].attempts) == (True, 1)
    assert stored["Меню"].next_attempt_at == T0
    assert (stored["ok"].retryable, stored["ok"].next_attempt_at) == (False, None)
    [blocked] = await _stored(database, second)
    assert (blocked.status, blocked.retryable, blocked.next_attempt_at) == ("failed", False, None)
    assert await _claim(database, T0 - timedelta(seconds=1)) == []
    assert await _claim(database) == [passing]


async def test_a_claimed_reply_comes_back_with_its_buttons_and_image(database: Database) -> None:
    conversation_id = await _conversation(database)
    reply = Reply(
        "Акция",
        buttons=((Button("Да", payload="yes"), Button("Сайт", url="https://example.com")),),
        image_url="https://example.com/promo.jpg",
    )
    async with database.uow() as uow:
        await uow.messages.add_outgoing(
            conversation_id,
            "telegram",
            reply,
            T0,
            source_id=None,
            error_code="502",
            error_description="Bad Gateway",
            retryable=True,
        )
        await uow.commit()

    async with database.uow() as uow:
        [pending] = await uow.messages.claim_due_for_retry(T0, channels=TELEGRAM, hold_until=HOLD)
    assert (pending.reply, pending.chat_id, pending.channel) == (reply, "100", "telegram")
    assert pending.attempts == 1


async def test_a_claimed_reply_keeps_the_key_it_was_first_sent_with(database: Database) -> None:
    # VK drops a resend with the random_id of the first attempt: the key must come back.
    conversation_id = await _conversation(database)
    async with database.uow() as uow:
        await uow.messages.add_outgoing(
            conversation_id,
            "telegram",
            Reply("Ваш запрос принят"),
            T0,
            source_id=None,
            error_code="timeout",
            retryable=True,
            send_key=1_234_567,
        )
        await uow.commit()

    async with database.uow() as uow:
        [pending] = await uow.messages.claim_due_for_retry(T0, channels=TELEGRAM, hold_until=HOLD)
    assert pending.send_key == 1_234_567


async def test_only_the_earliest_waiting_reply_of_a_conversation_is_due(
    database: Database,
) -> None:
    chat = await _conversation(database, "1")
    other = await _conversation(database, "2")
    earlier = await _refused(database, chat, "первый")
    later = await _refused(database, chat, "второй")
    elsewhere = await _refused(database, other, "другой чат")

    assert await _claim(database) == [earlier, elsewhere]
    assert await _claim(database) == [], "claimed rows are held; the later one waits behind"

    async with database.uow() as uow:
        await uow.messages.mark_resent(earlier, "1:7", held_until=HOLD)
        await uow.commit()
    assert await _claim(database) == [later]
    sent, waiting = await _stored(database, chat)
    assert (sent.status, sent.source_id, sent.error_code, sent.attempts) == (
        "sent",
        "1:7",
        None,
        2,
    )
    assert (sent.retryable, sent.next_attempt_at) == (False, None)
    assert waiting.next_attempt_at == HOLD


async def test_a_worker_whose_claim_ran_out_leaves_the_reply_to_the_one_that_took_it(
    database: Database,
) -> None:
    chat = await _conversation(database)
    message_id = await _refused(database, chat, "Меню")
    assert await _claim(database) == [message_id]  # worker A, held until HOLD
    later = HOLD + timedelta(minutes=1)
    async with database.uow() as uow:  # A's claim ran out: worker B takes the reply
        [taken] = await uow.messages.claim_due_for_retry(
            later, channels=TELEGRAM, hold_until=later + timedelta(minutes=10)
        )
        await uow.commit()

    async with database.uow() as uow:
        a_renews = await uow.messages.renew_claim(message_id, HOLD, later + timedelta(minutes=10))
        await uow.messages.mark_resent(message_id, "from A", held_until=HOLD)
        b_renews = await uow.messages.renew_claim(
            message_id, taken.held_until, later + timedelta(minutes=11)
        )
        await uow.commit()

    assert (a_renews, b_renews) == (False, True)
    [row] = await _stored(database, chat)
    assert (row.status, row.source_id) == ("failed", None)  # A's late result is not written


async def test_a_reply_refused_again_waits_and_one_given_up_stays_failed(
    database: Database,
) -> None:
    chat = await _conversation(database)
    message_id = await _refused(database, chat, "Меню")
    retry_at = T0 + timedelta(seconds=30)

    async with database.uow() as uow:
        await uow.messages.mark_resend_failed(
            message_id, "unavailable", "Bad Gateway", next_attempt_at=retry_at, held_until=T0
        )
        await uow.commit()
    assert await _claim(database, retry_at - timedelta(seconds=1)) == []
    assert await _claim(database, retry_at) == [message_id]  # held until HOLD

    async with database.uow() as uow:
        await uow.messages.mark_resend_failed(
            message_id, "timeout", "no answer", next_attempt_at=None, held_until=HOLD
        )
        await uow.commit()
    [given_up] = await _stored(database, chat)
    assert (given_up.status, given_up.error_code, given_up.attempts) == ("failed", "timeout", 3)
    assert (given_up.retryable, given_up.next_attempt_at) == (False, None)
    assert await _claim(database, T0 + timedelta(days=30)) == []


async def test_a_claim_only_takes_rows_of_the_channels_asked_for(database: Database) -> None:
    chat = await _conversation(database)
    await _refused(database, chat, "Меню")

    async with database.uow() as uow:
        claimed = await uow.messages.claim_due_for_retry(T0, channels=("vk",), hold_until=HOLD)
    assert claimed == []


@pytest.fixture
async def postgres(postgres_url: str) -> AsyncIterator[Database]:
    db = Database(postgres_url)
    await db.upgrade()
    yield db
    await db.dispose()


async def test_two_claims_at_once_on_postgres_take_different_rows_without_waiting(
    postgres: Database,
) -> None:
    first = await _refused(postgres, await _conversation(postgres, "1"), "первому")
    second = await _refused(postgres, await _conversation(postgres, "2"), "второму")

    async with postgres.uow() as worker_a:
        taken_a = await worker_a.messages.claim_due_for_retry(
            T0, channels=TELEGRAM, hold_until=HOLD, limit=1
        )
        # worker_a's transaction is open and holds its row locked: the other connection must
        # skip that row (SKIP LOCKED), not wait for it and not take it too.
        async with postgres.uow() as worker_b:
            taken_b = await asyncio.wait_for(
                worker_b.messages.claim_due_for_retry(
                    T0, channels=TELEGRAM, hold_until=HOLD, limit=1
                ),
                timeout=5,
            )
            await worker_b.commit()
        await worker_a.commit()

    assert [p.id for p in taken_a] == [first]
    assert [p.id for p in taken_b] == [second]
