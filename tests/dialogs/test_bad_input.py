"""Odd and hostile input: always a sensible reply, never a crash, and the message always kept."""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path
from typing import Any

import pytest

from bots.messages import IncomingMessage, OtherAttachment, Photo
from config import CONFIG_DIR
from config.catalog import Catalog
from dialogs.bus import EventBus
from dialogs.engine import Engine
from dialogs.flows import FallbackFlow, Flow
from dialogs.turn import Turn
from storage.database import Database
from storage.journal import MessageJournal
from storage.locks import MemoryConversationLock
from storage.state import MemoryStateStore, StateKey
from tests.conftest import SettingsFactory
from tests.webchat_client import WebChatShopper, buttons_of, texts_of


async def _stored_texts(app: Any) -> list[str]:
    async with app.services.database.uow() as uow:
        conversation = await uow.conversations.find_by_chat("webchat", app.visitor)
        assert conversation is not None
        return [m.text for m in await uow.messages.history(conversation) if m.direction == "in"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "Сообщение пустое"),
        ("   \n\t ", "Сообщение пустое"),
        ("😀😀🔥", "нет слов"),
        ("я" * 100_000, "слишком длинное"),
    ],
    ids=["empty", "whitespace", "emoji-only", "100KB"],
)
async def test_odd_web_chat_text_gets_a_reason_and_is_kept(
    make_settings: SettingsFactory, start_app, text: str, expected: str
) -> None:
    app = await start_app(make_settings())
    shopper = WebChatShopper(app.client)

    replies = await shopper.send(text)

    assert expected in texts_of(replies)
    assert "👤 Позвать оператора" in buttons_of(replies)
    app.visitor = shopper.visitor_id
    assert await _stored_texts(app) == [text]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b'{"text": "hi"}',
        b'{"visitor_id": "short", "text": "x"}',
        b"[" * 100_000 + b"]" * 100_000,
    ],
    ids=["not-json", "array", "no-visitor", "bad-visitor", "nested-too-deep"],
)
async def test_malformed_web_chat_requests_are_refused_and_serving_goes_on(
    make_settings: SettingsFactory, start_app, body: bytes
) -> None:
    app = await start_app(make_settings())

    response = await app.client.post(
        "/api/webchat/messages", data=body, headers={"Content-Type": "application/json"}
    )

    assert response.status == 400
    assert "error" in await response.json()
    replies = await WebChatShopper(app.client).send("/start")
    assert "Здравствуйте" in texts_of(replies)


async def _migrated(database_env: dict[str, str]) -> None:
    if "DATABASE_URL" in database_env:  # the app migrates only SQLite by itself
        database = Database(database_env["DATABASE_URL"])
        await database.upgrade()
        await database.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """No setting (an SQLite file), then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return {}
    return {"DATABASE_URL": request.getfixturevalue("postgres_url")}


@pytest.mark.parametrize(
    ("fields", "kept"),
    [
        ({"text": "где \ud800 магазин"}, "где \ufffd магазин"),
        ({"text": "где\x00магазин"}, "где\ufffdмагазин"),
        ({"text": "где магазин", "language": "\x00" * 40}, "где магазин"),
        ({"payload": "x" * 300}, ""),
    ],
    ids=["lone-surrogate", "nul", "odd-language", "long-payload"],
)
async def test_hostile_fields_get_a_real_reply_and_the_message_is_kept(
    make_settings: SettingsFactory,
    start_app,
    database_env: dict[str, str],
    fields: dict[str, str],
    kept: str,
) -> None:
    await _migrated(database_env)
    app = await start_app(make_settings(**database_env))
    shopper = WebChatShopper(app.client, language=fields.get("language", "ru"))

    replies = await shopper.send(fields.get("text", ""), payload=fields.get("payload"))

    assert replies
    assert "что-то сломалось" not in texts_of(replies)  # an answer, not the apology
    app.visitor = shopper.visitor_id
    assert await _stored_texts(app) == [kept]


async def test_a_web_chat_message_sent_again_is_answered_with_the_first_answer(
    make_settings: SettingsFactory, start_app, database_env: dict[str, str]
) -> None:
    # The page gave up waiting (its answer was lost on the way) and the shopper pressed retry:
    # the page sends the same message id again.
    await _migrated(database_env)
    app = await start_app(make_settings(**database_env))
    shopper = WebChatShopper(app.client)
    visitor = await shopper._visitor()
    body = {
        "visitor_id": visitor,
        "message_id": "a1b2c3d4e5f60718",
        "text": "Сколько стоит доставка?",
    }

    first = await app.client.post("/api/webchat/messages", json=body)
    again = await app.client.post("/api/webchat/messages", json=body)
    odd = await app.client.post("/api/webchat/messages", json={**body, "message_id": "x y"})

    assert (first.status, again.status, odd.status) == (200, 200, 400)
    answer = (await first.json())["replies"]
    assert "199 ₽" in texts_of(answer)
    assert (await again.json())["replies"] == answer
    history = await shopper.history()
    assert [m["direction"] for m in history] == ["in", "out"]  # handled once


async def test_a_retry_while_the_first_attempt_is_still_answered_gets_its_answer_once(
    make_settings: SettingsFactory, start_app
) -> None:
    app = await start_app(make_settings())
    shopper = WebChatShopper(app.client)
    visitor = await shopper._visitor()
    body = {"visitor_id": visitor, "message_id": "f00dfeed1234", "text": "Сколько стоит доставка?"}
    key = StateKey("webchat", visitor, visitor)
    busy = app.services.locks.lock(key)

    async with busy:  # the conversation is busy: the first attempt is stored, then waits
        first = asyncio.create_task(app.client.post("/api/webchat/messages", json=body))
        for _ in range(200):  # until it is stored (each look lets the first attempt run)
            if await shopper.history():
                break
        early = asyncio.create_task(app.client.post("/api/webchat/messages", json=body))
        for _ in range(200):  # until the retry waits for the conversation too
            if app.services.locks.users(key) == 3:
                break
            await shopper.history()  # a request of its own: the server gets to run
        assert app.services.locks.users(key) == 3
    answered, again = await first, await early
    late = await app.client.post("/api/webchat/messages", json=body)

    assert answered.status == again.status == late.status == 200
    replies = (await answered.json())["replies"]
    assert "199 ₽" in texts_of(replies)
    assert (await again.json())["replies"] == replies
    assert (await late.json())["replies"] == replies
    bot_said = [m for m in await shopper.history() if m["direction"] == "out"]
    assert len(bot_said) == len(replies)  # answered once


async def test_a_body_over_a_megabyte_is_refused_with_413(
    make_settings: SettingsFactory, start_app
) -> None:
    app = await start_app(make_settings())

    body = io.BytesIO(b"x" * (2 * 1024 * 1024))
    response = await app.client.post("/api/webchat/messages", data=body)

    assert response.status == 413


@pytest.fixture
async def database(tmp_path: Path) -> Any:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}")
    await db.upgrade()
    yield db
    await db.dispose()


def _engine(database: Database, clock: Any, *flows: Flow) -> Engine:
    return Engine(
        journal=MessageJournal(database.journal_writer()),
        states=MemoryStateStore(),
        locks=MemoryConversationLock(),
        catalog=Catalog.load(CONFIG_DIR / "messages"),
        flows=[*flows, FallbackFlow()],
        bus=EventBus(),
        clock=clock,
    )


def _message(**fields: Any) -> IncomingMessage:
    base = {"channel": "telegram", "chat_id": "42", "user_id": "42", "source_id": "1"}
    return IncomingMessage(**{**base, **fields})


@pytest.mark.parametrize(
    ("attachment", "expected"),
    [
        (OtherAttachment("voice"), "Голосовые сообщения"),
        (OtherAttachment("sticker"), "Стикер"),
        (OtherAttachment("document"), "не умею читать"),
        (Photo("file-1"), "Фото получил"),
    ],
    ids=["voice", "sticker", "document", "photo"],
)
async def test_messages_the_bot_cannot_read_are_explained(
    database: Database, clock: Any, attachment: Any, expected: str
) -> None:
    engine = _engine(database, clock)

    result = await engine.handle(_message(attachments=(attachment,)))

    assert expected in result.replies[0].text
    async with database.uow() as uow:
        stored = await uow.messages.history(result.conversation_id)
    assert stored[0].attachments is not None
    assert stored[0].attachments[0]["type"] == type(attachment).__name__


async def test_a_redelivered_platform_event_is_answered_once(
    database: Database, clock: Any
) -> None:
    engine = _engine(database, clock)

    first = await engine.handle(_message(text="привет", source_id="update-7"))
    again = await engine.handle(_message(text="привет", source_id="update-7"))

    assert first.replies
    assert again.duplicate
    assert again.replies == []
    async with database.uow() as uow:
        assert await uow.messages.count() == 1


class _BrokenFlow(Flow):
    async def handle(self, turn: Turn) -> bool:
        turn.goto("somewhere")
        raise RuntimeError("a bug in a flow")


async def test_a_failing_flow_becomes_an_apology_and_the_message_is_kept(
    database: Database, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    engine = _engine(database, clock, _BrokenFlow())

    result = await engine.handle(_message(text="где мой заказ?"))

    assert "что-то сломалось" in result.replies[0].text
    assert "сохранено" in result.replies[0].text
    assert "the turn failed" in caplog.text
    async with database.uow() as uow:
        stored = await uow.messages.history(result.conversation_id)
    assert [m.text for m in stored] == ["где мой заказ?"]


async def test_a_visitor_flooding_the_web_chat_is_slowed_down_then_let_back_in(
    make_settings: SettingsFactory, start_app, clock: Any
) -> None:
    app = await start_app(make_settings(OTKLIK_WEBCHAT__MESSAGES_PER_MINUTE="3"), clock)
    shopper = WebChatShopper(app.client)
    for _ in range(3):
        await shopper.send("/start")

    flood = await app.client.post(
        "/api/webchat/messages", json={"visitor_id": shopper.visitor_id, "text": "ещё"}
    )
    other = await WebChatShopper(app.client).send("/start")
    clock.advance(int(flood.headers["Retry-After"]))
    later = await shopper.send("меню")

    assert flood.status == 429
    assert 0 < int(flood.headers["Retry-After"]) <= 60
    assert "try again" in (await flood.json())["error"]
    assert "Здравствуйте" in texts_of(other)
    assert "Чем могу помочь" in texts_of(later)


async def test_no_log_line_holds_a_visitor_id(
    make_settings: SettingsFactory, start_app, clock: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The id is the only key to a conversation: whoever reads the logs (or a proxy's) must
    # not be able to read the chats. The clock stands still, so both messages fall in one
    # rate-limit window (on the wall clock a minute could turn between them).
    app = await start_app(make_settings(OTKLIK_WEBCHAT__MESSAGES_PER_MINUTE="1"), clock)
    shopper = WebChatShopper(app.client)
    with caplog.at_level(logging.INFO):
        await shopper.send("/start")
        await shopper.history()
        flood = await app.client.post(
            "/api/webchat/messages", json={"visitor_id": shopper.visitor_id, "text": "ещё"}
        )

    assert flood.status == 429
    assert "POST /api/webchat/history" in caplog.text  # the access log is on
    assert "is over its limit" in caplog.text
    assert shopper.visitor_id is not None
    assert shopper.visitor_id not in caplog.text


async def test_a_press_on_a_button_the_bot_no_longer_knows_says_so_and_shows_the_menu(
    make_settings: SettingsFactory, start_app
) -> None:
    # A button under an old message, from an earlier version of the bot's menus.
    app = await start_app(make_settings())
    shopper = WebChatShopper(app.client)
    await shopper.send("/start")

    replies = await shopper.send(payload="catalog:page:2")

    assert "кнопка устарела" in texts_of(replies)
    assert "пустое" not in texts_of(replies)
    assert "👤 Позвать оператора" in buttons_of(replies)
