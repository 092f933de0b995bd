"""Viber callbacks → our messages: the documented payloads, every branch, and the signature."""

from __future__ import annotations

from typing import Any

import pytest

from bots.channel import same_secret
from bots.messages import Button, Location, OtherAttachment, Photo, SharedContact
from bots.viber import MalformedCallback, keyboard_json, signature, to_incoming
from tests.fakes.viber_api import TOKEN, message, sign
from tests.payloads import payload, payload_names, payload_path

ANNA = "k9fWZ1bLtSoG0Jp3wTtJ6A=="


def fixture(name: str) -> dict[str, Any]:
    return payload("viber", name)


@pytest.mark.parametrize("name", payload_names("viber"))
def test_every_documented_callback_parses(name: str) -> None:
    callback = fixture(name)

    parsed = to_incoming(callback)

    if callback["event"] in ("message", "conversation_started"):
        assert parsed is not None
        assert parsed.channel == "viber"
        assert parsed.source_id == str(callback["message_token"])
    else:
        assert parsed is None


@pytest.mark.parametrize("name", ["message_text", "conversation_started", "unsubscribed"])
def test_our_signature_is_the_one_viberbot_computes(name: str) -> None:
    body = payload_path("viber", name).read_bytes()

    assert signature(TOKEN, body) == sign(body)
    assert signature("another-token", body) != sign(body)


def test_conversation_started_is_start_with_its_context_as_the_deep_link() -> None:
    started = to_incoming(fixture("conversation_started"))

    assert started is not None
    assert (started.chat_id, started.user_id) == ("01234567890A=", "01234567890A=")
    assert started.text == "/start"
    assert started.deeplink_payload == "context information"
    assert started.display_name == "John McClane"
    assert started.language_code == "en"
    assert started.source_id == "4912661846655238145"
    assert started.received_at is not None
    assert started.received_at.year == 2016


def test_a_text_message_keeps_its_sender_name_and_language() -> None:
    text = to_incoming(fixture("message_text"))

    assert text is not None
    assert text.text == "a message to the service"
    assert text.display_name == "John McClane"
    assert text.button_payload is None
    assert text.attachments == ()


def test_a_press_of_our_reply_button_is_its_payload() -> None:
    pressed = to_incoming(message(ANNA, "btn:menu:ask"))

    assert pressed is not None
    assert (pressed.text, pressed.button_payload) == ("", "menu:ask")


def test_a_picture_is_a_photo_with_its_caption_as_text() -> None:
    picture = to_incoming(fixture("message_picture"))

    assert picture is not None
    assert picture.text == "Вот чек"
    assert picture.attachments == (
        Photo(
            file_id="IMG_20260101_120000.jpg",
            url=fixture("message_picture")["message"]["media"],
        ),
    )


def test_a_picture_without_a_url_is_still_a_photo() -> None:
    picture = to_incoming(message(ANNA, kind="picture"))

    assert picture is not None
    (photo,) = picture.attachments
    assert isinstance(photo, Photo)
    assert photo.url is None
    assert photo.file_id.startswith("viber-")


@pytest.mark.parametrize(
    ("callback", "expected"),
    [
        (fixture("message_location"), (Location(55.7558, 37.6173),)),
        (fixture("message_contact"), (SharedContact("+79161234567", "Анна"),)),
        (
            message(ANNA, kind="location", location={"lat": "север"}),
            (OtherAttachment("location"),),
        ),
        (message(ANNA, kind="contact", contact={}), (OtherAttachment("contact"),)),
        (message(ANNA, kind="sticker", sticker_id=46105), (OtherAttachment("sticker"),)),
        (message(ANNA, kind="file", media="https://x/a.pdf"), (OtherAttachment("document"),)),
        (message(ANNA, kind="video", media="https://x/a.mp4"), (OtherAttachment("video"),)),
        (message(ANNA, kind="rich_media"), (OtherAttachment("rich_media"),)),
    ],
    ids=[
        "location",
        "contact",
        "bad-location",
        "no-phone",
        "sticker",
        "file",
        "video",
        "unknown",
    ],
)
def test_attachments_are_typed(callback: dict[str, Any], expected: tuple[object, ...]) -> None:
    parsed = to_incoming(callback)

    assert parsed is not None
    assert parsed.attachments == expected


def test_a_url_message_is_its_url_as_text() -> None:
    parsed = to_incoming(message(ANNA, kind="url", media="https://shop.example/item/1"))

    assert parsed is not None
    assert parsed.text == "https://shop.example/item/1"


@pytest.mark.parametrize(
    "callback",
    [
        {"event": "message", "message_token": 1, "message": {"type": "text", "text": "hi"}},
        {"event": "message", "sender": {"id": ANNA}, "message_token": 1},
        {"event": "message", "sender": {"id": ANNA}, "message": {"text": "no type"}},
        {"event": "message", "sender": {"id": ""}, "message": {"type": "text"}},
        {"event": "conversation_started", "message_token": 1, "user": "Анна"},
    ],
    ids=["no-sender", "no-message", "no-type", "empty-id", "user-not-object"],
)
def test_a_callback_without_who_or_what_is_malformed(callback: dict[str, Any]) -> None:
    with pytest.raises(MalformedCallback):
        to_incoming(callback)


def test_a_keyboard_fills_the_six_column_grid_and_no_press_shows_in_the_chat() -> None:
    keyboard = keyboard_json(
        [
            (Button("Да", payload="yes"), Button("Нет", payload="no")),
            (Button("Сайт", url="https://shop.example"),),
        ]
    )

    assert keyboard == {
        "Type": "keyboard",
        "DefaultHeight": False,
        "Buttons": [
            {
                "Columns": 3,
                "Rows": 1,
                "Text": "Да",
                "ActionType": "reply",
                "ActionBody": "btn:yes",
                "Silent": True,
            },
            {
                "Columns": 3,
                "Rows": 1,
                "Text": "Нет",
                "ActionType": "reply",
                "ActionBody": "btn:no",
                "Silent": True,
            },
            {
                "Columns": 6,
                "Rows": 1,
                "Text": "Сайт",
                "ActionType": "open-url",
                "ActionBody": "https://shop.example",
                "Silent": True,
            },
        ],
    }


@pytest.mark.parametrize("given", ["\udcff\udcfe", "\ud800", "é" * 64, ""])
def test_a_signature_or_secret_of_any_characters_is_only_ever_wrong(given: str) -> None:
    # aiohttp hands over header bytes that are not UTF-8 as lone surrogates, and JSON can carry
    # them too: the comparison says "no" (a 401/403), it never raises (a 500).
    assert same_secret(given, "0" * 64) is False
    assert same_secret("0" * 64, "0" * 64) is True
