"""VkChannel.send against the stand-in: layout, random_id retries, errors, timeouts, the rate."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from bots.channel import RetryAfter, SendError, part_key
from bots.messages import Button, Reply
from bots.vk import VkChannel
from dialogs.clock import ManualClock
from storage.ratelimit import RedisRateLimiter
from tests.conftest import REDIS_URL, SettingsFactory
from tests.fakes.vk_api import VkApiStandIn

ANNA = "512345678"
CALLBACK = {"VK_CONFIRMATION_CODE": "a1b2c3d4", "VK_SECRET": "s3cr3t-callback"}


@pytest.fixture
async def vk() -> AsyncIterator[VkApiStandIn]:
    async with VkApiStandIn() as server:
        yield server


@pytest.fixture
async def channel(
    vk: VkApiStandIn, make_settings: SettingsFactory, clock: ManualClock
) -> AsyncIterator[VkChannel]:
    """A started channel in callback mode (no polling), with a short timeout for the stand-in."""
    settings = make_settings(**vk.env(**CALLBACK)).vk
    async with VkChannel(settings, clock=clock, request_timeout=0.3) as started:
        yield started


def menu(count: int) -> tuple[tuple[Button, ...], ...]:
    return tuple((Button(f"Пункт {n}", payload=f"item:{n}"),) for n in range(1, count + 1))


async def test_a_reply_is_one_messages_send_with_an_inline_keyboard(
    vk: VkApiStandIn, channel: VkChannel
) -> None:
    reply = Reply(
        "Чем могу помочь?",
        buttons=(
            (Button("❓ Задать вопрос", payload="menu:ask"),),
            (Button("Сайт", url="https://shop.example/help"),),
        ),
    )

    sent = await channel.send(ANNA, reply)

    (call,) = vk.calls["messages.send"]
    assert sent.source_id == "1001"
    assert (call["peer_id"], call["message"], call["v"]) == (ANNA, "Чем могу помочь?", "5.199")
    assert json.loads(call["keyboard"]) == {
        "inline": True,
        "buttons": [
            [
                {
                    "action": {
                        "type": "text",
                        "label": "❓ Задать вопрос",
                        "payload": '{"p":"menu:ask"}',
                    },
                    "color": "secondary",
                }
            ],
            [
                {
                    "action": {
                        "type": "open_link",
                        "link": "https://shop.example/help",
                        "label": "Сайт",
                    }
                }
            ],
        ],
    }


async def test_a_long_text_is_split_and_the_keyboard_goes_under_the_last_piece(
    vk: VkApiStandIn, channel: VkChannel
) -> None:
    text = ("Абзац о возврате товара. " * 40 + "\n") * 5  # about 5,000 characters

    await channel.send(ANNA, Reply(text, buttons=menu(1)))

    first, second = vk.calls["messages.send"]
    assert len(first["message"]) <= 4096
    assert "keyboard" not in first
    assert "keyboard" in second
    assert (first["message"] + "\n" + second["message"]).split() == text.split()
    assert first["random_id"] != second["random_id"]


async def test_more_buttons_than_an_inline_keyboard_holds_follow_in_another_message(
    vk: VkApiStandIn, channel: VkChannel
) -> None:
    await channel.send(ANNA, Reply("Выберите магазин", buttons=menu(12)))

    first, second = vk.calls["messages.send"]
    assert (first["message"], second["message"]) == ("Выберите магазин", "…")
    labels = [[row[0]["action"]["label"] for row in vk.keyboard(call)] for call in (first, second)]
    assert labels == [[f"Пункт {n}" for n in range(1, 7)], [f"Пункт {n}" for n in range(7, 13)]]


async def test_a_picture_is_sent_as_a_link_under_the_text(
    vk: VkApiStandIn, channel: VkChannel
) -> None:
    await channel.send(ANNA, Reply("Схема проезда", image_url="https://shop.example/map.png"))

    (call,) = vk.calls["messages.send"]
    assert call["message"] == "Схема проезда\n\nhttps://shop.example/map.png"


async def test_a_timed_out_send_is_sent_again_with_the_same_random_id_and_delivered_once(
    vk: VkApiStandIn, channel: VkChannel, clock: ManualClock
) -> None:
    vk.answer("messages.send", hang=True)  # delivered, but the answer never comes

    sent = await channel.send(ANNA, Reply("Ваш запрос принят"))

    first, again = vk.calls["messages.send"]
    assert first["random_id"] == again["random_id"]
    assert [m["message"] for m in vk.delivered] == ["Ваш запрос принят"]
    assert sent.source_id == "1001"
    assert clock.sleeps == [0.5]


async def test_a_resend_by_the_retry_job_is_dropped_by_vk_when_the_first_one_arrived(
    vk: VkApiStandIn, channel: VkChannel
) -> None:
    # VK took the message every time but never answered: the reply waits for the retry job,
    # which sends it again with the same key, so VK sees the same random_id and drops it.
    for _ in range(3):
        vk.answer("messages.send", hang=True)
    reply = Reply("Ваш запрос принят")

    with pytest.raises(SendError) as lost:
        await channel.send(ANNA, reply, key=42)
    await channel.send(ANNA, reply, key=42)  # the retry job, later
    await channel.send(ANNA, reply, key=43)  # another reply with the same text

    first_attempt, *_, resend, other = vk.calls["messages.send"]
    assert lost.value.retryable
    assert resend["random_id"] == first_attempt["random_id"]
    assert other["random_id"] != first_attempt["random_id"]
    assert [m["message"] for m in vk.delivered] == ["Ваш запрос принят"] * 2


async def test_each_piece_of_a_long_reply_has_its_own_random_id(
    vk: VkApiStandIn, channel: VkChannel
) -> None:
    await channel.send(ANNA, Reply("слово " * 1500), key=42)

    ids = [call["random_id"] for call in vk.calls["messages.send"]]
    assert len(ids) > 1
    assert len(set(ids)) == len(ids)


async def test_a_part_kept_on_its_own_is_resent_with_the_id_it_was_first_sent_with(
    vk: VkApiStandIn, channel: VkChannel
) -> None:
    # The second message of a long reply is taken by VK, but its answer never comes: the
    # outbox keeps that part as a reply of its own with the part's key, and the retry job's
    # resend must carry the random_id VK already saw.
    vk.answer("messages.send")  # the first part goes through
    for _ in range(3):
        vk.answer("messages.send", hang=True)
    reply = Reply("первая часть " * 400 + "\n" + "вторая часть " * 200)

    with pytest.raises(SendError) as refused:
        await channel.send(ANNA, reply, key=1000)
    [(second_part)] = refused.value.undelivered or ()
    await channel.send(ANNA, second_part, key=part_key(1000, 1))

    first, second, *_, resend = vk.calls["messages.send"]
    assert len(refused.value.delivered or ()) == 1
    assert first["random_id"] != second["random_id"]
    assert resend["random_id"] == second["random_id"]
    assert len(vk.delivered) == 2  # each part once


@pytest.mark.parametrize(
    "failure",
    [{"http_status": 502}, {"error": (10, "Internal server error")}],
    ids=["http-502", "internal-error"],
)
async def test_a_vk_server_error_is_retried_in_place(
    vk: VkApiStandIn, channel: VkChannel, failure: dict[str, object]
) -> None:
    vk.answer("messages.send", **failure)  # type: ignore[arg-type]

    await channel.send(ANNA, Reply("Спасибо за отзыв"))

    first, again = vk.calls["messages.send"]
    assert first["random_id"] == again["random_id"]
    assert len(vk.delivered) == 1


async def test_an_outage_is_a_retryable_send_error_and_shows_in_health(
    vk: VkApiStandIn, channel: VkChannel
) -> None:
    for _ in range(3):
        vk.answer("messages.send", http_status=502)

    with pytest.raises(SendError) as refused:
        await channel.send(ANNA, Reply("Спасибо"))

    assert (refused.value.code, refused.value.retryable) == ("unavailable", True)
    assert len(vk.calls["messages.send"]) == 3
    assert await channel.health() == "VK API answered HTTP 502"
    await channel.send(ANNA, Reply("Спасибо"))
    assert await channel.health() is None


async def test_a_refusal_is_not_retried(vk: VkApiStandIn, channel: VkChannel) -> None:
    vk.answer("messages.send", error=(901, "Can't send messages for users without permission"))

    with pytest.raises(SendError) as refused:
        await channel.send(ANNA, Reply("Спасибо"))

    assert (refused.value.code, refused.value.retryable) == ("901", False)
    assert len(vk.calls["messages.send"]) == 1


async def test_too_many_requests_is_waited_out_on_the_clock(
    vk: VkApiStandIn, channel: VkChannel, clock: ManualClock
) -> None:
    for _ in range(3):
        vk.answer("messages.send", error=(6, "Too many requests per second"))

    with pytest.raises(RetryAfter):
        await channel.send(ANNA, Reply("Спасибо"))
    await channel.send(ANNA, Reply("Спасибо"))

    assert clock.sleeps == [0.5, 1.0]
    assert len(vk.delivered) == 1


async def test_sends_are_paced_at_twenty_calls_a_second(
    vk: VkApiStandIn, channel: VkChannel, clock: ManualClock
) -> None:
    for n in range(25):  # the 20th send is the 21st call, counting groups.getById at start
        await channel.send(ANNA, Reply(f"Сообщение {n}"))

    assert clock.sleeps == [1.0]
    assert len(vk.delivered) == 25


async def test_a_rejected_token_fails_start_and_health_says_why(
    vk: VkApiStandIn, make_settings: SettingsFactory
) -> None:
    settings = make_settings(**vk.env(VK_GROUP_TOKEN="vk1.a.revoked", **CALLBACK)).vk
    channel = VkChannel(settings)

    with pytest.raises(SendError) as refused:
        await channel.start()

    assert refused.value.code == "401"
    assert await channel.health() == (
        "the community token was rejected: User authorization failed: invalid access_token (4)."
    )
    await channel.stop()


async def test_a_chat_id_that_is_not_a_peer_is_refused(channel: VkChannel) -> None:
    with pytest.raises(SendError) as refused:
        await channel.send("web-visitor", Reply("Спасибо"))

    assert refused.value.code == "400"


async def test_a_refusal_after_the_first_piece_says_what_was_delivered(
    vk: VkApiStandIn, channel: VkChannel
) -> None:
    long_text = "\n".join(f"Строка {n}: " + "слово " * 60 for n in range(20))  # two pieces
    vk.answer("messages.send", result=1001)
    vk.answer("messages.send", error=(901, "Can't send messages for users without permission"))

    with pytest.raises(SendError) as refused:
        await channel.send(ANNA, Reply(long_text))

    [(first, sent)] = refused.value.delivered
    [rest] = refused.value.undelivered
    assert sent.source_id == "1001"
    assert first.text == vk.calls["messages.send"][0]["message"]
    assert rest.text == vk.calls["messages.send"][1]["message"]
    assert (refused.value.code, refused.value.retryable) == ("901", False)


async def test_workers_on_one_token_share_the_twenty_calls_a_second(
    vk: VkApiStandIn, make_settings: SettingsFactory, clock: ManualClock, redis_prefix: str
) -> None:
    # Two workers, each well under the limit alone, together over it: the count is shared.
    settings = make_settings(**vk.env(**CALLBACK)).vk
    clients = [Redis.from_url(REDIS_URL) for _ in range(2)]
    workers = [
        VkChannel(settings, clock=clock, limiter=RedisRateLimiter(client, prefix=redis_prefix))
        for client in clients
    ]
    started = clock.now()
    for worker in workers:
        await worker.start()
    for n in range(15):
        for worker in workers:
            await worker.send(ANNA, Reply(f"Сообщение {n}"))
    for worker in workers:
        await worker.stop()
    for client in clients:
        await client.aclose()

    assert len(vk.delivered) == 30
    assert clock.sleeps, "the 21st call of the second waited for the next second"
    assert (clock.now() - started).total_seconds() >= 1.0  # 32 calls need two windows
