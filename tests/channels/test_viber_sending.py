"""ViberChannel.send, webhook registration and `otklik viber set-webhook`, on a stand-in."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer, get_unused_port_socket, unused_port
from click.testing import CliRunner

from bots.channel import SendError
from bots.cli import cli
from bots.messages import Button, Reply
from bots.runner import SERVICES, build_app
from bots.viber import EVENT_TYPES, ViberChannel
from dialogs.clock import ManualClock
from tests.conftest import AppHarness, SettingsFactory
from tests.fakes.viber_api import ViberApiStandIn, deliver, message

ANNA = "k9fWZ1bLtSoG0Jp3wTtJ6A=="


@pytest.fixture
async def viber() -> AsyncIterator[ViberApiStandIn]:
    async with ViberApiStandIn() as server:
        yield server


@pytest.fixture
async def bot(
    viber: ViberApiStandIn, start_app: Any, make_settings: SettingsFactory, clock: ManualClock
) -> AppHarness:
    name = "Сеть магазинов «У дома» — служба поддержки"  # over Viber's 28 characters
    app: AppHarness = await start_app(make_settings(**viber.env(VIBER_BOT_NAME=name)), clock)
    return app


def channel_of(bot: AppHarness) -> ViberChannel:
    channel = bot.services.channel("viber")
    assert isinstance(channel, ViberChannel)
    return channel


async def test_a_reply_is_a_text_message_with_the_sender_and_a_keyboard(
    viber: ViberApiStandIn, bot: AppHarness
) -> None:
    reply = Reply(
        "Чем помочь?", buttons=((Button("Да", payload="y"), Button("Нет", payload="n")),)
    )

    sent = await channel_of(bot).send(ANNA, reply)

    (call,) = viber.sent
    assert sent.source_id == "5491000000000000001"
    assert call["sender"] == {"name": "Сеть магазинов «У дома» — с…"}
    assert (call["receiver"], call["type"], call["text"]) == (ANNA, "text", "Чем помочь?")
    assert [(b["Columns"], b["ActionBody"]) for b in call["keyboard"]["Buttons"]] == [
        (3, "btn:y"),
        (3, "btn:n"),
    ]


async def test_a_long_text_is_split_at_seven_thousand_with_the_keyboard_last(
    viber: ViberApiStandIn, bot: AppHarness
) -> None:
    text = "Условия возврата. " * 500  # 9,000 characters

    await channel_of(bot).send(ANNA, Reply(text, buttons=((Button("OK", payload="ok"),),)))

    first, second = viber.sent
    assert len(first["text"]) <= 7000
    assert "keyboard" not in first
    assert second["keyboard"]["Buttons"][0]["ActionBody"] == "btn:ok"


async def test_a_picture_carries_what_fits_in_its_caption_and_the_rest_follows(
    viber: ViberApiStandIn, bot: AppHarness
) -> None:
    text = "Так выглядит чек. " * 60  # over the 768 characters of a caption

    await channel_of(bot).send(ANNA, Reply(text, image_url="https://shop.example/receipt.jpg"))

    picture, rest = viber.sent
    assert (picture["type"], picture["media"]) == ("picture", "https://shop.example/receipt.jpg")
    assert len(picture["text"]) <= 768
    assert rest["type"] == "text"
    assert (picture["text"] + " " + rest["text"]).split() == text.split()


async def test_an_image_viber_cannot_show_as_a_picture_is_sent_as_a_link(
    viber: ViberApiStandIn, bot: AppHarness
) -> None:
    await channel_of(bot).send(ANNA, Reply("Карта", image_url="https://shop.example/map?id=4"))

    (call,) = viber.sent
    assert (call["type"], call["text"]) == ("text", "Карта\n\nhttps://shop.example/map?id=4")


async def test_a_timeout_is_a_retryable_error_not_resent_and_shows_in_health(
    viber: ViberApiStandIn, make_settings: SettingsFactory, start_app: Any
) -> None:
    app: AppHarness = await start_app(make_settings(**viber.env()))
    settings = app.services.settings.viber
    channel = ViberChannel(settings, app.services.database.uow, request_timeout=0.3)
    await channel.start()
    viber.answer("send_message", hang=True)

    with pytest.raises(SendError) as refused:
        await channel.send(ANNA, Reply("Спасибо"))

    assert (refused.value.code, refused.value.retryable) == ("timeout", True)
    assert len(viber.calls["send_message"]) == 1  # Viber has no idempotency key: not resent
    assert await channel.health() == "Viber did not answer send_message in 0.3 s"
    await channel.send(ANNA, Reply("Спасибо"))
    assert await channel.health() is None
    await channel.stop()


async def test_too_many_requests_is_waited_out_by_the_outbox(
    viber: ViberApiStandIn, bot: AppHarness, clock: ManualClock
) -> None:
    viber.answer("send_message", status=12, status_message="tooManyRequests")

    response = await deliver(bot.client, message(ANNA, "меню"))

    assert response.status == 200
    assert clock.sleeps == [1.0]
    assert len(viber.calls["send_message"]) == 2
    assert len(viber.sent) == 1


async def test_a_rejected_token_is_reported_in_health(
    viber: ViberApiStandIn, bot: AppHarness
) -> None:
    viber.answer("send_message", status=2, status_message="invalidAuthToken")

    with pytest.raises(SendError) as refused:
        await channel_of(bot).send(ANNA, Reply("Спасибо"))

    assert refused.value.code == "invalidAuthToken"
    assert await channel_of(bot).health() == "the auth token was rejected"


async def test_an_unreachable_api_is_tried_twice_then_start_fails(
    make_settings: SettingsFactory, start_app: Any, viber: ViberApiStandIn
) -> None:
    app: AppHarness = await start_app(make_settings())
    settings = make_settings(
        **viber.env(VIBER_API_URL=f"http://127.0.0.1:{unused_port()}/pa")
    ).viber
    clock = ManualClock()
    channel = ViberChannel(settings, app.services.database.uow, clock=clock)

    with pytest.raises(SendError) as refused:
        await channel.start()

    assert (refused.value.code, refused.value.retryable) == ("unreachable", True)
    assert clock.sleeps == [1.0]
    await channel.stop()


async def test_the_webhook_is_registered_at_start_once_the_server_listens(
    make_settings: SettingsFactory,
) -> None:
    # The webhook URL must be known before the server starts, so its socket is bound first
    # and handed over: a port merely found free could be taken (by an outgoing connection's
    # source port) before the server binds it.
    held = get_unused_port_socket("127.0.0.1")
    port = held.getsockname()[1]
    url = f"http://127.0.0.1:{port}/webhooks/viber"
    async with ViberApiStandIn(check_webhook=True) as viber:
        app = build_app(make_settings(**viber.env(VIBER_WEBHOOK_URL=url)), clock=ManualClock())
        server = TestServer(app, port=port, socket_factory=lambda *_: held)
        client: TestClient[Any, Any] = TestClient(server)
        await client.start_server()
        try:
            channel = app[SERVICES].channel("viber")
            assert isinstance(channel, ViberChannel)
            await asyncio.wait_for(channel.webhook_registered(), 5)

            (call,) = viber.calls["set_webhook"]
            assert (call["url"], call["event_types"]) == (url, EVENT_TYPES)
            assert viber.webhook == url
            assert await channel.health() is None
        finally:
            await client.close()
            held.close()


async def test_a_refused_registration_is_retried_and_reported_meanwhile(
    viber: ViberApiStandIn, make_settings: SettingsFactory, start_app: Any
) -> None:
    viber.answer("set_webhook", status=1, status_message="invalidUrl")
    clock = ManualClock()
    settings = make_settings(**viber.env(VIBER_WEBHOOK_URL="https://bot.example/webhooks/viber"))
    app: AppHarness = await start_app(settings, clock)
    channel = channel_of(app)

    await asyncio.wait_for(channel.webhook_registered(), 5)

    assert len(viber.calls["set_webhook"]) == 2
    assert clock.sleeps == [1.0]
    assert await channel.health() is None


async def test_the_cli_registers_the_webhook(viber: ViberApiStandIn) -> None:
    runner = CliRunner()
    url = "https://bot.example/webhooks/viber"

    result = await asyncio.to_thread(
        runner.invoke, cli, ["viber", "set-webhook", url], env=viber.env()
    )

    assert result.exit_code == 0, result.output
    assert f"Viber webhook set to {url}" in result.output
    assert viber.webhook == url
    assert viber.calls["set_webhook"][0]["event_types"] == EVENT_TYPES


async def test_the_cli_says_why_viber_refused_the_webhook(viber: ViberApiStandIn) -> None:
    viber.answer("set_webhook", status=1, status_message="invalidUrl")

    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["viber", "set-webhook", "http://insecure"], env=viber.env()
    )

    assert result.exit_code == 1
    assert "Viber did not accept the webhook http://insecure: invalidUrl" in result.output


def test_the_cli_needs_the_auth_token() -> None:
    result = CliRunner().invoke(
        cli, ["viber", "set-webhook", "https://x"], env={"VIBER_AUTH_TOKEN": ""}
    )

    assert result.exit_code == 2
    assert "VIBER_AUTH_TOKEN is not set" in result.output
