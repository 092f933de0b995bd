"""Bots Long Poll end to end: the stand-in hands out its own long-poll server and queues events."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event

from config.settings import Settings
from dialogs.clock import ManualClock
from tests.conftest import AppHarness, SettingsFactory
from tests.fakes.vk_api import GROUP_ID, LONG_POLL, VkApiStandIn, message_new, press

ANNA = 512345678


@pytest.fixture
async def vk() -> AsyncIterator[VkApiStandIn]:
    async with VkApiStandIn() as server:
        yield server


@pytest.fixture
async def bot(
    vk: VkApiStandIn, start_app: Any, make_settings: SettingsFactory, clock: ManualClock
) -> AppHarness:
    """The app long-polling the stand-in (started after it, so stopped before it)."""
    app: AppHarness = await start_app(make_settings(**vk.env()), clock)
    await vk.next_call(LONG_POLL)
    return app


async def test_start_checks_the_token_gets_a_server_and_polls_it(
    vk: VkApiStandIn, bot: AppHarness
) -> None:
    assert list(vk.calls)[:3] == ["groups.getById", "groups.getLongPollServer", LONG_POLL]
    assert vk.calls["groups.getLongPollServer"][0]["group_id"] == str(GROUP_ID)
    assert vk.calls["groups.getById"][0]["v"] == "5.199"
    assert vk.calls[LONG_POLL][0] == {"act": "a_check", "key": "key-1", "ts": "0", "wait": "25"}
    health = await bot.client.get("/healthz")
    assert (await health.json())["channels"]["vk"] == "ok"


async def test_a_conversation_runs_over_long_poll(vk: VkApiStandIn, bot: AppHarness) -> None:
    await vk.push(message_new(ANNA, "Начать", payload='{"command":"start"}', ref="qr-7"))
    menu = await vk.next_message()
    # A shopper reads before pressing: by then the reply's record is written too.
    await bot.services.channel("vk").finish_background()
    await vk.push(message_new(ANNA, "❓ Задать вопрос", payload=press(menu, "Задать вопрос")))
    prompt = await vk.next_message()
    await vk.consumed()
    await bot.services.channel("vk").finish_background()  # the replies' records

    assert "Здравствуйте" in menu["message"]
    assert "Напишите ваш вопрос" in prompt["message"]
    async with bot.services.database.uow() as uow:
        conversation = await uow.conversations.find_by_chat("vk", str(ANNA))
        assert conversation is not None
        history = await uow.messages.history(conversation)
    assert [(m.direction, m.text, m.button_payload) for m in history] == [
        ("in", "/start", None),
        ("out", menu["message"], None),
        ("in", "", "menu:ask"),
        ("out", prompt["message"], None),
    ]


@pytest.mark.parametrize("code", [2, 3])
async def test_an_expired_key_or_lost_history_gets_a_new_server(
    vk: VkApiStandIn, bot: AppHarness, code: int
) -> None:
    await vk.fail_long_poll(code)

    await vk.next_call("groups.getLongPollServer")
    await vk.next_call("groups.getLongPollServer")
    await vk.push(message_new(ANNA, "меню"))

    assert "Чем могу помочь" in (await vk.next_message())["message"]
    keys = [poll.get("key") for poll in vk.calls[LONG_POLL]]
    assert keys[0] == "key-1"
    assert keys[-1] == "key-2"


async def test_out_of_date_history_carries_on_from_the_given_ts(
    vk: VkApiStandIn, bot: AppHarness
) -> None:
    await vk.fail_long_poll(1)
    await vk.push(message_new(ANNA, "меню"))

    assert "Чем могу помочь" in (await vk.next_message())["message"]
    assert len(vk.calls["groups.getLongPollServer"]) == 1


async def test_a_failing_long_poll_server_is_retried_with_backoff(
    vk: VkApiStandIn, bot: AppHarness, clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    vk.answer(LONG_POLL, http_status=502)  # the two polls after the one now waiting
    vk.answer(LONG_POLL, http_status=502)
    await vk.push(message_new(ANNA, "меню"))
    await vk.next_message()
    await vk.push(message_new(ANNA, "меню"))

    assert "Чем могу помочь" in (await vk.next_message())["message"]
    assert clock.sleeps == [1.0, 2.0]
    assert "long poll failed: ClientResponseError" in caplog.text


async def test_foreign_and_malformed_events_are_skipped_and_the_rest_handled(
    vk: VkApiStandIn, bot: AppHarness, caplog: pytest.LogCaptureFixture
) -> None:
    broken = message_new(ANNA, "сломано")
    del broken["object"]["message"]["peer_id"]
    odd_place = message_new(ANNA, "я тут")
    odd_place["object"]["message"]["geo"] = {
        "coordinates": {}
    }  # a field of a shape VK never sends
    with caplog.at_level(logging.INFO, logger="bots.vk"):
        await vk.push(
            message_new(ANNA, "чужое", group_id=GROUP_ID + 1),
            broken,
            odd_place,
            {"type": "wall_post_new", "object": {}, "group_id": GROUP_ID},
            "not an event",  # type: ignore[arg-type]
            message_new(ANNA, "меню"),
        )
        reply = await vk.next_message()
        await vk.consumed()
        await bot.services.channel("vk").finish_background()

    assert "Чем могу помочь" in reply["message"]
    assert len(vk.calls["messages.send"]) == 1
    assert f"for group {GROUP_ID + 1}" in caplog.text
    assert "malformed event (peer_id is missing); skipped" in caplog.text
    assert "malformed event (message_new: KeyError: 'latitude'); skipped" in caplog.text
    assert "wall_post_new event is not handled" in caplog.text
    async with bot.services.database.uow() as uow:
        assert await uow.messages.count("vk") == 2


async def test_an_event_that_cannot_be_stored_shows_in_health_while_it_is_retried(
    vk: VkApiStandIn, bot: AppHarness, clock: ManualClock
) -> None:
    await bot.services.database.dispose()  # storage gone: the event cannot be kept

    await vk.push(message_new(ANNA, "меню"))
    for _ in range(50):  # each look lets the poller run; it retries at once on this clock
        health = await (await bot.client.get("/healthz")).json()
        if health["channels"]["vk"] != "ok":
            break

    assert health["channels"]["vk"] == "handling an event failed (RuntimeError); retrying"
    assert len(clock.sleeps) >= 1  # retried with a backoff, not skipped
    assert "messages.send" not in vk.calls


# -- resuming where the last run stopped ---------------------------------------------------------

BORIS = 512345679


async def _stopped_after(
    vk: VkApiStandIn, start_app: Any, settings: Settings, clock: ManualClock, handled: int
) -> None:
    """Run the app, let it handle ``handled`` messages of Anna's, and stop it."""
    app: AppHarness = await start_app(settings, clock)
    await vk.next_call(LONG_POLL)
    for _ in range(handled):
        await vk.push(message_new(ANNA, "меню"))
        await vk.next_message()
        await vk.consumed()
    await app.client.close()  # the app's shutdown, as at a deploy


@pytest.mark.parametrize("handled", [0, 1], ids=["nothing-handled-yet", "after-a-message"])
async def test_what_shoppers_write_while_the_bot_is_down_is_answered_after_a_restart(
    vk: VkApiStandIn,
    start_app: Any,
    make_settings: SettingsFactory,
    clock: ManualClock,
    handled: int,
) -> None:
    settings = make_settings(**vk.env())
    await _stopped_after(vk, start_app, settings, clock, handled)
    polls_before = len(vk.calls[LONG_POLL])

    await vk.push(message_new(BORIS, "меню"))  # written while the bot is down
    app: AppHarness = await start_app(settings, clock)  # the same database
    reply = await vk.next_message()
    await vk.consumed()
    await app.services.channel("vk").finish_background()

    assert reply["peer_id"] == str(BORIS)
    assert "Чем могу помочь" in reply["message"]
    # groups.getLongPollServer handed the restarted bot ts handled + 1, past Boris's message;
    # it polled from where the last run stopped instead, and saved where it is now.
    assert vk.calls[LONG_POLL][polls_before]["ts"] == str(handled)
    async with app.services.database.uow() as uow:
        conversation = await uow.conversations.find_by_chat("vk", str(BORIS))
        assert conversation is not None
        history = await uow.messages.history(conversation)
        assert await uow.cursors.get(f"vk:{GROUP_ID}") == str(handled + 1)
    assert [(m.direction, m.text) for m in history] == [
        ("in", "меню"),
        ("out", reply["message"]),
    ]


async def test_a_resume_from_events_vk_no_longer_keeps_goes_on_from_vks_ts_with_a_warning(
    vk: VkApiStandIn,
    start_app: Any,
    make_settings: SettingsFactory,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings(**vk.env())
    await _stopped_after(vk, start_app, settings, clock, handled=1)  # saved: ts 1
    polls_before = len(vk.calls[LONG_POLL])
    await vk.push(message_new(BORIS, "меню"))  # written while the bot is down ...
    vk.lose_history()  # ... and dropped by VK before it came back (a long outage)

    app: AppHarness = await start_app(settings, clock)
    await vk.consumed()  # polling from VK's ts now
    await vk.push(message_new(ANNA, "меню"))
    reply = await vk.next_message()
    await vk.consumed()
    await app.services.channel("vk").finish_background()

    assert reply["peer_id"] == str(ANNA)
    assert [poll["ts"] for poll in vk.calls[LONG_POLL][polls_before:]][:3] == ["1", "2", "3"]
    assert len(vk.calls["groups.getLongPollServer"]) == 2  # one per start; failed 1 needs none
    assert (
        "events from ts 1 are no longer kept; going on from ts 2, "
        "so events in between may have been missed"
    ) in caplog.text
    async with app.services.database.uow() as uow:
        assert await uow.conversations.find_by_chat("vk", str(BORIS)) is None  # lost at VK
        assert await uow.cursors.get(f"vk:{GROUP_ID}") == "3"


async def test_the_position_is_saved_once_per_batch_not_per_event(
    vk: VkApiStandIn, bot: AppHarness
) -> None:
    writes: list[str] = []

    def on_statement(*args: Any) -> None:
        statement = str(args[2])
        if "channel_cursors" in statement and not statement.lstrip().startswith("SELECT"):
            writes.append(statement)

    for engine in bot.services.database.engines:
        event.listen(engine, "before_cursor_execute", on_statement)
    await vk.push(*(message_new(ANNA + n, "меню") for n in range(3)))  # one long-poll answer
    for _ in range(3):
        await vk.next_message()
    await vk.consumed()
    await bot.services.channel("vk").finish_background()

    assert len(writes) == 1
    async with bot.services.database.uow() as uow:
        assert await uow.cursors.get(f"vk:{GROUP_ID}") == "3"
