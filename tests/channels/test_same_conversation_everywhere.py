"""One scenario — menu → FAQ answer → ask for a person — on every channel, the same in storage.

Each platform is driven the way a shopper drives it, through its stand-in API (Telegram and VK
long polling, Viber's signed webhook, the web chat's JSON API), pressing the buttons the bot
actually sent. The web chat runs the same scenario alongside as the reference: what is stored
for the platform — texts, payloads, buttons, authors, statuses — must equal what is stored for
the web chat, and a request for a person must be waiting.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol

import pytest

from tests.conftest import AppHarness, SettingsFactory
from tests.fakes import viber_api
from tests.fakes.telegram_api import TelegramAPIStandIn, fixture_update
from tests.fakes.viber_api import ViberApiStandIn, conversation_started, deliver
from tests.fakes.vk_api import VkApiStandIn, message_new
from tests.webchat_client import WebChatShopper

QUESTION = "До скольки работает магазин?"
ANSWER = "Магазины работают ежедневно с 8:00 до 23:00."
FAQ = f"""\
- id: store-hours
  questions:
    - {QUESTION}
    - Часы работы магазина
  answer: {ANSWER}
"""

Said = dict[str, Any]
"""One bot message as the shopper saw it: ``text`` and ``buttons`` as (label, what it sends)."""


class Shopper(Protocol):
    channel: str
    chat_id: str

    async def start(self) -> list[Said]: ...

    async def press(self, label: str) -> list[Said]: ...

    async def write(self, text: str) -> list[Said]: ...


def _button(said: list[Said], label: str) -> tuple[str, str]:
    for message in said:
        for text, sends in message["buttons"]:
            if label in text:
                return text, sends
    msg = f"no button {label!r} in {said}"
    raise AssertionError(msg)


class WebChat:
    channel = "webchat"

    def __init__(self, app: AppHarness) -> None:
        self.shopper = WebChatShopper(app.client)
        self.last: list[Said] = []

    @property
    def chat_id(self) -> str:
        assert self.shopper.visitor_id is not None
        return self.shopper.visitor_id

    def _seen(self, replies: list[dict[str, Any]]) -> list[Said]:
        self.last = [
            {
                "text": r["text"],
                "buttons": [(b["text"], b["payload"]) for row in r["buttons"] for b in row],
            }
            for r in replies
        ]
        return self.last

    async def start(self) -> list[Said]:
        return self._seen(await self.shopper.send("/start"))

    async def press(self, label: str) -> list[Said]:
        return self._seen(await self.shopper.send(payload=_button(self.last, label)[1]))

    async def write(self, text: str) -> list[Said]:
        return self._seen(await self.shopper.send(text))


class Telegram:
    channel = "telegram"
    chat_id = "555000111"

    def __init__(self, api: TelegramAPIStandIn, app: AppHarness) -> None:
        self.api = api
        self.app = app
        self.last: list[Said] = []
        self._read = 0
        self._ids = itertools.count(500)

    async def _exchange(self, update: dict[str, Any]) -> list[Said]:
        await self.api.confirmed(self.api.push_update(update))  # stored; now the turn
        await self.app.services.channel("telegram").finish_background()
        calls = self.api.calls("sendMessage")[self._read :]
        self._read += len(calls)
        self.last = [
            {
                "text": call.params["text"],
                "buttons": [
                    (b["text"], b.get("callback_data"))
                    for row in (call.params.get("reply_markup") or {}).get("inline_keyboard", [])
                    for b in row
                ],
            }
            for call in calls
        ]
        return self.last

    def _message(self, text: str) -> dict[str, Any]:
        update = fixture_update("message_text")
        update["message"] = {**update["message"], "text": text, "message_id": next(self._ids)}
        return update

    async def start(self) -> list[Said]:
        return await self._exchange(fixture_update("message_start"))

    async def press(self, label: str) -> list[Said]:
        update = fixture_update("callback_query")
        query = {**update["callback_query"], "data": _button(self.last, label)[1]}
        update["callback_query"] = {**query, "id": f"query-{next(self._ids)}"}
        return await self._exchange(update)

    async def write(self, text: str) -> list[Said]:
        return await self._exchange(self._message(text))


class Vk:
    channel = "vk"
    peer_id = 512345678
    chat_id = str(peer_id)

    def __init__(self, api: VkApiStandIn, app: AppHarness) -> None:
        self.api = api
        self.app = app
        self.last: list[Said] = []
        self._read = 0

    async def _exchange(self, event: dict[str, Any]) -> list[Said]:
        await self.api.push(event)
        await self.api.consumed()  # stored; now the turn
        await self.app.services.channel("vk").finish_background()
        calls = self.api.calls["messages.send"][self._read :]
        self._read += len(calls)
        self.last = [
            {
                "text": call["message"],
                "buttons": [
                    (b["action"]["label"], b["action"].get("payload"))
                    for row in self.api.keyboard(call)
                    for b in row
                ],
            }
            for call in calls
        ]
        return self.last

    async def start(self) -> list[Said]:
        return await self._exchange(
            message_new(self.peer_id, "Начать", payload='{"command":"start"}')
        )

    async def press(self, label: str) -> list[Said]:
        text, payload = _button(self.last, label)
        return await self._exchange(message_new(self.peer_id, text, payload=payload))

    async def write(self, text: str) -> list[Said]:
        return await self._exchange(message_new(self.peer_id, text))


class Viber:
    channel = "viber"
    chat_id = "k9fWZ1bLtSoG0Jp3wTtJ6A=="

    def __init__(self, api: ViberApiStandIn, app: AppHarness) -> None:
        self.api = api
        self.app = app
        self.last: list[Said] = []
        self._read = 0

    def _said(self, message: dict[str, Any]) -> Said:
        keys = (message.get("keyboard") or {}).get("Buttons", [])
        return {"text": message["text"], "buttons": [(b["Text"], b["ActionBody"]) for b in keys]}

    async def _exchange(self, callback: dict[str, Any]) -> list[Said]:
        response = await deliver(self.app.client, callback)
        assert response.status == 200
        calls = self.api.calls["send_message"][self._read :]
        self._read += len(calls)
        self.last = [self._said(call) for call in calls]
        return self.last

    async def start(self) -> list[Said]:
        response = await deliver(self.app.client, conversation_started(self.chat_id))
        self.last = [self._said(await response.json())]  # the welcome, in the response
        return self.last

    async def press(self, label: str) -> list[Said]:
        return await self._exchange(viber_api.message(self.chat_id, _button(self.last, label)[1]))

    async def write(self, text: str) -> list[Said]:
        return await self._exchange(viber_api.message(self.chat_id, text))


@contextlib.asynccontextmanager
async def platform(
    name: str, start_app: Any, make_settings: SettingsFactory, faq: Path
) -> AsyncIterator[tuple[AppHarness, Shopper]]:
    """The app with one platform switched on (and the web chat), and a shopper on it."""
    common = {"OTKLIK_FAQ__PATH": str(faq)}
    if name == "webchat":
        app = await start_app(make_settings(**common))
        yield app, WebChat(app)
    elif name == "telegram":
        async with TelegramAPIStandIn() as telegram:
            env = telegram.env(OTKLIK_TELEGRAM__POLLING_TIMEOUT="1", **common)
            app = await start_app(make_settings(**env))
            yield app, Telegram(telegram, app)
            await app.client.close()  # stop polling before the stand-in goes away
    elif name == "vk":
        async with VkApiStandIn() as vk:
            app = await start_app(make_settings(**vk.env(**common)))
            yield app, Vk(vk, app)
            await app.client.close()
    else:
        async with ViberApiStandIn() as viber:
            app = await start_app(make_settings(**viber.env(**common)))
            yield app, Viber(viber, app)
            await app.client.close()


async def transcript(app: AppHarness, channel: str, chat_id: str) -> list[tuple[Any, ...]]:
    """What storage keeps of a conversation, without ids and times."""
    async with app.services.database.uow() as uow:
        conversation = await uow.conversations.find_by_chat(channel, chat_id)
        assert conversation is not None, f"no {channel} conversation"
        messages = await uow.messages.history(conversation)
        waiting = await uow.handoffs.active_for(conversation)
    assert waiting is not None
    assert waiting.status == "waiting"
    return [
        (m.direction, m.author, m.text, m.button_payload, json.dumps(m.buttons), m.status)
        for m in messages
    ]


async def scenario(shopper: Shopper) -> None:
    menu = await shopper.start()
    assert "Здравствуйте" in menu[0]["text"]
    prompt = await shopper.press("Задать вопрос")
    assert "Напишите ваш вопрос" in prompt[0]["text"]
    answer = await shopper.write(QUESTION)
    assert answer[0]["text"] == f"{ANSWER}\n\nПомогло?"
    queued = await shopper.write("позовите оператора")
    assert "Передаю разговор оператору" in queued[0]["text"]


@pytest.mark.parametrize("name", ["telegram", "vk", "viber", "webchat"])
async def test_the_same_conversation_on_every_channel(
    name: str, start_app: Any, make_settings: SettingsFactory, tmp_path: Path
) -> None:
    (tmp_path / "faq").mkdir()
    (tmp_path / "faq" / "stores.yaml").write_text(FAQ, encoding="utf-8")

    async with platform(name, start_app, make_settings, tmp_path / "faq") as (app, shopper):
        assert app.services.faq.entry("store-hours") is not None
        await scenario(shopper)
        reference = WebChat(app)
        await scenario(reference)

        stored = await transcript(app, shopper.channel, shopper.chat_id)
        expected = await transcript(app, "webchat", reference.chat_id)

    assert [row[:3] for row in stored][:2] == [
        ("in", "customer", "/start"),
        ("out", "bot", stored[1][2]),
    ]
    assert all(row[-1] in ("received", "sent") for row in stored)
    assert stored == expected
