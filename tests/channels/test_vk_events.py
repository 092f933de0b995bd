"""VK community events → our messages: the documented payloads, every branch, bad input."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from bots.messages import Location, OtherAttachment, Photo
from bots.vk import MalformedEvent, to_incoming
from tests.payloads import payload, payload_names


def fixture(name: str) -> dict[str, Any]:
    return payload("vk", name)


@pytest.mark.parametrize("name", payload_names("vk"))
def test_every_documented_payload_parses(name: str) -> None:
    event = fixture(name)

    message = to_incoming(event)

    if event["type"] in ("message_new", "message_event"):
        assert message is not None
        assert message.channel == "vk"
        assert message.chat_id == "512345678"
    else:
        assert message is None


def test_a_text_message_keeps_its_peer_sender_language_time_and_event_id() -> None:
    message = to_incoming(fixture("message_new"))

    assert message is not None
    assert (message.chat_id, message.user_id) == ("512345678", "512345678")
    assert message.text == "До скольки работает магазин?"
    assert message.button_payload is None
    assert message.deeplink_payload is None
    assert message.language_code == "ru"
    assert message.source_id == "a3f1c2d4e5b60718293a4b5c6d7e8f9012345678"
    assert message.received_at == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    assert message.raw["object"]["message"]["text"] == message.text
    assert "secret" not in message.raw, "the callback secret is not stored with the message"


def test_the_start_button_is_start_and_ref_is_the_deep_link() -> None:
    message = to_incoming(fixture("message_new_start"))

    assert message is not None
    assert message.text == "/start"
    assert message.button_payload is None
    assert message.deeplink_payload == "qr-store-12"


def test_ref_source_alone_is_the_deep_link() -> None:
    event = fixture("message_new_start")
    del event["object"]["message"]["ref"]

    message = to_incoming(event)

    assert message is not None
    assert message.deeplink_payload == "poster"


def test_a_press_of_our_button_carries_its_payload_not_its_label() -> None:
    message = to_incoming(fixture("message_new_button"))

    assert message is not None
    assert message.button_payload == "menu:ask"
    assert message.text == ""
    assert message.language_code == "en"


def test_a_foreign_payload_is_passed_on_as_it_came() -> None:
    event = fixture("message_new_button")
    event["object"]["message"]["payload"] = '{"button":"1"}'

    message = to_incoming(event)

    assert message is not None
    assert message.button_payload == '{"button":"1"}'
    assert message.text == "❓ Задать вопрос"


def test_a_photo_is_the_largest_size_with_its_owner_id_and_access_key() -> None:
    message = to_incoming(fixture("message_new_photo"))

    assert message is not None
    assert message.text == "Вот чек"
    assert message.attachments == (
        Photo(
            file_id="photo512345678_457239017_a1b2c3d4e5f6a7b8c9",
            url="https://sun9-1.userapi.com/s/v1/ig2/photo_y.jpg",
            width=1280,
            height=960,
        ),
    )


def test_a_photo_without_a_url_is_still_kept() -> None:
    event = fixture("message_new_photo")
    event["object"]["message"]["attachments"][0]["photo"]["sizes"] = []

    message = to_incoming(event)

    assert message is not None
    (photo,) = message.attachments
    assert isinstance(photo, Photo)
    assert photo.url is None
    assert photo.file_id.startswith("photo512345678_457239017")


def test_other_attachments_and_geo_are_typed_and_link_previews_dropped() -> None:
    event = fixture("message_new")
    body = event["object"]["message"]
    body["attachments"] = [
        {"type": "audio_message", "audio_message": {}},
        {"type": "sticker", "sticker": {}},
        {"type": "doc", "doc": {}},
        {"type": "link", "link": {"url": "https://example.com"}},
        {"type": "wall", "wall": {}},
    ]
    body["geo"] = {"type": "point", "coordinates": {"latitude": 55.75, "longitude": 37.61}}

    message = to_incoming(event)

    assert message is not None
    assert message.attachments == (
        OtherAttachment("voice"),
        OtherAttachment("sticker"),
        OtherAttachment("document"),
        OtherAttachment("wall"),
        Location(55.75, 37.61),
    )


def test_the_pre_5_103_format_without_client_info_parses() -> None:
    message = to_incoming(fixture("message_new_legacy"))

    assert message is not None
    assert message.text == "Привет"
    assert message.language_code is None


def test_a_callback_button_press_is_a_payload_with_the_event_id() -> None:
    message = to_incoming(fixture("message_event"))

    assert message is not None
    assert message.button_payload == "menu:handoff"
    assert message.text == ""
    assert message.source_id == "f8c6b7a9d0e1324c5d6e7f8091a2b3c4d5e6f708"


def test_without_a_top_level_event_id_the_message_is_still_identified() -> None:
    event = fixture("message_new")
    del event["event_id"]

    message = to_incoming(event)

    assert message is not None
    assert message.source_id == "512345678:17"


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("object",), None),
        (("object", "message"), "text"),
        (("object", "message", "peer_id"), None),
        (("object", "message", "peer_id"), "two"),
        (("object", "message", "from_id"), True),
    ],
)
def test_a_message_without_its_peer_or_sender_is_malformed(
    path: tuple[str, ...], value: object
) -> None:
    event = copy.deepcopy(fixture("message_new"))
    node = event
    for key in path[:-1]:
        node = node[key]
    if value is None:
        del node[path[-1]]
    else:
        node[path[-1]] = value

    with pytest.raises(MalformedEvent):
        to_incoming(event)
