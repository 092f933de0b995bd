"""The Viber webhook end to end: signatures, the welcome, subscriptions, bad input."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bots.channel import SendError
from bots.messages import Reply
from storage.records import StoredMessage
from storage.state import StateKey
from tests.conftest import AppHarness, SettingsFactory
from tests.fakes.viber_api import (
    ViberApiStandIn,
    conversation_started,
    deliver,
    message,
    open_link,
    press,
    sign,
    subscribed,
    unsubscribed,
)

ANNA = "k9fWZ1bLtSoG0Jp3wTtJ6A=="
SMALL_FAQ = str(Path(__file__).parents[1] / "fixtures" / "faq")


@pytest.fixture
async def viber() -> AsyncIterator[ViberApiStandIn]:
    async with ViberApiStandIn() as server:
        yield server


@pytest.fixture
async def bot(
    viber: ViberApiStandIn, start_app: Any, make_settings: SettingsFactory
) -> AppHarness:
    settings = make_settings(
        **viber.env(VIBER_BOT_NAME="Магазин у дома", VIBER_BOT_AVATAR="https://shop.example/a.png")
    )
    app: AppHarness = await start_app(settings)
    return app


async def history(bot: AppHarness, user: str = ANNA) -> list[StoredMessage]:
    async with bot.services.database.uow() as uow:
        conversation = await uow.conversations.find_by_chat("viber", user)
        return [] if conversation is None else await uow.messages.history(conversation)


async def stored(bot: AppHarness) -> int:
    async with bot.services.database.uow() as uow:
        return await uow.messages.count("viber")


async def post_raw(bot: AppHarness, body: bytes, headers: dict[str, str]) -> int:
    response = await bot.client.post("/webhooks/viber", data=body, headers=headers)
    return response.status


async def test_start_checks_the_token_and_reports_healthy(
    viber: ViberApiStandIn, bot: AppHarness
) -> None:
    assert list(viber.calls) == ["get_account_info"]
    assert viber.calls["get_account_info"][0]["auth_token"] == viber.token
    health = await bot.client.get("/healthz")
    assert (await health.json())["channels"]["viber"] == "ok"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Viber-Content-Signature": ""},
        {"X-Viber-Content-Signature": "0" * 64},
        {"X-Viber-Content-Signature": sign(b"{}")},
    ],
    ids=["missing", "empty", "wrong", "another-body"],
)
async def test_a_callback_without_a_valid_signature_is_refused_and_not_processed(
    viber: ViberApiStandIn, bot: AppHarness, headers: dict[str, str]
) -> None:
    body = json.dumps(message(ANNA, "привет")).encode()

    assert await post_raw(bot, body, headers) == 403
    assert await stored(bot) == 0
    assert "send_message" not in viber.calls


async def test_a_callback_signed_with_another_token_is_refused(bot: AppHarness) -> None:
    response = await deliver(bot.client, message(ANNA, "привет"), token="someone-else")

    assert response.status == 403
    assert await stored(bot) == 0


@pytest.mark.parametrize(
    "body",
    [b"{not json", b"[1]", b'{"timestamp": 1}', b'{"event": 7}', b"[" * 100_000 + b"]" * 100_000],
    ids=["broken", "array", "no-event", "event-not-a-string", "nested-too-deep"],
)
async def test_a_signed_body_that_is_not_a_callback_is_refused(
    bot: AppHarness, body: bytes
) -> None:
    assert await post_raw(bot, body, {"X-Viber-Content-Signature": sign(body)}) == 400
    assert await stored(bot) == 0


async def test_a_message_without_a_sender_is_refused_as_malformed(
    bot: AppHarness, caplog: pytest.LogCaptureFixture
) -> None:
    callback = message(ANNA, "привет")
    del callback["sender"]

    response = await deliver(bot.client, callback)

    assert response.status == 400
    assert "malformed message callback" in caplog.text


@pytest.mark.parametrize("event", ["webhook", "delivered", "seen", "failed", "client_status"])
async def test_other_callbacks_are_acknowledged_without_a_message(
    viber: ViberApiStandIn, bot: AppHarness, event: str, caplog: pytest.LogCaptureFixture
) -> None:
    callback = {"event": event, "timestamp": 1767268800000, "message_token": 1, "user_id": ANNA}

    with caplog.at_level(logging.INFO, logger="bots.viber"):
        response = await deliver(bot.client, callback)

    assert response.status == 200
    assert await stored(bot) == 0
    if event == "client_status":
        assert "client_status callback is not handled by the bot; ignored" in caplog.text
    if event == "failed":
        assert "failed" in caplog.text


async def test_a_reply_viber_reports_undelivered_is_recorded_as_failed(
    viber: ViberApiStandIn, bot: AppHarness
) -> None:
    await deliver(bot.client, message(ANNA, "меню"))
    reply = (await history(bot))[-1]
    assert reply.status == "sent"
    notice = {
        "event": "failed",
        "timestamp": 1767268800000,
        "message_token": int(reply.source_id or 0),
        "user_id": ANNA,
        "desc": "the receiver's client is too old",
    }

    response = await deliver(bot.client, notice)
    again = await deliver(bot.client, {**notice, "message_token": 999})  # not ours: nothing

    assert (response.status, again.status) == (200, 200)
    last = (await history(bot))[-1]
    assert (last.id, last.status, last.error_code) == (reply.id, "failed", "undelivered")
    assert not last.retryable  # a resend could reach the shopper twice


async def test_conversation_started_is_answered_with_the_welcome_in_the_response(
    viber: ViberApiStandIn, bot: AppHarness
) -> None:
    started = conversation_started(ANNA, context="qr-store-12")

    response = await deliver(bot.client, started)

    assert response.status == 200
    welcome = await response.json()
    assert welcome["type"] == "text"
    assert "Здравствуйте" in welcome["text"]
    assert welcome["sender"] == {"name": "Магазин у дома", "avatar": "https://shop.example/a.png"}
    assert [(b["Text"], b["ActionBody"]) for b in welcome["keyboard"]["Buttons"]] == [
        ("❓ Задать вопрос", "btn:menu:ask"),
        ("✍️ Оставить отзыв", "btn:menu:feedback"),
        ("👤 Позвать оператора", "btn:menu:handoff"),
    ]
    assert "send_message" not in viber.calls
    incoming, outgoing = await history(bot)
    assert (incoming.text, outgoing.text) == ("/start", welcome["text"])
    assert (outgoing.status, outgoing.source_id) == ("sent", f"welcome-{started['message_token']}")
    state = await bot.services.states.get_data(StateKey("viber", ANNA, ANNA))
    assert state["entry"] == "qr-store-12"


async def test_a_repeated_conversation_started_gets_no_second_welcome(bot: AppHarness) -> None:
    started = conversation_started(ANNA)
    await deliver(bot.client, started)

    again = await deliver(bot.client, started)

    assert again.status == 200
    assert await again.json() == {"status": 0}
    assert [m.direction for m in await history(bot)] == ["in", "out"]


async def test_a_conversation_runs_over_the_webhook_and_send_message(
    viber: ViberApiStandIn, bot: AppHarness
) -> None:
    welcome = await (await deliver(bot.client, conversation_started(ANNA))).json()

    pressed = await deliver(bot.client, message(ANNA, press(welcome, "Задать вопрос")))
    prompt = await viber.next_message()

    assert pressed.status == 200
    assert prompt["receiver"] == ANNA
    assert prompt["type"] == "text"
    assert "Напишите ваш вопрос" in prompt["text"]
    assert prompt["sender"]["name"] == "Магазин у дома"
    messages = await history(bot)
    assert [(m.direction, m.text, m.button_payload) for m in messages] == [
        ("in", "/start", None),
        ("out", welcome["text"], None),
        ("in", "", "menu:ask"),
        ("out", prompt["text"], None),
    ]
    assert messages[-1].source_id == "5491000000000000001"


async def test_a_redelivered_message_is_processed_once(
    viber: ViberApiStandIn, bot: AppHarness
) -> None:
    callback = message(ANNA, "меню")

    await deliver(bot.client, callback)
    await deliver(bot.client, callback)

    assert len(viber.calls["send_message"]) == 1
    assert [m.direction for m in await history(bot)] == ["in", "out"]


async def test_nothing_is_sent_to_a_shopper_who_unsubscribed(
    viber: ViberApiStandIn, bot: AppHarness
) -> None:
    await deliver(bot.client, message(ANNA, "меню"))
    conversation = (await history(bot))[0].conversation_id
    channel = bot.services.channel("viber")

    assert (await deliver(bot.client, unsubscribed(ANNA))).status == 200
    with pytest.raises(SendError) as refused:
        await channel.send(ANNA, Reply("Оператор ответил"))
    deliveries = await bot.services.outbox.deliver(
        channel, conversation, ANNA, [Reply("Оператор ответил")], author="operator"
    )

    assert refused.value.code == "unsubscribed"
    assert deliveries[0].error is not None
    assert deliveries[0].error.code == "unsubscribed"
    last = (await history(bot))[-1]
    assert (last.text, last.status, last.error_code) == (
        "Оператор ответил",
        "failed",
        "unsubscribed",
    )
    assert len(viber.calls["send_message"]) == 1


async def test_subscribing_again_lets_replies_through(
    viber: ViberApiStandIn, bot: AppHarness
) -> None:
    channel = bot.services.channel("viber")
    await deliver(bot.client, unsubscribed(ANNA))
    await deliver(bot.client, subscribed(ANNA))

    await channel.send(ANNA, Reply("Снова с вами"))

    assert (await viber.next_message())["text"] == "Снова с вами"


async def test_writing_to_the_bot_subscribes_the_shopper_again(
    viber: ViberApiStandIn, bot: AppHarness
) -> None:
    await deliver(bot.client, unsubscribed(ANNA))

    await deliver(bot.client, message(ANNA, "меню"))

    assert "Чем могу помочь" in (await viber.next_message())["text"]
    assert (await history(bot))[-1].status == "sent"


async def test_viber_saying_not_subscribed_is_recorded_and_remembered(
    viber: ViberApiStandIn, bot: AppHarness
) -> None:
    viber.answer("send_message", status=6, status_message="receiverNotSubscribed")

    await deliver(bot.client, message(ANNA, "меню"))
    with pytest.raises(SendError):
        await bot.services.channel("viber").send(ANNA, Reply("Ещё одно"))

    last = (await history(bot))[-1]
    assert (last.status, last.error_code) == ("failed", "unsubscribed")
    assert len(viber.calls["send_message"]) == 1  # the second was stopped before the API


async def test_a_picture_without_a_url_is_stored_and_answered(
    viber: ViberApiStandIn, bot: AppHarness
) -> None:
    response = await deliver(bot.client, message(ANNA, kind="picture"))

    assert response.status == 200
    incoming = (await history(bot))[0]
    assert incoming.attachments is not None
    assert (incoming.attachments[0]["type"], incoming.attachments[0]["url"]) == ("Photo", None)
    assert "send_message" in viber.calls


async def test_a_failing_api_keeps_the_message_and_the_webhook_answers(
    viber: ViberApiStandIn, bot: AppHarness
) -> None:
    viber.answer("send_message", http_status=503)

    response = await deliver(bot.client, message(ANNA, "меню"))

    assert response.status == 200
    incoming, outgoing = await history(bot)
    assert incoming.text == "меню"
    assert (outgoing.status, outgoing.error_code) == ("failed", "unavailable")
    health = await bot.client.get("/healthz")
    assert (await health.json())["channels"]["viber"] == "Viber answered HTTP 503"


async def test_when_the_message_cannot_be_stored_viber_gets_an_error(
    viber: ViberApiStandIn, bot: AppHarness
) -> None:
    await bot.services.database.dispose()
    bot.services.settings.database.sqlite_path.unlink()  # the next connection finds no tables

    response = await deliver(bot.client, message(ANNA, "меню"))

    assert response.status == 500
    assert "send_message" not in viber.calls


@pytest.fixture
async def faq_bot(
    viber: ViberApiStandIn, start_app: Any, make_settings: SettingsFactory
) -> AppHarness:
    app: AppHarness = await start_app(make_settings(**viber.env(OTKLIK_FAQ__PATH=SMALL_FAQ)))
    return app


async def unanswered(bot: AppHarness) -> list[str]:
    async with bot.services.database.uow() as uow:
        return [question.text for question in await uow.faq.unanswered_since(None)]


async def ask_store_hours(viber: ViberApiStandIn, bot: AppHarness) -> dict[str, Any]:
    await deliver(bot.client, message(ANNA, "режим работы магазина"))
    answer = await viber.next_message()
    labels = [b["Text"] for b in answer["keyboard"]["Buttons"]]
    assert labels == ["Адреса магазинов", "Доставка", "👍", "👎"]
    return answer


async def test_a_link_button_press_is_kept_and_the_answer_keeps_its_rating_buttons(
    viber: ViberApiStandIn, faq_bot: AppHarness
) -> None:
    answer = await ask_store_hours(viber, faq_bot)
    link = next(b for b in answer["keyboard"]["Buttons"] if b["ActionType"] == "open-url")
    assert link["Silent"] is True  # the chat does not show the URL as the shopper's message

    response = await deliver(faq_bot.client, open_link(ANNA, answer, "Адреса магазинов"))

    assert response.status == 200
    # No fallback reply, so the 👍/👎 keyboard Viber shows is still the answer's.
    assert viber.sent == [answer]
    assert await unanswered(faq_bot) == []
    kept = (await history(faq_bot))[-1]
    assert (kept.direction, kept.text) == ("in", "https://example.com/stores")
    await deliver(faq_bot.client, message(ANNA, press(answer, "👍")))
    assert "Рад, что помог" in (await viber.next_message())["text"]


@pytest.mark.parametrize("silent", [False, None], ids=["not-silent", "no-silent-field"])
async def test_a_link_button_press_is_told_by_its_url_when_viber_does_not_mark_it_silent(
    viber: ViberApiStandIn, faq_bot: AppHarness, silent: bool | None
) -> None:
    answer = await ask_store_hours(viber, faq_bot)
    echo = open_link(ANNA, answer, "Адреса магазинов")
    if silent is None:
        del echo["silent"]
    else:
        echo["silent"] = silent

    await deliver(faq_bot.client, echo)

    assert viber.sent == [answer]
    assert await unanswered(faq_bot) == []
    assert (await history(faq_bot))[-1].text == "https://example.com/stores"


async def test_a_silent_link_is_a_button_press_even_when_its_reply_is_not_at_hand(
    viber: ViberApiStandIn, faq_bot: AppHarness
) -> None:
    echo = message(ANNA, "https://example.com/stores")
    echo["silent"] = True  # only a Silent button sends that; ours that reply carry "btn:"

    await deliver(faq_bot.client, echo)

    assert "send_message" not in viber.calls
    assert [(m.direction, m.text) for m in await history(faq_bot)] == [
        ("in", "https://example.com/stores")
    ]


async def test_a_link_the_bot_never_offered_is_answered_as_usual(
    viber: ViberApiStandIn, faq_bot: AppHarness
) -> None:
    await ask_store_hours(viber, faq_bot)

    await deliver(faq_bot.client, message(ANNA, "https://example.com/somewhere-else"))

    assert "не нашёл" in (await viber.next_message())["text"]
    assert len(viber.sent) == 2
    assert await unanswered(faq_bot) == ["https://example.com/somewhere-else"]
