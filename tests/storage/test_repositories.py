"""Repositories on real SQLite and PostgreSQL: what is kept, and how it is found again."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from bots.messages import Button, IncomingMessage, Photo, Reply
from storage.database import Database, DatabaseUnavailable, SchemaOutdated

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _msg(text: str = "привет", **fields: object) -> IncomingMessage:
    base: dict[str, object] = {"channel": "telegram", "chat_id": "100", "user_id": "7"}
    return IncomingMessage(**{**base, "text": text, **fields})  # type: ignore[arg-type]


async def test_first_message_creates_customer_identity_and_conversation(
    database: Database,
) -> None:
    async with database.uow() as uow:
        first = await uow.conversations.file_incoming(_msg(display_name="Анна"), T0)
        second = await uow.conversations.file_incoming(_msg("ещё"), T0 + timedelta(seconds=5))
        await uow.commit()

    assert first.message_id is not None
    assert second.message_id is not None
    assert second.customer_id == first.customer_id
    assert second.conversation_id == first.conversation_id
    async with database.uow() as uow:
        history = await uow.messages.history(first.conversation_id)
    assert [m.text for m in history] == ["привет", "ещё"]
    assert history[0].created_at == T0
    assert history[0].created_at.tzinfo is not None


async def test_channels_and_users_get_separate_conversations(database: Database) -> None:
    async with database.uow() as uow:
        a = await uow.conversations.file_incoming(_msg(), T0)
        b = await uow.conversations.file_incoming(_msg(channel="webchat"), T0)
        c = await uow.conversations.file_incoming(_msg(user_id="8", chat_id="101"), T0)
        await uow.commit()

    assert len({a.conversation_id, b.conversation_id, c.conversation_id}) == 3
    assert len({a.customer_id, b.customer_id, c.customer_id}) == 3


async def test_a_repeated_source_id_is_not_stored_twice(database: Database) -> None:
    async with database.uow() as uow:
        first = await uow.conversations.file_incoming(_msg(source_id="upd-1"), T0)
        again = await uow.conversations.file_incoming(_msg(source_id="upd-1"), T0)
        other_channel = await uow.conversations.file_incoming(
            _msg(channel="vk", source_id="upd-1"), T0
        )
        await uow.commit()
        total = await uow.messages.count()

    assert not first.duplicate
    assert again.duplicate
    assert not other_channel.duplicate
    assert total == 2


async def test_nothing_is_kept_without_commit(database: Database) -> None:
    async with database.uow() as uow:
        await uow.conversations.file_incoming(_msg(), T0)

    async with database.uow() as uow:
        assert await uow.messages.count() == 0


async def test_attachments_and_raw_updates_are_kept(database: Database) -> None:
    message = _msg("", attachments=(Photo("f-1", width=800, height=600),), raw={"update_id": 5})
    async with database.uow() as uow:
        ref = await uow.conversations.file_incoming(message, T0)
        await uow.commit()
        (stored,) = await uow.messages.history(ref.conversation_id)

    assert stored.attachments == [
        {"type": "Photo", "file_id": "f-1", "url": None, "width": 800, "height": 600}
    ]


async def test_outgoing_messages_record_sent_and_failed(database: Database) -> None:
    reply = Reply("Меню", buttons=((Button("Да", payload="yes"),),))
    async with database.uow() as uow:
        ref = await uow.conversations.file_incoming(_msg(), T0)
        await uow.messages.add_outgoing(ref.conversation_id, "telegram", reply, T0, source_id="55")
        await uow.messages.add_outgoing(
            ref.conversation_id,
            "telegram",
            reply,
            T0,
            source_id=None,
            error_code="403",
            error_description="bot was blocked by the user",
        )
        await uow.commit()
        history = await uow.messages.history(ref.conversation_id)
        failed = await uow.messages.failed()

    assert [(m.direction, m.status) for m in history] == [
        ("in", "received"),
        ("out", "sent"),
        ("out", "failed"),
    ]
    assert history[1].buttons == [[{"text": "Да", "payload": "yes", "url": None}]]
    assert [(m.error_code, m.text) for m in failed] == [("403", "Меню")]


async def test_handoff_requests_queue_once_and_cancel(database: Database) -> None:
    async with database.uow() as uow:
        ref = await uow.conversations.file_incoming(_msg(), T0)
        first = await uow.handoffs.open(ref.conversation_id, "где заказ", T0)
        same = await uow.handoffs.open(ref.conversation_id, None, T0 + timedelta(minutes=1))
        await uow.commit()
        waiting = await uow.handoffs.waiting()
        cancelled = await uow.handoffs.cancel(ref.conversation_id, T0 + timedelta(minutes=2))
        await uow.commit()
        after = await uow.handoffs.active_for(ref.conversation_id)

    assert first == same
    assert [(w.reason, w.requested_at) for w in waiting] == [("где заказ", T0)]
    assert cancelled
    assert after is None


async def test_requests_for_a_person_arriving_at_once_queue_once(database: Database) -> None:
    # Two workers taking the same double tap: each transaction finds no request yet.
    async with database.uow() as uow:
        ref = await uow.conversations.file_incoming(_msg(), T0)
        await uow.commit()

    async def ask() -> int:
        async with database.uow() as uow:
            request = await uow.handoffs.open(ref.conversation_id, "оператор", T0)
            await uow.commit()
            return request

    ids = await asyncio.gather(*(ask() for _ in range(5)))

    async with database.uow() as uow:
        waiting = await uow.handoffs.waiting()
    assert [w.id for w in waiting] == [ids[0]]
    assert set(ids) == {ids[0]}


async def test_feedback_is_kept_per_conversation(database: Database) -> None:
    async with database.uow() as uow:
        ref = await uow.conversations.file_incoming(_msg(), T0)
        await uow.feedback.add(ref.conversation_id, "Спасибо кассиру", (), T0)
        await uow.commit()
        texts = await uow.feedback.texts(ref.conversation_id)

    assert texts == ["Спасибо кассиру"]


async def test_subscription_state_is_tracked(database: Database) -> None:
    async with database.uow() as uow:
        await uow.conversations.set_subscribed("viber", "u1", False, T0)
        await uow.commit()
        unsubscribed = await uow.conversations.is_unsubscribed("viber", "u1")
        await uow.conversations.set_subscribed("viber", "u1", True, T0)
        await uow.commit()
        resubscribed = await uow.conversations.is_unsubscribed("viber", "u1")

    assert unsubscribed
    assert not resubscribed
    async with database.uow() as uow:
        assert not await uow.conversations.is_unsubscribed("viber", "never-seen")


async def test_naive_times_are_refused(database: Database) -> None:
    async with database.uow() as uow:
        with pytest.raises(Exception, match="naive"):
            await uow.conversations.file_incoming(_msg(), datetime(2026, 1, 1))


async def test_an_unmigrated_database_is_reported_as_outdated(tmp_path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(SchemaOutdated, match="otklik db upgrade"):
        await db.require_current()
    await db.upgrade()
    await db.require_current()
    await db.dispose()


async def test_an_unreachable_database_says_so() -> None:
    db = Database("postgresql+asyncpg://postgres@127.0.0.1:1/nothing")
    with pytest.raises(DatabaseUnavailable, match="unreachable"):
        await db.check(timeout=3)
    await db.dispose()


async def test_a_shared_phone_merges_customers_into_the_earliest(database: Database) -> None:
    async with database.uow() as uow:
        tg = await uow.conversations.file_incoming(_msg(), T0)
        vk = await uow.conversations.file_incoming(_msg(channel="vk", user_id="v9"), T0)
        web = await uow.conversations.file_incoming(_msg(channel="webchat", user_id="w1"), T0)
        first = await uow.customers.link_phone("vk", "v9", "+79123456789", T0)
        second = await uow.customers.link_phone("webchat", "w1", "+79123456789", T0)
        third = await uow.customers.link_phone("telegram", "7", "+79123456789", T0)
        await uow.commit()
        identities = await uow.customers.identities_of(tg.customer_id)

    assert first == vk.customer_id
    assert second == vk.customer_id
    assert third == tg.customer_id  # the earliest customer survives
    assert web.customer_id not in {first, third}
    assert identities == [("telegram", "7"), ("vk", "v9"), ("webchat", "w1")]


async def test_gaps_and_ratings_are_reported_since_a_date(database: Database) -> None:
    later = T0 + timedelta(days=2)
    async with database.uow() as uow:
        ref = await uow.conversations.file_incoming(_msg(), T0)
        conversation = ref.conversation_id
        await uow.faq.add_unanswered(
            conversation, "telegram", "ипотека", outcome="fallback", suggestions=(), now=T0
        )
        await uow.faq.add_unanswered(
            conversation,
            "telegram",
            "парковка",
            outcome="suggest",
            suggestions=("a", "b"),
            now=later,
        )
        await uow.faq.add_rating(ref.conversation_id, "delivery", False, later)
        await uow.faq.add_rating(ref.conversation_id, "delivery", True, later)
        await uow.faq.add_rating(ref.conversation_id, "hours", True, T0)
        await uow.commit()
        recent = await uow.faq.unanswered_since(T0 + timedelta(days=1))
        everything = await uow.faq.unanswered_since(None)
        ratings = await uow.faq.ratings_since(None)

    assert [(q.text, q.outcome, q.at) for q in recent] == [("парковка", "suggest", later)]
    assert len(everything) == 2
    assert [(r.entry_id, r.helpful, r.unhelpful) for r in ratings] == [
        ("delivery", 1, 1),
        ("hours", 1, 0),
    ]


async def test_suggestion_picks_are_reported_since_a_date(database: Database) -> None:
    later = T0 + timedelta(days=2)
    async with database.uow() as uow:
        ref = await uow.conversations.file_incoming(_msg(), T0)
        await uow.faq.add_pick(ref.conversation_id, "возврат денег", "refund-card", T0)
        await uow.faq.add_pick(ref.conversation_id, "парковка у магазина", "parking", later)
        await uow.commit()
        recent = await uow.faq.picks_since(T0 + timedelta(days=1))
        everything = await uow.faq.picks_since(None)

    assert [(p.question, p.entry_id, p.at) for p in recent] == [
        ("парковка у магазина", "parking", later)
    ]
    assert [p.entry_id for p in everything] == ["refund-card", "parking"]


async def test_outgoing_platform_ids_may_repeat_across_chats(database: Database) -> None:
    reply = Reply("Меню")
    async with database.uow() as uow:
        first = await uow.conversations.file_incoming(_msg(chat_id="1", user_id="1"), T0)
        second = await uow.conversations.file_incoming(_msg(chat_id="2", user_id="2"), T0)
        for ref in (first, second):
            await uow.messages.add_outgoing(ref.conversation_id, "vk", reply, T0, source_id="1")
        await uow.commit()
        assert await uow.messages.count(channel="vk") == 2


async def test_first_messages_racing_in_parallel_make_one_customer_and_conversation(
    database: Database,
) -> None:
    async def write(number: int) -> None:
        async with database.uow() as uow:
            await uow.conversations.file_incoming(_msg(f"#{number}", source_id=f"r{number}"), T0)
            await uow.commit()

    await asyncio.gather(*(write(n) for n in range(12)))

    async with database.uow() as uow:
        customer = await uow.customers.customer_of("telegram", "7")
        assert customer is not None
        assert await uow.customers.identities_of(customer) == [("telegram", "7")]
        assert await uow.messages.count() == 12
        conversation = await uow.conversations.find_by_chat("telegram", "100")
        assert conversation is not None
        assert len(await uow.messages.history(conversation)) == 12
    async with database.engine.connect() as connection:
        customers = await connection.scalar(text("select count(*) from customers"))
        conversations = await connection.scalar(text("select count(*) from conversations"))
    assert (customers, conversations) == (1, 1)


async def test_a_long_conversation_keeps_being_stored(database: Database) -> None:
    # PostgreSQL plans a prepared statement generically after five runs; the duplicate check
    # must still find its partial unique index then (a bound predicate would not).
    async with database.uow() as uow:
        refs = [
            await uow.conversations.file_incoming(_msg(f"#{n}", source_id=f"m{n}"), T0)
            for n in range(10)
        ]
        again = await uow.conversations.file_incoming(_msg("#0", source_id="m0"), T0)
        await uow.commit()

    assert all(ref.message_id is not None for ref in refs)
    assert again.duplicate
