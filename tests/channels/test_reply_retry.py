"""The retry job: replies Telegram refused for a passing reason arrive later, once and in order.

Failures come from the Telegram stand-in at the HTTP boundary; the job is driven by calling
``run_once(now)`` with the test's clock, so nothing sleeps.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bots.messages import Button, IncomingMessage, Reply
from bots.retry import RetryJob
from bots.telegram import TelegramChannel
from config.settings import OutboxSettings
from dialogs.clock import ManualClock
from storage.database import Database
from storage.records import StoredMessage
from tests.channels.test_telegram_delivery import (
    ANNA,
    BLOCKED,
    MENU_ROW,
    THREE_PARTS,
    WEBHOOK_URL,
    conversation,
    deliver,
    shopper_writes,
)
from tests.conftest import AppHarness, SettingsFactory
from tests.fakes.telegram_api import TelegramAPIStandIn, fixture_update

BAD_GATEWAY = "Bad Gateway"
NO_JOB = {"OTKLIK_OUTBOX__RETRY_INTERVAL": "3600"}
"""The app's own job would look only after an hour: tests call ``run_once`` themselves."""


async def start_bot(
    api: TelegramAPIStandIn,
    start_app: Any,
    make_settings: SettingsFactory,
    clock: ManualClock,
    **environ: str,
) -> AppHarness:
    env = api.env(TELEGRAM_WEBHOOK_URL=WEBHOOK_URL, **NO_JOB, **environ)
    app: AppHarness = await start_app(make_settings(**env), clock=clock)
    return app


@pytest.fixture
async def bot(
    api: TelegramAPIStandIn, start_app: Any, make_settings: SettingsFactory, clock: ManualClock
) -> AppHarness:
    return await start_bot(api, start_app, make_settings, clock, OTKLIK_OUTBOX__MAX_ATTEMPTS="3")


async def outgoing(bot: AppHarness) -> list[StoredMessage]:
    return [m for m in await conversation(bot) if m.direction == "out"]


async def test_a_reply_refused_with_502_is_delivered_on_the_next_run(
    api: TelegramAPIStandIn, bot: AppHarness, clock: ManualClock
) -> None:
    api.fail("sendMessage", 502, BAD_GATEWAY)
    await shopper_writes(bot, api, fixture_update("message_start"))
    [refused] = await outgoing(bot)
    assert (refused.status, refused.error_code, refused.retryable) == (
        "failed",
        "unavailable",
        True,
    )
    assert api.chat(ANNA) == []

    clock.advance(30)
    assert await bot.services.retry.run_once(clock.now()) == 1

    first_try, second_try = api.calls("sendMessage")
    assert first_try.params == second_try.params, "the same text and buttons, rebuilt"
    [shown] = api.chat(ANNA)
    [reply] = await outgoing(bot)
    assert (reply.id, reply.status, reply.error_code) == (refused.id, "sent", None)
    assert reply.source_id == f"{ANNA}:{shown['message_id']}"
    assert (reply.attempts, reply.retryable, reply.next_attempt_at) == (2, False, None)
    assert await bot.services.retry.run_once(clock.now()) == 0
    assert len(api.calls("sendMessage")) == 2, "sent once, never again"


async def test_a_bot_blocked_by_the_shopper_is_never_retried(
    api: TelegramAPIStandIn, bot: AppHarness, clock: ManualClock
) -> None:
    api.fail("sendMessage", 403, BLOCKED)
    await shopper_writes(bot, api, fixture_update("message_start"))

    for _ in range(3):
        clock.advance(3600)
        assert await bot.services.retry.run_once(clock.now()) == 0

    assert len(api.calls("sendMessage")) == 1
    [reply] = await outgoing(bot)
    assert (reply.status, reply.error_code, reply.retryable, reply.attempts) == (
        "failed",
        "403",
        False,
        1,
    )


async def test_a_reply_still_refused_backs_off_and_is_given_up_after_max_attempts(
    api: TelegramAPIStandIn, bot: AppHarness, clock: ManualClock
) -> None:
    for _ in range(3):
        api.fail("sendMessage", 502, BAD_GATEWAY)
    await shopper_writes(bot, api, fixture_update("message_start"))
    job = bot.services.retry
    start = clock.now()

    await job.run_once(clock.now())  # attempt 2 of 3: refused, next in 30 s (the backoff)
    [waiting] = await outgoing(bot)
    assert (waiting.attempts, waiting.next_attempt_at) == (2, start + timedelta(seconds=30))
    clock.advance(29)
    await job.run_once(clock.now())
    assert len(api.calls("sendMessage")) == 2, "not due yet"
    clock.advance(1)
    await job.run_once(clock.now())  # attempt 3 of 3: refused, given up
    clock.advance(24 * 3600)
    await job.run_once(clock.now())

    assert len(api.calls("sendMessage")) == 3
    assert api.chat(ANNA) == []
    [given_up] = await outgoing(bot)
    assert (given_up.status, given_up.error_code, given_up.attempts) == (
        "failed",
        "unavailable",
        3,
    )
    assert (given_up.retryable, given_up.next_attempt_at) == (False, None)


async def test_the_backoff_doubles_between_refusals(
    api: TelegramAPIStandIn,
    start_app: Any,
    make_settings: SettingsFactory,
    clock: ManualClock,
) -> None:
    bot = await start_bot(api, start_app, make_settings, clock, OTKLIK_OUTBOX__BACKOFF="10")
    for _ in range(4):
        api.fail("sendMessage", 502, BAD_GATEWAY)
    await shopper_writes(bot, api, fixture_update("message_start"))
    waits = []
    for _ in range(3):
        await bot.services.retry.run_once(clock.now())
        [reply] = await outgoing(bot)
        assert reply.next_attempt_at is not None
        waits.append((reply.next_attempt_at - clock.now()).total_seconds())
        clock.advance(waits[-1])

    assert waits == [10, 20, 40]
    await bot.services.retry.run_once(clock.now())
    assert (await outgoing(bot))[0].status == "sent"


async def test_two_replies_of_one_chat_are_resent_in_order(
    api: TelegramAPIStandIn, bot: AppHarness, clock: ManualClock
) -> None:
    await shopper_writes(bot, api, fixture_update("message_start"))  # the menu gets through
    api.fail("sendMessage", 502, BAD_GATEWAY)
    api.fail("sendMessage", 502, BAD_GATEWAY)  # the first resend fails again
    replies = [Reply("Первый ответ"), Reply("Второй ответ", buttons=((Button("Ок", "ok"),),))]
    async with bot.services.database.uow() as uow:
        conversation_id = await uow.conversations.find_by_chat("telegram", ANNA)
    assert conversation_id is not None

    first, second = await bot.services.outbox.deliver(
        bot.services.channel("telegram"), conversation_id, ANNA, replies
    )
    codes = [delivery.error.code if delivery.error else None for delivery in (first, second)]
    assert codes == ["unavailable", "held"], "the second is not sent ahead of the first"
    await bot.services.retry.run_once(clock.now())
    assert [m["text"] for m in api.chat(ANNA)[1:]] == [], "the second waits behind the first"
    clock.advance(30)
    assert await bot.services.retry.run_once(clock.now()) == 2

    assert [m["text"] for m in api.chat(ANNA)[1:]] == ["Первый ответ", "Второй ответ"]
    _menu, *resent = await outgoing(bot)
    assert [(m.text, m.status, m.attempts) for m in resent] == [
        ("Первый ответ", "sent", 3),
        ("Второй ответ", "sent", 1),
    ]


async def refused_with_the_job_running(
    api: TelegramAPIStandIn, start_app: Any, make_settings: SettingsFactory, clock: ManualClock
) -> AppHarness:
    """The app with its own retry job every 0.05 s, and the shopper's first reply refused."""
    env = api.env(TELEGRAM_WEBHOOK_URL=WEBHOOK_URL, OTKLIK_OUTBOX__RETRY_INTERVAL="0.05")
    bot: AppHarness = await start_app(make_settings(**env), clock=clock)
    api.fail("sendMessage", 502, BAD_GATEWAY)
    await shopper_writes(bot, api, fixture_update("message_start"))
    await api.next_call("sendMessage")  # refused
    return bot


async def test_the_app_runs_the_job_every_retry_interval(
    api: TelegramAPIStandIn, start_app: Any, make_settings: SettingsFactory, clock: ManualClock
) -> None:
    await refused_with_the_job_running(api, start_app, make_settings, clock)

    resent = await api.next_call("sendMessage")  # by the app's own job, nobody called it

    assert api.chat(ANNA)[0]["text"] == resent.params["text"]


async def test_stopping_lets_a_resend_under_way_finish_and_be_recorded(
    api: TelegramAPIStandIn, start_app: Any, make_settings: SettingsFactory, clock: ManualClock
) -> None:
    # Cut off mid-send, the reply would stay claimed and be sent again after its claim ran
    # out, although the shopper already had it.
    bot = await refused_with_the_job_running(api, start_app, make_settings, clock)
    slow = api.hold("sendMessage")
    await api.next_call("sendMessage")  # the job's resend, under way

    stopping = asyncio.create_task(bot.client.close())
    while not bot.services.stopping:  # noqa: ASYNC110 - no event says so
        await asyncio.sleep(0)
    slow.set()
    await stopping

    assert len(api.chat(ANNA)) == 1
    [reply] = await outgoing(bot)
    assert reply.status == "sent"


async def test_a_delivery_goes_on_in_order_after_the_last_wait_of_a_429(
    api: TelegramAPIStandIn, bot: AppHarness, clock: ManualClock
) -> None:
    await shopper_writes(bot, api, fixture_update("message_start"))
    for _ in range(5):  # the outbox tries 4 times, the job's first resend is refused too
        api.fail("sendMessage", 429, "Too Many Requests: retry after 120", retry_after=120)

    [delivery] = await deliver(bot, Reply("Ответ после паузы"))
    assert (delivery.error.code if delivery.error else None) == "429"
    clock.advance(1)
    await bot.services.retry.run_once(clock.now())  # refused again: wait what Telegram asked
    [_menu, waiting] = await outgoing(bot)
    assert waiting.next_attempt_at == clock.now() + timedelta(seconds=120)
    clock.advance(120)
    await bot.services.retry.run_once(clock.now())

    assert [m["text"] for m in api.chat(ANNA)[1:]] == ["Ответ после паузы"]


# --- several workers on PostgreSQL -------------------------------------------------------


CHATS = [str(5550000 + n) for n in range(8)]
T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


async def refused_replies(database: Database, chat: str, texts: list[str]) -> None:
    """A shopper in ``chat`` wrote at T0, and Telegram refused each reply with a 502."""
    message = IncomingMessage(channel="telegram", chat_id=chat, user_id=chat, text="hi")
    async with database.uow() as uow:
        ref = await uow.conversations.file_incoming(message, T0)
        for text in texts:
            await uow.messages.add_outgoing(
                ref.conversation_id,
                "telegram",
                Reply(text),
                T0,
                source_id=None,
                error_code="unavailable",
                error_description=BAD_GATEWAY,
                retryable=True,
            )
        await uow.commit()


async def test_a_job_stopped_midway_gives_back_the_replies_it_had_not_started(
    api: TelegramAPIStandIn, make_settings: SettingsFactory, tmp_path: Any
) -> None:
    # Left claimed for ten minutes, each of those chats would count as having a reply
    # waiting, and every new reply there would be held behind it.
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'retry.db'}")
    await database.upgrade()
    for chat in CHATS[:3]:
        await refused_replies(database, chat, [f"{chat}: ответ"])
    settings = make_settings(**api.env(TELEGRAM_WEBHOOK_URL=WEBHOOK_URL))
    clock = ManualClock(T0)
    stop = asyncio.Event()
    slow = api.hold("sendMessage")
    try:
        async with TelegramChannel(settings.telegram, clock=clock) as channel:
            job = RetryJob(database.uow, [channel], clock, OutboxSettings())
            running = asyncio.create_task(job.run_once(T0, stop))
            await api.next_call("sendMessage")  # the first resend is under way
            stop.set()
            slow.set()
            delivered = await running
        async with database.uow() as uow:
            due = await uow.messages.claim_due_for_retry(
                T0 + timedelta(seconds=1),
                channels={"telegram"},
                hold_until=T0 + timedelta(minutes=1),
                limit=10,
            )
    finally:
        await database.dispose()

    assert delivered == 1
    assert len(api.calls("sendMessage")) == 1  # no new resend started after the stop
    assert sorted(p.chat_id for p in due) == CHATS[1:3]  # due again at once, not in 10 min


async def test_two_workers_retrying_at_once_on_postgres_send_each_reply_once_in_order(
    api: TelegramAPIStandIn, make_settings: SettingsFactory, postgres_url: str
) -> None:
    worker_a, worker_b = Database(postgres_url), Database(postgres_url)
    await worker_a.upgrade()
    for chat in CHATS:
        await refused_replies(worker_a, chat, [f"{chat}: ответ {n}" for n in (1, 2)])
    settings = make_settings(**api.env(TELEGRAM_WEBHOOK_URL=WEBHOOK_URL))
    clock = ManualClock(T0)

    async def drain(database: Database, channel: TelegramChannel) -> int:
        job = RetryJob(database.uow, [channel], clock, OutboxSettings(), batch=2)
        delivered = 0
        while sent := await job.run_once(T0):
            delivered += sent
        return delivered

    try:
        async with (
            TelegramChannel(settings.telegram, clock=clock) as channel_a,
            TelegramChannel(settings.telegram, clock=clock) as channel_b,
        ):
            by_a, by_b = await asyncio.gather(
                drain(worker_a, channel_a), drain(worker_b, channel_b)
            )
    finally:
        await worker_a.dispose()
        await worker_b.dispose()

    assert by_a + by_b == 2 * len(CHATS)
    assert min(by_a, by_b) > 0, "both workers took part"
    texts = [str(call.params["text"]) for call in api.calls("sendMessage")]
    assert sorted(texts) == sorted(f"{c}: ответ {n}" for c in CHATS for n in (1, 2)), "each once"
    for chat in CHATS:
        assert [m["text"] for m in api.chat(chat)] == [f"{chat}: ответ 1", f"{chat}: ответ 2"]


async def test_a_worker_slower_than_its_claim_leaves_the_rest_to_the_one_that_took_over(
    api: TelegramAPIStandIn, make_settings: SettingsFactory, postgres_url: str
) -> None:
    worker_a, worker_b = Database(postgres_url), Database(postgres_url)
    await worker_a.upgrade()
    chats = CHATS[:3]
    for chat in chats:
        await refused_replies(worker_a, chat, [f"{chat}: ответ"])
    settings = make_settings(**api.env(TELEGRAM_WEBHOOK_URL=WEBHOOK_URL))
    clock = ManualClock(T0)
    slow = api.hold("sendMessage")  # worker A's first resend hangs (an outage)

    try:
        async with (
            TelegramChannel(settings.telegram, clock=clock) as channel_a,
            TelegramChannel(settings.telegram, clock=clock) as channel_b,
        ):
            job_a = RetryJob(worker_a.uow, [channel_a], clock, OutboxSettings())
            job_b = RetryJob(worker_b.uow, [channel_b], clock, OutboxSettings())
            run_a = asyncio.create_task(job_a.run_once(T0))  # claims all three
            await api.next_call("sendMessage")
            clock.advance(11 * 60)  # A's claim runs out while it waits
            by_b = await job_b.run_once(clock.now())
            slow.set()
            await run_a
    finally:
        await worker_a.dispose()
        await worker_b.dispose()

    assert by_b == 3
    texts = [str(call.params["text"]) for call in api.calls("sendMessage")]
    # Only the reply A was already sending goes twice; A leaves the other two to B.
    assert sorted(texts) == sorted([texts[0], *(f"{chat}: ответ" for chat in chats)])


async def test_a_new_turn_queues_behind_a_reply_awaiting_a_retry(
    api: TelegramAPIStandIn, bot: AppHarness, clock: ManualClock
) -> None:
    api.fail("sendMessage", 502, BAD_GATEWAY)
    await shopper_writes(bot, api, fixture_update("message_start"))  # the menu is refused
    await shopper_writes(
        bot, api, fixture_update("message_text", update_id=990_001)
    )  # the shopper writes again before the job has resent it

    assert len(api.calls("sendMessage")) == 1, "the new reply did not overtake the refused one"
    _, *held = await outgoing(bot)
    assert held, "the new turn's replies are kept"
    assert all((m.status, m.error_code, m.attempts) == ("failed", "held", 0) for m in held)

    assert await bot.services.retry.run_once(clock.now()) == 1 + len(held)
    shown = [m["text"] for m in api.chat(ANNA)]
    stored = [m.text for m in await outgoing(bot)]
    assert shown == stored, "the shopper reads the replies in the order they were written"
    assert all(m.status == "sent" for m in await outgoing(bot))


async def test_a_reply_refused_after_its_first_part_is_completed_without_repeating_it(
    api: TelegramAPIStandIn, bot: AppHarness, clock: ManualClock
) -> None:
    await shopper_writes(bot, api, fixture_update("message_start"))
    api.fail("sendMessage", 502, BAD_GATEWAY, after=1)  # the second of three parts

    await deliver(bot, Reply(text=THREE_PARTS, buttons=(MENU_ROW,)))
    assert len(api.chat(ANNA)) == 2, "the menu and the first part"
    assert await bot.services.retry.run_once(clock.now()) == 2

    shown = [m["text"] for m in api.chat(ANNA)[1:]]
    assert "\n".join(shown) == THREE_PARTS, "each part once, in order"
    assert api.chat(ANNA)[-1]["reply_markup"]["inline_keyboard"], "the keyboard under the last"


async def test_a_resent_reply_refused_after_some_parts_does_not_repeat_them_later(
    api: TelegramAPIStandIn, bot: AppHarness, clock: ManualClock
) -> None:
    await shopper_writes(bot, api, fixture_update("message_start"))
    api.fail("sendMessage", 502, BAD_GATEWAY)  # the whole reply refused at its first part
    api.fail("sendMessage", 502, BAD_GATEWAY, after=1)  # the resend: part 1 in, part 2 refused

    await deliver(bot, Reply(text=THREE_PARTS, buttons=(MENU_ROW,)))
    await bot.services.retry.run_once(clock.now())
    clock.advance(3600)
    await bot.services.retry.run_once(clock.now())

    shown = [m["text"] for m in api.chat(ANNA)[1:]]
    assert "\n".join(shown) == THREE_PARTS, "each part once, in order"
    assert api.chat(ANNA)[-1]["reply_markup"]["inline_keyboard"], "the keyboard under the last"
    replies = [m for m in await outgoing(bot) if m.text != api.chat(ANNA)[0]["text"]]
    assert {m.status for m in replies} == {"sent"}
