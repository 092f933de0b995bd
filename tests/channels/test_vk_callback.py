"""The Callback API on /webhooks/vk: confirmation, the secret, the group, "ok" once stored."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from storage.records import StoredMessage
from tests.conftest import AppHarness, SettingsFactory
from tests.fakes.vk_api import GROUP_ID, VkApiStandIn, message_event, message_new
from tests.payloads import payload

SECRET = "s3cr3t-callback"
CODE = "a1b2c3d4"
ANNA = 512345678
VK_PATIENCE = 5.0
"""Seconds; far less than the three 10 s timeouts a hanging messages.send costs."""


def fixture(name: str) -> dict[str, Any]:
    return payload("vk", name)


@pytest.fixture
async def vk() -> AsyncIterator[VkApiStandIn]:
    async with VkApiStandIn() as server:
        yield server


@pytest.fixture
async def bot(vk: VkApiStandIn, start_app: Any, make_settings: SettingsFactory) -> AppHarness:
    settings = make_settings(**vk.env(VK_CONFIRMATION_CODE=CODE, VK_SECRET=SECRET))
    app: AppHarness = await start_app(settings)
    return app


async def post(bot: AppHarness, body: Any, *, secret: str | None = SECRET) -> tuple[int, str]:
    if isinstance(body, dict) and secret is not None:
        body = {**body, "secret": secret}
    # As VK sends it: UTF-8 (a lone surrogate can only travel \u-escaped).
    data = (
        body
        if isinstance(body, bytes)
        else json.dumps(body, ensure_ascii=False).encode("utf-8", "backslashreplace")
    )
    response = await bot.client.post(
        "/webhooks/vk", data=data, headers={"Content-Type": "application/json"}
    )
    # "ok" comes once the message is stored; the turn finishes in the background.
    await bot.services.channel("vk").finish_background()
    return response.status, await response.text()


async def history(bot: AppHarness, peer_id: int = ANNA) -> list[StoredMessage]:
    async with bot.services.database.uow() as uow:
        conversation = await uow.conversations.find_by_chat("vk", str(peer_id))
        return [] if conversation is None else await uow.messages.history(conversation)


async def stored(bot: AppHarness) -> int:
    async with bot.services.database.uow() as uow:
        return await uow.messages.count("vk")


async def test_callback_mode_checks_the_token_and_does_not_long_poll(
    vk: VkApiStandIn, bot: AppHarness
) -> None:
    assert list(vk.calls) == ["groups.getById"]
    assert vk.calls["groups.getById"][0]["group_id"] == str(GROUP_ID)
    health = await bot.client.get("/healthz")
    assert (await health.json())["channels"]["vk"] == "ok"


async def test_confirmation_is_answered_with_the_code_as_plain_text(bot: AppHarness) -> None:
    response = await bot.client.post("/webhooks/vk", json=fixture("confirmation"))

    assert response.status == 200
    assert response.content_type == "text/plain"
    assert await response.text() == CODE


async def test_a_stale_confirmation_for_another_group_is_refused(
    bot: AppHarness, caplog: pytest.LogCaptureFixture
) -> None:
    status, text = await post(bot, {"type": "confirmation", "group_id": 1}, secret=None)

    assert status == 403
    assert CODE not in text
    assert "asked to confirm group 1" in caplog.text


async def test_a_confirmation_with_a_wrong_secret_is_refused(bot: AppHarness) -> None:
    status, text = await post(bot, fixture("confirmation"), secret="guess")

    assert (status, text) == (403, "wrong secret")


@pytest.mark.parametrize("secret", [None, "", "s3cr3t-callbacK", 12345, "\ud800", "секрет"])
async def test_an_event_without_the_right_secret_is_refused_and_not_processed(
    vk: VkApiStandIn, bot: AppHarness, secret: Any, caplog: pytest.LogCaptureFixture
) -> None:
    event = fixture("message_new")
    del event["secret"]
    if secret is not None:
        event["secret"] = secret

    status, _ = await post(bot, event, secret=None)

    assert status == 403
    assert await stored(bot) == 0
    assert "messages.send" not in vk.calls
    assert "without the right secret" in caplog.text


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe",
        b"[1, 2]",
        b'{"type": 5}',
        b'"message_new"',
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["broken", "not-utf8", "array", "type-not-a-string", "string", "nested-too-deep"],
)
async def test_a_body_that_is_not_an_event_is_refused(bot: AppHarness, body: bytes) -> None:
    status, _ = await post(bot, body, secret=None)

    assert status == 400
    assert await stored(bot) == 0


async def test_a_message_without_a_peer_is_refused_as_malformed(
    bot: AppHarness, caplog: pytest.LogCaptureFixture
) -> None:
    event = fixture("message_new")
    del event["object"]["message"]["peer_id"]

    status, text = await post(bot, event)

    assert status == 400
    assert "peer_id" in text
    assert "malformed message_new" in caplog.text


async def test_an_unknown_event_type_is_acknowledged_and_ignored_with_a_log_line(
    vk: VkApiStandIn, bot: AppHarness, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bots.vk"):
        status, text = await post(bot, fixture("group_join"))

    assert (status, text) == (200, "ok")
    assert await stored(bot) == 0
    assert "group_join event is not handled" in caplog.text


async def test_an_event_for_another_group_is_acknowledged_and_ignored(
    vk: VkApiStandIn, bot: AppHarness, caplog: pytest.LogCaptureFixture
) -> None:
    status, text = await post(bot, message_new(ANNA, "привет", group_id=GROUP_ID + 1))

    assert (status, text) == (200, "ok")
    assert await stored(bot) == 0
    assert "messages.send" not in vk.calls
    assert f"for group {GROUP_ID + 1}" in caplog.text


async def test_ok_comes_after_the_message_is_stored_and_answered(
    vk: VkApiStandIn, bot: AppHarness
) -> None:
    status, text = await post(bot, fixture("message_new_start"))

    assert (status, text) == (200, "ok")
    messages = await history(bot)
    assert (messages[0].direction, messages[0].text) == ("in", "/start")
    assert messages[1].status == "sent"
    sent = await vk.next_message()
    assert sent["peer_id"] == str(ANNA)
    assert int(sent["random_id"]) > 0
    assert "Здравствуйте" in sent["message"]
    keyboard = json.loads(sent["keyboard"])
    assert keyboard["inline"] is True
    assert [[b["action"]["label"] for b in row] for row in keyboard["buttons"]] == [
        ["❓ Задать вопрос"],
        ["✍️ Оставить отзыв"],
        ["👤 Позвать оператора"],
    ]
    assert keyboard["buttons"][0][0]["action"]["payload"] == '{"p":"menu:ask"}'
    assert messages[1].source_id == "1001"


async def test_a_retried_event_is_processed_once(vk: VkApiStandIn, bot: AppHarness) -> None:
    event = fixture("message_new")

    first = await post(bot, event)
    kept, sent = len(await history(bot)), len(vk.calls["messages.send"])
    again = await post(bot, event)

    assert first == again == (200, "ok")
    messages = await history(bot)
    assert len(messages) == kept
    assert [m.direction for m in messages].count("in") == 1
    assert len(vk.calls["messages.send"]) == sent


async def test_a_callback_button_is_answered_then_handled(
    vk: VkApiStandIn, bot: AppHarness
) -> None:
    event = message_event(ANNA, {"p": "menu:ask"})

    status, _ = await post(bot, event)

    assert status == 200
    answer = await vk.next_call("messages.sendMessageEventAnswer")
    assert answer["event_id"] == event["object"]["event_id"]
    assert (answer["user_id"], answer["peer_id"]) == (str(ANNA), str(ANNA))
    sent = await vk.next_message()
    assert "Напишите ваш вопрос" in sent["message"]
    assert (await history(bot))[0].button_payload == "menu:ask"


async def test_a_failed_button_answer_does_not_lose_the_press(
    vk: VkApiStandIn, bot: AppHarness
) -> None:
    vk.answer("messages.sendMessageEventAnswer", error=(100, "event_id is expired"))

    status, _ = await post(bot, message_event(ANNA, {"p": "menu:ask"}))

    assert status == 200
    assert "Напишите ваш вопрос" in (await vk.next_message())["message"]


async def test_a_refused_send_is_recorded_as_failed_and_the_message_kept(
    vk: VkApiStandIn, bot: AppHarness
) -> None:
    vk.answer("messages.send", error=(901, "Can't send messages for users without permission"))

    status, text = await post(bot, fixture("message_new"))

    assert (status, text) == (200, "ok")
    incoming, outgoing, *_ = await history(bot)
    assert incoming.text == "До скольки работает магазин?"
    assert (outgoing.status, outgoing.error_code) == ("failed", "901")


async def test_a_photo_without_a_url_is_stored_and_answered(
    vk: VkApiStandIn, bot: AppHarness
) -> None:
    event = fixture("message_new_photo")
    event["object"]["message"]["attachments"][0]["photo"].pop("sizes")

    status, _ = await post(bot, event)

    assert status == 200
    incoming = (await history(bot))[0]
    assert incoming.attachments is not None
    assert incoming.attachments[0]["type"] == "Photo"
    assert incoming.attachments[0]["url"] is None
    assert "messages.send" in vk.calls


async def test_when_the_message_cannot_be_stored_vk_is_not_told_ok(
    vk: VkApiStandIn, bot: AppHarness
) -> None:
    database = bot.services.database
    await database.dispose()
    bot.services.settings.database.sqlite_path.unlink()  # the next connection finds no tables

    status, text = await post(bot, fixture("message_new"))

    assert status == 500
    assert text != "ok"
    assert "messages.send" not in vk.calls


async def test_ok_comes_once_the_message_is_stored_not_after_a_slow_reply(
    vk: VkApiStandIn, bot: AppHarness
) -> None:
    vk.answer("messages.send", hang=True)  # VK takes the reply but never answers the call
    event = {**fixture("message_new"), "secret": SECRET}

    # Within VK's patience: the reply's timeouts and retries must not hold the "ok" back.
    response = await asyncio.wait_for(
        bot.client.post("/webhooks/vk", json=event), timeout=VK_PATIENCE
    )

    assert (response.status, await response.text()) == (200, "ok")
    assert [m.direction for m in await history(bot)] == ["in"]  # kept before "ok"
    await vk.next_call("messages.send")  # and the answer is on its way
    await bot.services.channel("vk").stop_background(grace=0)  # no need to wait it out
