"""Long polling end to end: the stand-in Bot API queues updates, the app answers over HTTP."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from storage.state import StateKey
from tests.conftest import AppHarness, SettingsFactory
from tests.fakes.telegram_api import ApiCall, TelegramAPIStandIn, fixture_update

ANNA = "555000111"
MENU = [
    [{"text": "❓ Задать вопрос", "callback_data": "menu:ask"}],
    [{"text": "✍️ Оставить отзыв", "callback_data": "menu:feedback"}],
    [{"text": "👤 Позвать оператора", "callback_data": "menu:handoff"}],
]


@pytest.fixture
async def bot(
    api: TelegramAPIStandIn, start_app: Any, make_settings: SettingsFactory
) -> AppHarness:
    """The app polling the stand-in (started after it, so stopped before it)."""
    app: AppHarness = await start_app(
        make_settings(**api.env(OTKLIK_TELEGRAM__POLLING_TIMEOUT="1"))
    )
    await api.next_call("getUpdates")
    return app


async def settled(bot: AppHarness) -> None:
    """Wait for the turns polling has taken (it moves on once a message is stored)."""
    await bot.services.channel("telegram").finish_background()


def keyboard(call: ApiCall) -> list[list[dict[str, Any]]]:
    markup = call.params.get("reply_markup") or {}
    rows: list[list[dict[str, Any]]] = markup.get("inline_keyboard", [])
    return rows


async def test_start_connects_removes_any_webhook_and_polls(
    api: TelegramAPIStandIn, bot: AppHarness
) -> None:
    assert api.methods()[:2] == ["getMe", "setMyCommands"]
    assert api.methods()[-2:] == ["deleteWebhook", "getUpdates"]
    poll = api.calls("getUpdates")[0].params
    assert poll["timeout"] == 1  # a JSON body: numbers stay numbers
    assert poll["allowed_updates"] == ["message", "callback_query"]


async def test_start_command_is_answered_with_the_menu_as_an_inline_keyboard(
    api: TelegramAPIStandIn, bot: AppHarness
) -> None:
    update_id = api.push_update(fixture_update("message_start_payload"))

    reply = await api.next_call("sendMessage")
    await api.confirmed(update_id)

    assert reply.params["chat_id"] == ANNA
    assert "Здравствуйте" in reply.params["text"]
    assert keyboard(reply) == MENU
    await settled(bot)
    async with bot.services.database.uow() as uow:
        conversation = await uow.conversations.find_by_chat("telegram", ANNA)
        assert conversation is not None
        history = await uow.messages.history(conversation)
    assert [(m.direction, m.text) for m in history] == [
        ("in", "/start"),
        ("out", reply.params["text"]),
    ]
    assert history[0].source_id == str(update_id)
    assert history[1].status == "sent"
    assert history[1].source_id == f"{ANNA}:1"  # chat and the message_id the Bot API returned


async def test_a_button_press_is_acknowledged_and_handled(
    api: TelegramAPIStandIn, bot: AppHarness
) -> None:
    api.push_update(fixture_update("message_start"))
    await api.next_call("sendMessage")
    press = fixture_update("callback_query")  # «👤 Позвать оператора»
    update_id = api.push_update(press)

    answer = await api.next_call("answerCallbackQuery")
    reply = await api.next_call("sendMessage")
    await api.confirmed(update_id)

    assert answer.params["callback_query_id"] == press["callback_query"]["id"]
    assert reply.params["text"].startswith("Передаю разговор оператору")
    assert [b["callback_data"] for row in keyboard(reply) for b in row] == ["handoff:cancel"]
    # the spinner stops before the (slower) turn runs
    assert api.methods().index("answerCallbackQuery") < len(api.methods()) - 2
    await settled(bot)
    async with bot.services.database.uow() as uow:
        waiting = await uow.handoffs.waiting()
        conversation = await uow.conversations.find_by_chat("telegram", ANNA)
        assert conversation is not None
        history = await uow.messages.history(conversation)
    assert [h.conversation_id for h in waiting] == [conversation]
    assert [m.button_payload for m in history if m.direction == "in"] == [None, "menu:handoff"]
    assert [m.status for m in history if m.direction == "out"] == ["sent", "sent"]


async def test_updates_are_confirmed_in_order_and_each_answered_once(
    api: TelegramAPIStandIn, bot: AppHarness
) -> None:
    menu = fixture_update("message_text")
    menu["message"]["text"] = "меню"
    first = api.push_update(fixture_update("message_start"))
    second = api.push_update(menu)

    await api.confirmed(second)
    await settled(bot)

    offsets = [call.params.get("offset") for call in api.calls("getUpdates")]
    assert first < second
    assert offsets[-1] == second + 1
    greeting, prompt = (call.params["text"] for call in api.calls("sendMessage"))
    assert greeting.startswith("Здравствуйте")
    assert prompt == "Чем могу помочь?"
    async with bot.services.database.uow() as uow:
        assert await uow.messages.count("telegram") == 4


async def test_healthz_reports_the_telegram_channel_ok_while_polling(
    api: TelegramAPIStandIn, bot: AppHarness
) -> None:
    response = await bot.client.get("/healthz")

    assert response.status == 200
    assert (await response.json())["channels"]["telegram"] == "ok"


async def test_start_lists_start_and_help_in_the_chat_menu_in_each_language(
    api: TelegramAPIStandIn, bot: AppHarness
) -> None:
    assert api.commands == {
        None: [("start", "Главное меню"), ("help", "Что умеет бот")],
        "en": [("start", "Main menu"), ("help", "What the bot can do")],
    }


async def test_a_refused_command_list_does_not_stop_the_bot(
    api: TelegramAPIStandIn, start_app: Any, make_settings: SettingsFactory
) -> None:
    api.fail("setMyCommands", 400, "Bad Request: BOT_COMMAND_INVALID")
    app: AppHarness = await start_app(make_settings(**api.env()))
    await api.next_call("getUpdates")
    update_id = api.push_update(fixture_update("message_start_payload"))

    reply = await api.next_call("sendMessage")
    await api.confirmed(update_id)

    assert "Здравствуйте" in reply.params["text"]
    response = await app.client.get("/healthz")
    assert (await response.json())["channels"]["telegram"] == "ok"


async def test_healthz_is_503_with_the_reason_when_the_token_is_revoked(
    api: TelegramAPIStandIn, start_app: Any, make_settings: SettingsFactory
) -> None:
    # The token is revoked (BotFather /revoke) after the bot connected: getUpdates says 401.
    api.fail("getUpdates", 401, "Unauthorized")
    app: AppHarness = await start_app(make_settings(**api.env()))
    await api.next_call("getUpdates")

    report = await health_until_down(app)

    assert report["channels"]["telegram"] == "the bot token was rejected"
    assert report["status"] == "down"
    assert report["database"] == "ok"
    assert api.methods()[-2:] == ["deleteWebhook", "getUpdates"], "polling must stop"
    assert api.methods().count("getUpdates") == 1


async def health_until_down(bot: AppHarness, within: float = 5.0) -> dict[str, Any]:
    """GET /healthz until it answers 503: the poller notices the refusal a moment later."""
    async with asyncio.timeout(within):
        while True:
            response = await bot.client.get("/healthz")
            report: dict[str, Any] = await response.json()
            if response.status == 503:
                return report


async def test_a_proxy_error_page_instead_of_updates_does_not_stop_polling(
    api: TelegramAPIStandIn, bot: AppHarness
) -> None:
    # A proxy in front of the Bot API answers a poll with its own HTML page once.
    api.page("getUpdates", 502, "<html><body><h1>502 Bad Gateway</h1></body></html>")
    await api.next_call("getUpdates")  # the poll that gets the page

    update_id = api.push_update(fixture_update("message_start"))
    reply = await api.next_call("sendMessage")
    await api.confirmed(update_id)

    assert "Здравствуйте" in reply.params["text"]
    health = await bot.client.get("/healthz")
    assert (await health.json())["channels"]["telegram"] == "ok"


async def test_an_update_that_cannot_be_read_is_skipped_and_the_rest_of_its_batch_answered(
    api: TelegramAPIStandIn, bot: AppHarness, caplog: pytest.LogCaptureFixture
) -> None:
    odd = fixture_update("message_text")
    odd["message"] = {**odd["message"], "date": "yesterday"}  # not a Bot API message
    skipped = api.push_update(odd)  # both in one batch: nothing is awaited between them
    taken = api.push_update(fixture_update("message_start"))

    reply = await api.next_call("sendMessage")
    await api.confirmed(taken)
    await settled(bot)

    assert "Здравствуйте" in reply.params["text"]
    assert f"Telegram update {skipped} is not a Bot API update" in caplog.text
    assert [call.params["text"] for call in api.calls("sendMessage")] == [reply.params["text"]]


async def test_a_slow_reply_in_one_chat_does_not_hold_up_another_chat(
    api: TelegramAPIStandIn, bot: AppHarness
) -> None:
    anna_is_slow = api.hold("sendMessage")  # the platform keeps Anna's reply waiting
    api.push_update(fixture_update("message_start"))
    await api.next_call("sendMessage")
    bob = fixture_update("message_start")
    person = {"id": 777000222, "first_name": "Боб"}
    bob["message"] = {
        **bob["message"],
        "from": {**person, "is_bot": False, "language_code": "ru"},
        "chat": {**person, "type": "private"},
    }

    api.push_update(bob)
    bobs_reply = await api.next_call("sendMessage")
    anna_is_slow.set()
    await settled(bot)

    assert bobs_reply.params["chat_id"] == "777000222"
    assert [call.params["chat_id"] for call in api.calls("sendMessage")] == [ANNA, "777000222"]
    assert len(api.chat(ANNA)) == 1  # and Anna got hers once the platform answered


async def menu_waits_behind_the_greeting(api: TelegramAPIStandIn, bot: AppHarness) -> None:
    """/start, then «меню» while the greeting's send is under way: returns once the second
    turn waits for the first one's lock (the caller holds the greeting's send)."""
    api.push_update(fixture_update("message_start"))
    await api.next_call("sendMessage")
    menu = fixture_update("message_text")
    menu["message"]["text"] = "меню"
    api.push_update(menu)
    key = StateKey("telegram", ANNA, ANNA)

    async def second_turn_waits() -> None:
        while bot.services.locks.users(key) < 2:  # noqa: ASYNC110 - no event says so
            await asyncio.sleep(0)

    await asyncio.wait_for(second_turn_waits(), 5)


async def test_a_chats_replies_keep_the_order_of_its_messages_when_a_send_is_slow(
    api: TelegramAPIStandIn, bot: AppHarness
) -> None:
    # «меню» arrives while the greeting is still on its way: its reply must come second.
    slow = api.hold("sendMessage")
    await menu_waits_behind_the_greeting(api, bot)
    slow.set()
    await settled(bot)

    shown = [message["text"] for message in api.chat(ANNA)]
    assert shown[0].startswith("Здравствуйте")
    assert shown[1:] == ["Чем могу помочь?"]


async def test_a_reply_refused_while_the_next_message_waits_is_not_overtaken(
    api: TelegramAPIStandIn, start_app: Any, make_settings: SettingsFactory
) -> None:
    # «меню» was stored while the greeting was on its way, so storing it found no reply
    # waiting; the greeting was then refused for a passing reason and waits for the retry job.
    env = api.env(OTKLIK_TELEGRAM__POLLING_TIMEOUT="1", OTKLIK_OUTBOX__RETRY_INTERVAL="3600")
    bot: AppHarness = await start_app(make_settings(**env))
    await api.next_call("getUpdates")
    slow = api.hold("sendMessage")
    api.fail("sendMessage", 502, "Bad Gateway")
    await menu_waits_behind_the_greeting(api, bot)
    slow.set()
    await settled(bot)

    assert api.chat(ANNA) == []  # the reply to «меню» did not go out before the greeting
    assert len(api.calls("sendMessage")) == 1
    async with bot.services.database.uow() as uow:
        conversation = await uow.conversations.find_by_chat("telegram", ANNA)
        assert conversation is not None
        replies = [m for m in await uow.messages.history(conversation) if m.direction == "out"]
    assert [(m.status, m.error_code) for m in replies] == [
        ("failed", "unavailable"),
        ("failed", "held"),
    ]

    # Once the retry job has sent both, in order, the chat's next reply goes out at once.
    await bot.services.retry.run_once(datetime.now(UTC) + timedelta(hours=1))
    menu = fixture_update("message_text")
    menu["message"]["text"] = "меню"
    again = api.push_update(menu)
    await api.confirmed(again)
    await settled(bot)
    shown = [message["text"] for message in api.chat(ANNA)]
    assert shown[0].startswith("Здравствуйте")
    assert shown[1:] == ["Чем могу помочь?", "Чем могу помочь?"]


async def test_stopping_lets_a_reply_in_flight_arrive_and_be_recorded(
    api: TelegramAPIStandIn, bot: AppHarness
) -> None:
    # A restart while a reply is on its way: the message is stored and Telegram will not
    # deliver it again, so the reply must still go out, not be cut off.
    slow = api.hold("sendMessage")
    api.push_update(fixture_update("message_start"))
    await api.next_call("sendMessage")

    telegram = bot.services.channel("telegram")
    stopping = asyncio.create_task(bot.client.close())
    # Wait, one loop turn at a time (no timing), until polling is being stopped.
    while await telegram.health() != "stopping":  # noqa: ASYNC110 - no event says so
        await asyncio.sleep(0)
    slow.set()
    await stopping

    assert len(api.chat(ANNA)) == 1
    async with bot.services.database.uow() as uow:
        conversation = await uow.conversations.find_by_chat("telegram", ANNA)
        assert conversation is not None
        history = await uow.messages.history(conversation)
    assert [(m.direction, m.status) for m in history] == [("in", "received"), ("out", "sent")]
