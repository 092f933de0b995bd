"""Getting replies to the shopper: rate limits, blocked bots, long texts and odd messages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bots.layout import CONTINUED
from bots.messages import Button, Reply
from bots.outbox import Delivery
from bots.telegram import TelegramChannel
from dialogs.clock import ManualClock
from storage.records import StoredMessage
from tests.conftest import AppHarness, SettingsFactory
from tests.fakes.telegram_api import ApiCall, TelegramAPIStandIn, fixture_update

WEBHOOK_URL = "https://bot.example.com/webhooks/telegram"
ANNA = "555000111"
TOO_MANY = "Too Many Requests: retry after 3"
BLOCKED = "Forbidden: bot was blocked by the user"


@pytest.fixture
async def bot(
    api: TelegramAPIStandIn, start_app: Any, make_settings: SettingsFactory, clock: ManualClock
) -> AppHarness:
    """The app in webhook mode: a POST returns once the replies are sent and stored."""
    settings = make_settings(**api.env(TELEGRAM_WEBHOOK_URL=WEBHOOK_URL))
    app: AppHarness = await start_app(settings, clock=clock)
    return app


async def shopper_writes(bot: AppHarness, api: TelegramAPIStandIn, update: Any) -> None:
    response = await bot.client.post(
        "/webhooks/telegram", json=update, headers=api.webhook_headers()
    )
    assert response.status == 200, await response.text()


async def conversation(bot: AppHarness, chat_id: str = ANNA) -> list[StoredMessage]:
    async with bot.services.database.uow() as uow:
        found = await uow.conversations.find_by_chat("telegram", chat_id)
        assert found is not None, f"nothing stored for chat {chat_id}"
        return await uow.messages.history(found)


def payloads(call: ApiCall) -> list[str]:
    markup = call.params.get("reply_markup") or {}
    return [b.get("callback_data", "") for row in markup.get("inline_keyboard", []) for b in row]


# --- rate limits and refusals ------------------------------------------------------------


async def test_a_429_is_waited_out_and_the_reply_still_arrives(
    api: TelegramAPIStandIn, bot: AppHarness, clock: ManualClock
) -> None:
    api.fail("sendMessage", 429, TOO_MANY, retry_after=3)

    await shopper_writes(bot, api, fixture_update("message_start"))

    refused, delivered = api.calls("sendMessage")
    assert refused.params == delivered.params
    assert clock.sleeps == [3.0]
    reply = (await conversation(bot))[-1]
    assert (reply.direction, reply.status, reply.error_code) == ("out", "sent", None)
    assert reply.source_id == f"{ANNA}:1"  # the message that got through, in Anna's chat


async def test_a_bot_blocked_by_the_shopper_is_recorded_as_failed_with_the_code(
    api: TelegramAPIStandIn, bot: AppHarness, clock: ManualClock
) -> None:
    api.fail("sendMessage", 403, BLOCKED)

    await shopper_writes(bot, api, fixture_update("message_start"))

    assert len(api.calls("sendMessage")) == 1, "a 403 is final; no retry"
    assert clock.sleeps == []
    incoming, reply = await conversation(bot)
    assert (incoming.direction, incoming.text) == ("in", "/start")
    assert (reply.status, reply.error_code, reply.source_id) == ("failed", "403", None)
    async with bot.services.database.uow() as uow:
        assert [m.id for m in await uow.messages.failed()] == [reply.id]


async def test_a_token_revoked_while_serving_webhooks_shows_in_healthz_until_sends_work(
    api: TelegramAPIStandIn, bot: AppHarness
) -> None:
    # In webhook mode nothing polls Telegram, so the refused send is what tells.
    api.fail("sendMessage", 401, "Unauthorized")
    await shopper_writes(bot, api, fixture_update("message_start"))
    refused = await bot.client.get("/healthz")

    # Anna's reply waits for the retry job; another shopper's goes out as the token works again
    await shopper_writes(bot, api, from_shopper(42))
    working = await bot.client.get("/healthz")

    assert refused.status == 503
    assert (await refused.json())["channels"]["telegram"] == "the bot token was rejected"
    reply = (await conversation(bot))[1]
    assert (reply.error_code, reply.status) == ("401", "failed")
    assert working.status == 200


async def test_a_429_that_does_not_end_is_recorded_as_failed_not_lost(
    api: TelegramAPIStandIn, bot: AppHarness, clock: ManualClock
) -> None:
    for _ in range(4):
        api.fail("sendMessage", 429, TOO_MANY, retry_after=3)

    await shopper_writes(bot, api, fixture_update("message_start"))

    assert clock.sleeps == [3.0, 3.0, 3.0]
    reply = (await conversation(bot))[-1]
    assert (reply.status, reply.error_code) == ("failed", "429")


def from_shopper(user_id: int, text: str = "/start") -> dict[str, Any]:
    update = fixture_update("message_text", update_id=200_000_000 + user_id)
    person = {"id": user_id, "first_name": f"Покупатель {user_id}"}
    update["message"]["from"] = {**person, "is_bot": False, "language_code": "ru"}
    update["message"]["chat"] = {**person, "type": "private"}
    update["message"]["text"] = text
    return update


async def test_replies_in_two_chats_with_the_same_telegram_message_id_are_both_recorded(
    api: TelegramAPIStandIn, bot: AppHarness
) -> None:
    # Bot API message_id is "unique inside this chat": both first replies are message 1.
    await shopper_writes(bot, api, from_shopper(1001))
    await shopper_writes(bot, api, from_shopper(1002))

    first, second = api.calls("sendMessage")
    assert (first.params["chat_id"], second.params["chat_id"]) == ("1001", "1002")
    for chat in ("1001", "1002"):
        reply = (await conversation(bot, chat))[-1]
        assert (reply.direction, reply.status, reply.source_id) == ("out", "sent", f"{chat}:1")


# --- odd things a shopper sends ----------------------------------------------------------


def with_text(text: str) -> dict[str, Any]:
    update = fixture_update("message_text")
    update["message"]["text"] = text
    return update


HUGE = "Очень длинная жалоба на обслуживание. " * 2700  # ~100 KB of text, ~190 KB on the wire


@pytest.mark.parametrize(
    ("update", "said", "explained"),
    [
        pytest.param(with_text(""), "", "Сообщение пустое", id="empty-text"),
        pytest.param(with_text(HUGE), HUGE, "слишком длинное", id="100kb-text"),
        pytest.param(with_text("   \n\t "), "   \n\t ", "Сообщение пустое", id="whitespace"),
        pytest.param(fixture_update("message_emoji"), "😡😡😡", "нет слов", id="emoji-only"),
        pytest.param(fixture_update("message_sticker"), "", "Стикер", id="sticker"),
        pytest.param(fixture_update("message_voice"), "", "Голосовые", id="voice"),
        pytest.param(fixture_update("message_video_note"), "", "Голосовые", id="round-video"),
    ],
)
async def test_an_odd_message_gets_a_reason_and_an_alternative_and_is_kept(
    api: TelegramAPIStandIn, bot: AppHarness, update: Any, said: str, explained: str
) -> None:
    await shopper_writes(bot, api, update)

    [reply] = api.calls("sendMessage")
    assert explained in reply.params["text"]
    assert "menu:handoff" in payloads(reply), "the alternative: a person"
    incoming, answer = await conversation(bot)
    assert (incoming.direction, incoming.text) == ("in", said)
    assert incoming.source_id == str(update["update_id"])
    assert (answer.status, answer.text) == ("sent", reply.params["text"])


# --- long replies ------------------------------------------------------------------------


@pytest.fixture
async def channel(
    api: TelegramAPIStandIn, make_settings: SettingsFactory
) -> AsyncIterator[TelegramChannel]:
    """The Telegram channel alone (webhook mode, so it does not poll), talking to the stand-in."""
    settings = make_settings(**api.env(TELEGRAM_WEBHOOK_URL=WEBHOOK_URL)).telegram
    async with TelegramChannel(settings) as started:
        yield started


MENU_ROW = (Button("↩️ В меню", payload="menu"),)


SENTENCE = "Условия возврата товара надлежащего качества."
THREE_PARTS = "\n".join(f"Пункт {n}. " + " ".join([SENTENCE] * 20) for n in range(10))
"""~9,500 characters: three messages of at most 4,096."""


async def test_a_long_reply_is_split_at_4096_with_the_keyboard_under_the_last_part(
    api: TelegramAPIStandIn, channel: TelegramChannel
) -> None:
    text = THREE_PARTS

    sent = await channel.send(ANNA, Reply(text=text, buttons=(MENU_ROW,)))

    parts = api.calls("sendMessage")
    texts = [str(part.params["text"]) for part in parts]
    assert len(parts) == 3
    assert all(len(t) <= 4096 for t in texts)
    assert "\n".join(texts) == text, "cut at line breaks, nothing lost"
    assert [payloads(part) for part in parts] == [[], [], ["menu"]]
    assert sent.source_id == f"{ANNA}:3"  # the last part


async def test_a_reply_of_exactly_4096_characters_is_one_message(
    api: TelegramAPIStandIn, channel: TelegramChannel
) -> None:
    await channel.send(ANNA, Reply(text="ы" * 4096 + "  \n", buttons=(MENU_ROW,)))

    [part] = api.calls("sendMessage")
    assert part.params["text"] == "ы" * 4096
    assert payloads(part) == ["menu"]


async def test_a_long_caption_goes_under_the_photo_and_the_rest_follows(
    api: TelegramAPIStandIn, channel: TelegramChannel
) -> None:
    text = "Акция недели: " + " ".join(["скидка на молочные продукты."] * 60)  # ~1,700 chars

    await channel.send(
        ANNA, Reply(text=text, buttons=(MENU_ROW,), image_url="https://example.com/promo.jpg")
    )

    [photo] = api.calls("sendPhoto")
    [rest] = api.calls("sendMessage")
    assert photo.params["photo"] == "https://example.com/promo.jpg"
    assert len(str(photo.params["caption"])) <= 1024
    assert f"{photo.params['caption']} {rest.params['text']}" == text
    assert (payloads(photo), payloads(rest)) == ([], ["menu"])


async def test_text_beyond_the_caption_follows_in_messages_of_up_to_4096_characters(
    api: TelegramAPIStandIn, channel: TelegramChannel
) -> None:
    text = "Новые правила программы лояльности. " + " ".join([SENTENCE] * 110)  # ~5,100

    await channel.send(
        ANNA, Reply(text=text, buttons=(MENU_ROW,), image_url="https://example.com/card.jpg")
    )

    photo, rest = api.chat(ANNA)
    assert len(photo["caption"]) <= 1024
    assert len(rest["text"]) > 1024, "the rest is not cut to caption size"
    assert f"{photo['caption']} {rest['text']}" == text
    assert "reply_markup" not in photo
    assert rest["reply_markup"]["inline_keyboard"] == [
        [{"text": "↩️ В меню", "callback_data": "menu"}]
    ]


async def test_more_buttons_than_one_keyboard_holds_continue_in_a_follow_up_message(
    api: TelegramAPIStandIn, channel: TelegramChannel
) -> None:
    stores = tuple((Button(f"Магазин №{n}", payload=f"store:{n}"),) for n in range(130))

    sent = await channel.send(ANNA, Reply(text="Выберите магазин:", buttons=stores))

    first, more = api.calls("sendMessage")
    assert (first.params["text"], more.params["text"]) == ("Выберите магазин:", CONTINUED)
    assert len(payloads(first)) == 100, "Telegram's limit for one keyboard"
    assert payloads(first) + payloads(more) == [f"store:{n}" for n in range(130)]
    assert sent.source_id == f"{ANNA}:2"


# --- a 429 in the middle of a reply ------------------------------------------------------


async def deliver(bot: AppHarness, reply: Reply) -> list[Delivery]:
    """Send ``reply`` to Anna's conversation the way every reply goes: through the outbox.

    One delivery per reply, or one per message when it was refused after a part got through.
    """
    async with bot.services.database.uow() as uow:
        conversation_id = await uow.conversations.find_by_chat("telegram", ANNA)
    assert conversation_id is not None
    return await bot.services.outbox.deliver(
        bot.services.channel("telegram"), conversation_id, ANNA, [reply]
    )


async def test_a_429_on_the_second_part_resumes_there_and_no_part_arrives_twice(
    api: TelegramAPIStandIn, bot: AppHarness, clock: ManualClock
) -> None:
    await shopper_writes(bot, api, fixture_update("message_start"))  # the menu: Anna's message 1
    api.fail("sendMessage", 429, TOO_MANY, retry_after=3, after=1)

    [delivery] = await deliver(bot, Reply(text=THREE_PARTS, buttons=(MENU_ROW,)))

    shown = [message["text"] for message in api.chat(ANNA)[1:]]
    assert len(shown) == 3
    assert "\n".join(shown) == THREE_PARTS, "each part once, in order"
    assert [call.params["text"] for call in api.calls("sendMessage")[1:]] == [
        shown[0],
        shown[1],  # refused with 429
        shown[1],
        shown[2],
    ]
    assert clock.sleeps == [3.0]
    assert delivery.error is None
    reply = (await conversation(bot))[-1]
    assert (reply.status, reply.source_id) == ("sent", f"{ANNA}:4")  # the last part


async def test_a_429_that_does_not_end_mid_reply_is_recorded_as_failed_without_resending(
    api: TelegramAPIStandIn, bot: AppHarness, clock: ManualClock
) -> None:
    await shopper_writes(bot, api, fixture_update("message_start"))
    api.fail("sendMessage", 429, TOO_MANY, retry_after=3, after=1)
    for _ in range(3):
        api.fail("sendMessage", 429, TOO_MANY, retry_after=3)

    await deliver(bot, Reply(text=THREE_PARTS, buttons=(MENU_ROW,)))

    first_part = api.chat(ANNA)[1]["text"]
    assert [m["text"] for m in api.chat(ANNA)[1:]] == [first_part], "the first part only, once"
    assert clock.sleeps == [3.0, 3.0, 3.0]
    # One record per message: what the shopper has, the refused part, the part behind it.
    *_, shown, refused, behind = await conversation(bot)
    assert (shown.text, shown.status, shown.source_id) == (first_part, "sent", f"{ANNA}:2")
    assert (refused.status, refused.error_code, refused.retryable) == ("failed", "429", True)
    assert (behind.status, behind.error_code, behind.attempts) == ("failed", "held", 0)
    assert "\n".join([shown.text, refused.text, behind.text]) == THREE_PARTS
