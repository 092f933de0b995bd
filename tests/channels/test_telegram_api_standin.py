"""The stand-in Bot API behaves like Telegram where our tests depend on it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import pytest
from aiohttp import ClientSession, FormData

from tests.fakes.telegram_api import TOKEN, TelegramAPIStandIn, fixture_update

KEYBOARD = {"inline_keyboard": [[{"text": "↩️ В меню", "callback_data": "menu"}]]}


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session


def url(api: TelegramAPIStandIn, method: str, token: str = TOKEN) -> str:
    return f"{api.url}/bot{token}/{method}"


async def test_json_and_form_calls_are_recorded_with_the_keyboard_decoded(
    api: TelegramAPIStandIn, http: ClientSession
) -> None:
    as_json = {"chat_id": 42, "text": "json", "reply_markup": KEYBOARD}
    as_form = {"chat_id": "42", "text": "form", "reply_markup": json.dumps(KEYBOARD)}

    async with http.post(url(api, "sendMessage"), json=as_json) as response:
        first = await response.json()
    async with http.post(url(api, "sendMessage"), data=as_form) as response:
        second = await response.json()

    assert [c.params["reply_markup"] for c in api.calls("sendMessage")] == [KEYBOARD, KEYBOARD]
    assert [c.params["text"] for c in api.calls("sendMessage")] == ["json", "form"]
    assert (first["result"]["message_id"], second["result"]["message_id"]) == (1, 2)
    assert first["result"]["reply_markup"] == KEYBOARD


async def test_an_uploaded_file_is_recorded_by_name_and_size(
    api: TelegramAPIStandIn, http: ClientSession
) -> None:
    form = FormData()
    form.add_field("chat_id", "42")
    form.add_field("photo", b"\x89PNG fake", filename="receipt.png")

    async with http.post(url(api, "sendPhoto"), data=form) as response:
        assert response.status == 200

    assert api.calls("sendPhoto")[0].params["photo"] == {"filename": "receipt.png", "size": 9}


@pytest.mark.parametrize(
    ("method", "token", "status"),
    [
        ("getMe", "000:wrong", 401),
        ("sendSticker", TOKEN, 404),
        ("sendMessage", TOKEN, 400),  # no text
    ],
)
async def test_refusals_use_the_bot_api_envelope(
    api: TelegramAPIStandIn, http: ClientSession, method: str, token: str, status: int
) -> None:
    async with http.post(url(api, method, token), data={"chat_id": "42"}) as response:
        body = await response.json()

    assert response.status == status
    assert body["ok"] is False
    assert body["error_code"] == status


async def test_a_queued_response_is_used_once_then_the_default_returns(
    api: TelegramAPIStandIn, http: ClientSession
) -> None:
    api.fail("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    message = {"chat_id": "42", "text": "hi"}

    async with http.post(url(api, "sendMessage"), data=message) as response:
        limited = (response.status, await response.json())
    async with http.post(url(api, "sendMessage"), data=message) as response:
        delivered = response.status

    assert limited == (
        429,
        {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 3",
            "parameters": {"retry_after": 3},
        },
    )
    assert delivered == 200


async def test_get_updates_conflicts_with_a_webhook_like_telegram(
    api: TelegramAPIStandIn, http: ClientSession
) -> None:
    async with http.post(url(api, "setWebhook"), data={"url": "https://x.example/hook"}):
        pass
    async with http.post(url(api, "getUpdates")) as response:
        assert response.status == 409
    async with http.post(url(api, "deleteWebhook")):
        pass
    async with http.post(url(api, "getUpdates")) as response:
        assert response.status == 200


async def test_a_long_poll_returns_as_soon_as_an_update_is_queued(
    api: TelegramAPIStandIn, http: ClientSession
) -> None:
    async def poll() -> list[dict[str, object]]:
        async with http.post(url(api, "getUpdates"), data={"timeout": "30"}) as response:
            result: list[dict[str, object]] = (await response.json())["result"]
            return result

    waiting = asyncio.create_task(poll())
    await api.next_call("getUpdates")  # the poll is now parked on the server
    update_id = api.push_update(fixture_update("message_start"))

    async with asyncio.timeout(5):  # far below the 30 s poll timeout
        [update] = await waiting

    assert update["update_id"] == update_id


async def test_a_long_poll_without_updates_returns_empty_at_its_timeout(
    api: TelegramAPIStandIn, http: ClientSession
) -> None:
    async with http.post(url(api, "getUpdates"), data={"timeout": "0.05"}) as response:
        assert (await response.json())["result"] == []


async def test_offsets_confirm_updates_and_drop_them(
    api: TelegramAPIStandIn, http: ClientSession
) -> None:
    first = api.push_update(fixture_update("message_start"))
    second = api.push_update(fixture_update("message_text"))

    async with http.post(url(api, "getUpdates"), data={"offset": str(second)}) as response:
        remaining = [u["update_id"] for u in (await response.json())["result"]]

    assert remaining == [second]
    await api.confirmed(first, within=0.1)
    with pytest.raises(AssertionError, match="not confirmed"):
        await api.confirmed(second, within=0.05)


async def test_waiting_for_a_call_that_never_comes_fails_with_what_was_seen(
    api: TelegramAPIStandIn, http: ClientSession
) -> None:
    async with http.post(url(api, "getMe")):
        pass

    with pytest.raises(AssertionError, match=r"no new sendMessage call within .*\['getMe'\]"):
        await api.next_call("sendMessage", within=0.05)
