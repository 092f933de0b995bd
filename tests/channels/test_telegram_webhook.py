"""Webhook mode: Telegram pushes updates to /webhooks/telegram; only it knows the secret."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from aiohttp import ClientResponse
from sqlalchemy import text

from bots.telegram import webhook_secret
from storage.database import Database
from storage.state import StateKey
from tests.conftest import AppHarness, SettingsFactory
from tests.fakes.telegram_api import (
    SECRET_HEADER,
    TOKEN,
    TelegramAPIStandIn,
    fixture_update,
)

WEBHOOK_URL = "https://bot.example.com/webhooks/telegram"
PATH = "/webhooks/telegram"
ANNA = "555000111"
GROUP = "-1001234567890"


@pytest.fixture
async def bot(
    api: TelegramAPIStandIn, start_app: Any, make_settings: SettingsFactory
) -> AppHarness:
    app: AppHarness = await start_app(make_settings(**api.env(TELEGRAM_WEBHOOK_URL=WEBHOOK_URL)))
    return app


async def post(
    bot: AppHarness, api: TelegramAPIStandIn, update: Any, headers: dict[str, str] | None = None
) -> ClientResponse:
    """POST ``update`` as Telegram does: JSON, with the secret registered by setWebhook."""
    return await bot.client.post(
        PATH, json=update, headers=api.webhook_headers() if headers is None else headers
    )


async def stored(bot: AppHarness) -> int:
    async with bot.services.database.uow() as uow:
        return await uow.messages.count("telegram")


async def test_start_registers_the_webhook_with_a_secret_and_does_not_poll(
    api: TelegramAPIStandIn, bot: AppHarness
) -> None:
    assert [m for m in api.methods() if m != "setMyCommands"] == ["getMe", "setWebhook"]
    params = api.calls("setWebhook")[0].params
    assert params["url"] == WEBHOOK_URL
    assert params["secret_token"] == webhook_secret(TOKEN)
    assert params["allowed_updates"] == ["message", "callback_query"]


async def test_a_configured_secret_is_the_one_registered(
    api: TelegramAPIStandIn, start_app: Any, make_settings: SettingsFactory
) -> None:
    settings = make_settings(
        **api.env(TELEGRAM_WEBHOOK_URL=WEBHOOK_URL, TELEGRAM_WEBHOOK_SECRET="chain-secret_42")
    )
    app: AppHarness = await start_app(settings)

    assert api.calls("setWebhook")[0].params["secret_token"] == "chain-secret_42"
    response = await post(app, api, fixture_update("message_start"))
    assert response.status == 200


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-secret"),
        pytest.param({SECRET_HEADER: "guess"}, id="wrong-secret"),
        pytest.param({SECRET_HEADER: webhook_secret(TOKEN)[:-1]}, id="truncated-secret"),
    ],
)
async def test_without_the_right_secret_nothing_is_stored_or_sent(
    api: TelegramAPIStandIn, bot: AppHarness, headers: dict[str, str]
) -> None:
    response = await post(bot, api, fixture_update("message_start"), headers)

    assert response.status == 401
    assert await stored(bot) == 0
    assert api.calls("sendMessage") == []


async def test_with_the_right_secret_the_update_is_answered_and_stored(
    api: TelegramAPIStandIn, bot: AppHarness
) -> None:
    response = await post(bot, api, fixture_update("message_group_text"))  # «оператор»

    assert response.status == 200
    [reply] = api.calls("sendMessage")
    assert reply.params["chat_id"] == "-1001234567890"
    assert reply.params["text"].startswith("Передаю разговор оператору")
    async with bot.services.database.uow() as uow:
        assert len(await uow.handoffs.waiting()) == 1
        assert await uow.messages.count("telegram") == 2


def group_message(text: str) -> dict[str, Any]:
    update = fixture_update("message_group_start_bot")
    update["message"]["text"] = text
    return update


async def test_start_at_this_bot_in_a_group_greets_and_keeps_the_deep_link(
    api: TelegramAPIStandIn, bot: AppHarness
) -> None:
    # The bot learned its username (@otklik_test_bot) from getMe when it started.
    response = await post(bot, api, fixture_update("message_group_start_bot"))

    assert response.status == 200
    [reply] = api.calls("sendMessage")
    assert reply.params["chat_id"] == GROUP
    assert reply.params["text"].startswith("Здравствуйте! Я бот поддержки.")
    state = await bot.services.states.get_data(StateKey("telegram", GROUP, ANNA))
    assert state.get("entry") == "qr-store-12"


async def test_start_at_another_bot_in_a_group_is_left_to_that_bot(
    api: TelegramAPIStandIn, bot: AppHarness
) -> None:
    response = await post(bot, api, group_message("/start@other_bot qr-store-12"))

    assert response.status == 200, "acknowledged, so Telegram does not send it again"
    assert api.calls("sendMessage") == []
    assert await stored(bot) == 0


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"update_id": 1, "message": {', id="truncated-json"),
        pytest.param(b"\xff\xfe not utf-8", id="not-utf8"),
        pytest.param(b"[1, 2, 3]", id="json-array"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="nested-too-deep"),
        pytest.param(b'"update"', id="json-string"),
        pytest.param(b"{}", id="no-update-id"),
        pytest.param(b'{"update_id": "first"}', id="update-id-not-a-number"),
        pytest.param(b'{"update_id": 5, "message": {"text": "no chat"}}', id="message-no-chat"),
    ],
)
async def test_a_malformed_body_is_refused_and_the_next_update_still_works(
    api: TelegramAPIStandIn, bot: AppHarness, body: bytes
) -> None:
    headers = {**api.webhook_headers(), "Content-Type": "application/json"}

    refused = await bot.client.post(PATH, data=body, headers=headers)
    accepted = await post(bot, api, fixture_update("message_start"))

    assert refused.status == 400
    assert accepted.status == 200
    assert len(api.calls("sendMessage")) == 1
    assert await stored(bot) == 2


@pytest.mark.parametrize(
    "name", ["edited_message", "channel_post", "my_chat_member", "unknown_type"]
)
async def test_an_update_the_bot_does_not_handle_is_acknowledged_and_ignored(
    api: TelegramAPIStandIn, bot: AppHarness, name: str
) -> None:
    response = await post(bot, api, fixture_update(name))

    assert response.status == 200  # anything else and Telegram would redeliver it for a day
    assert api.calls("sendMessage") == []
    assert await stored(bot) == 0


async def test_the_same_update_delivered_twice_is_answered_once(
    api: TelegramAPIStandIn, bot: AppHarness
) -> None:
    update = fixture_update("message_start")

    first = await post(bot, api, update)
    again = await post(bot, api, update)

    assert (first.status, again.status) == (200, 200)
    assert len(api.calls("sendMessage")) == 1
    assert await stored(bot) == 2  # one in, one out


async def test_a_button_press_by_webhook_is_acknowledged_then_answered(
    api: TelegramAPIStandIn, bot: AppHarness
) -> None:
    response = await post(bot, api, fixture_update("callback_query_inline"))  # «❓ Задать вопрос»

    assert response.status == 200
    assert api.methods()[-2:] == ["answerCallbackQuery", "sendMessage"]
    assert api.calls("sendMessage")[0].params["chat_id"] == ANNA


async def test_a_body_over_the_size_limit_is_refused_and_the_server_keeps_serving(
    api: TelegramAPIStandIn, bot: AppHarness
) -> None:
    huge = fixture_update("message_text")
    huge["message"]["text"] = "я" * (1024 * 1024)

    body = io.BytesIO(json.dumps(huge).encode())  # 2 MB: over the app's 1 MB body limit
    refused = await bot.client.post(PATH, data=body, headers=api.webhook_headers())
    accepted = await post(bot, api, fixture_update("message_start"))

    assert refused.status == 413
    assert accepted.status == 200
    assert len(api.calls("sendMessage")) == 1


async def test_healthz_reports_the_telegram_channel_ok_in_webhook_mode(bot: AppHarness) -> None:
    response = await bot.client.get("/healthz")

    assert response.status == 200
    assert (await response.json())["channels"]["telegram"] == "ok"


async def test_replies_that_cannot_be_recorded_still_answer_telegram_ok(
    api: TelegramAPIStandIn, start_app: Any, make_settings: SettingsFactory, postgres_url: str
) -> None:
    # The message is stored and its reply sent; only recording the reply fails. A 500 would
    # make Telegram send the update again, which the engine takes for a redelivery anyway.
    schema = Database(postgres_url)
    await schema.upgrade()  # as `otklik db upgrade` does before a PostgreSQL start
    await schema.dispose()
    env = api.env(TELEGRAM_WEBHOOK_URL=WEBHOOK_URL)
    bot: AppHarness = await start_app(make_settings(**env, DATABASE_URL=postgres_url))
    async with bot.services.database.engine.begin() as connection:
        await connection.execute(
            text(
                "CREATE FUNCTION refuse_replies() RETURNS trigger AS $$ BEGIN "
                "IF NEW.direction = 'out' THEN RAISE EXCEPTION 'the disk is full'; END IF; "
                "RETURN NEW; END $$ LANGUAGE plpgsql"
            )
        )
        await connection.execute(
            text(
                "CREATE TRIGGER refuse_replies BEFORE INSERT ON messages "
                "FOR EACH ROW EXECUTE FUNCTION refuse_replies()"
            )
        )

    response = await post(bot, api, fixture_update("message_start"))

    assert response.status == 200
    assert len(api.chat(ANNA)) == 1  # the shopper has the reply
    assert await stored(bot) == 1  # and their message is kept
