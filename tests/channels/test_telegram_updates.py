"""``to_incoming``: every kind of Bot API update we keep (or drop), on recorded JSON."""

from __future__ import annotations

from typing import Any

import pytest

# to_incoming takes aiogram's Update; building one is the point of these tests of bots/telegram.py.
from aiogram.types import Update  # noqa: TID251

from bots.messages import IncomingMessage, Location, OtherAttachment, Photo, SharedContact
from bots.telegram import to_incoming
from tests.fakes.telegram_api import fixture_update

ANNA = "555000111"


BOT = "otklik_test_bot"
GROUP = "-1001234567890"


def incoming(name: str, **changes: Any) -> IncomingMessage | None:
    return to_incoming(Update.model_validate(fixture_update(name, **changes)))


def in_group(text: str, *, bot_username: str | None = BOT) -> IncomingMessage | None:
    update = fixture_update("message_group_start_bot")
    update["message"]["text"] = text
    return to_incoming(Update.model_validate(update), bot_username=bot_username)


def translated(name: str) -> IncomingMessage:
    message = incoming(name)
    assert message is not None, f"{name} was dropped"
    return message


def test_a_text_message_keeps_who_wrote_where_and_what() -> None:
    message = translated("message_text")

    assert message.channel == "telegram"
    assert (message.chat_id, message.user_id) == (ANNA, ANNA)
    assert message.text == "До скольки работает магазин на Ленина?"
    assert message.display_name == "Анна Петрова"
    assert message.language_code == "ru"
    assert message.source_id == "100000001"
    assert message.button_payload is None
    assert message.deeplink_payload is None
    assert message.attachments == ()
    assert message.raw["message"]["message_id"] == 11


def test_start_with_a_payload_becomes_the_deep_link() -> None:
    message = translated("message_start_payload")

    assert message.text == "/start"
    assert message.deeplink_payload == "qr-store-12"


def test_plain_start_has_no_deep_link() -> None:
    message = translated("message_start")

    assert message.text == "/start"
    assert message.deeplink_payload is None


def test_start_addressed_to_this_bot_in_a_group_is_start_with_its_deep_link() -> None:
    update = Update.model_validate(fixture_update("message_group_start_bot"))

    message = to_incoming(update, bot_username=BOT)

    assert message is not None
    assert (message.text, message.deeplink_payload) == ("/start", "qr-store-12")
    assert (message.chat_id, message.user_id) == (GROUP, ANNA)


@pytest.mark.parametrize(
    ("text", "deeplink"),
    [
        pytest.param(f"/start@{BOT}", None, id="no-payload"),
        pytest.param("/start@Otklik_Test_Bot qr-store-7", "qr-store-7", id="username-case"),
        pytest.param(f"/start@{BOT}   qr-store-7  ", "qr-store-7", id="extra-spaces"),
    ],
)
def test_start_addressed_to_this_bot_is_recognised(text: str, deeplink: str | None) -> None:
    message = in_group(text)

    assert message is not None
    assert (message.text, message.deeplink_payload) == ("/start", deeplink)


@pytest.mark.parametrize(
    "text", ["/start@other_bot qr-store-12", "/start@other_bot", "/help@other_bot"]
)
def test_a_command_addressed_to_another_bot_is_not_for_us(text: str) -> None:
    assert in_group(text) is None


def test_without_knowing_its_own_name_the_bot_does_not_take_an_addressed_start() -> None:
    message = in_group(f"/start@{BOT} qr-store-12", bot_username=None)

    assert message is not None
    assert (message.text, message.deeplink_payload) == (f"/start@{BOT} qr-store-12", None)


def test_a_button_press_carries_its_payload_to_the_chat_of_the_keyboard() -> None:
    message = translated("callback_query")

    assert message.button_payload == "menu:handoff"
    assert message.text == ""
    assert (message.chat_id, message.user_id) == (ANNA, ANNA)
    assert message.source_id == "100000004"


def test_a_press_under_an_inline_message_answers_the_user_privately() -> None:
    message = translated("callback_query_inline")

    assert message.button_payload == "menu:ask"
    assert message.chat_id == ANNA


def test_a_photo_is_the_largest_size_and_its_caption_is_the_text() -> None:
    message = translated("message_photo_caption")

    assert message.text == "Просроченный йогурт на полке"
    assert message.attachments == (Photo("AgACAgIAAxkBAAIBsmW-large", width=1280, height=960),)


def test_a_photo_without_caption_has_empty_text() -> None:
    message = translated("message_photo")

    assert message.text == ""
    assert [type(a) for a in message.attachments] == [Photo]


def test_a_shared_contact_is_typed() -> None:
    assert translated("message_contact").attachments == (
        SharedContact("+79161234567", "Анна", ANNA),
    )


def test_a_location_is_typed() -> None:
    assert translated("message_location").attachments == (Location(55.751244, 37.618423),)


@pytest.mark.parametrize(
    ("name", "kind", "text"),
    [
        ("message_sticker", "sticker", ""),
        ("message_voice", "voice", ""),
        # A round video is a spoken message too; the bot explains it the same way as voice.
        ("message_video_note", "voice", ""),
        ("message_document", "document", "Вот чек"),
    ],
)
def test_what_the_bot_cannot_read_is_named_not_dropped(name: str, kind: str, text: str) -> None:
    message = translated(name)

    assert message.attachments == (OtherAttachment(kind),)
    assert message.text == text


def test_in_a_group_replies_go_to_the_group_and_the_writer_is_the_user() -> None:
    message = translated("message_group_text")

    assert message.chat_id == "-1001234567890"
    assert message.user_id == ANNA


def test_emoji_only_text_is_kept_as_text() -> None:
    assert translated("message_emoji").text == "😡😡😡"


def test_a_user_without_language_code_has_none() -> None:
    message = translated("message_no_language")

    assert message.language_code is None
    assert message.display_name == "Bob"


@pytest.mark.parametrize(
    "name", ["edited_message", "channel_post", "my_chat_member", "unknown_type"]
)
def test_updates_the_bot_does_not_handle_are_dropped(name: str) -> None:
    assert incoming(name) is None


def test_the_update_is_kept_as_telegram_sent_it_even_fields_aiogram_does_not_know() -> None:
    body = fixture_update("message_text")
    body["message"]["future_field"] = {"added": "by a newer Bot API"}

    message = to_incoming(Update.model_validate(body), raw=body)

    assert message is not None
    assert message.raw == body
