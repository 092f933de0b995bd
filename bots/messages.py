"""The normalized message types every channel speaks.

An adapter turns a platform update into an :class:`IncomingMessage` and renders a :class:`Reply`
with the platform's own widgets. The engine sees only these types, so it never knows which
channel it talks to. Attachments are typed (a photo is a :class:`Photo`, not text that looks like
JSON) so the engine can react to them without parsing strings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "Attachment",
    "Button",
    "IncomingMessage",
    "Location",
    "OtherAttachment",
    "Photo",
    "Reply",
    "SentMessage",
    "SharedContact",
    "readable",
]


@dataclass(frozen=True, slots=True)
class Photo:
    """A picture the shopper sent: the platform's ``file_id``, and a ``url`` when there is one."""

    file_id: str
    url: str | None = None
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True, slots=True)
class Location:
    """A point the shopper shared (for "which store is nearest" and QR-less store signals)."""

    latitude: float
    longitude: float


@dataclass(frozen=True, slots=True)
class SharedContact:
    """A phone number the shopper shared with the platform's contact button."""

    phone: str
    first_name: str | None = None
    user_id: str | None = None


@dataclass(frozen=True, slots=True)
class OtherAttachment:
    """Anything the bot cannot read: ``kind`` is one of sticker, voice, video, audio, document...

    Kept as a type rather than dropped so the engine can name what it could not read when it
    explains itself («причина + альтернатива»).
    """

    kind: str


Attachment = Photo | Location | SharedContact | OtherAttachment


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One thing a shopper did in a chat: wrote text, pressed a button, opened a deep link.

    ``chat_id`` is where replies go; ``user_id`` is who wrote (the same in private chats).
    ``source_id`` is the platform's own id of the message or event, so retries of one event can be
    recognised. ``raw`` keeps the platform's update for troubleshooting; the engine never reads it.
    """

    channel: str
    chat_id: str
    user_id: str
    text: str = ""
    display_name: str | None = None
    button_payload: str | None = None
    deeplink_payload: str | None = None
    attachments: tuple[Attachment, ...] = ()
    language_code: str | None = None
    source_id: str | None = None
    received_at: datetime | None = None
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        # Whatever a platform (or an attacker) put in its JSON, what the rest of the bot sees is
        # text every database and every encoder takes; ``raw`` keeps what arrived.
        for name in _TEXT_FIELDS:
            value = getattr(self, name)
            if isinstance(value, str) and _UNREADABLE.search(value):
                object.__setattr__(self, name, readable(value))


_TEXT_FIELDS = (
    "chat_id",
    "user_id",
    "text",
    "display_name",
    "button_payload",
    "deeplink_payload",
    "language_code",
    "source_id",
)
_UNREADABLE = re.compile("[\x00\ud800-\udfff]")


def readable(text: str) -> str:
    """``text`` with NUL and lone UTF-16 surrogates shown as U+FFFD.

    JSON may carry both (``"\\u0000"``, ``"\\ud800"``), and Python keeps them in a str, but
    PostgreSQL refuses NUL in text and nothing can encode a lone surrogate as UTF-8.
    """
    return _UNREADABLE.sub("\ufffd", text)


@dataclass(frozen=True, slots=True)
class Button:
    """A button under a reply: pressing it sends ``payload`` back, or opens ``url``."""

    text: str
    payload: str | None = None
    url: str | None = None

    def __post_init__(self) -> None:
        if (self.payload is None) == (self.url is None):
            msg = "a button has exactly one of payload or url"
            raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class Reply:
    """One message the bot sends: text, buttons laid out in rows, and an optional image URL."""

    text: str
    buttons: tuple[tuple[Button, ...], ...] = ()
    image_url: str | None = None

    @property
    def flat_buttons(self) -> tuple[Button, ...]:
        """All buttons in reading order, for channels that cannot lay out rows."""
        return tuple(button for row in self.buttons for button in row)


@dataclass(frozen=True, slots=True)
class SentMessage:
    """What a platform said when it accepted a reply: its id for the message, when it has one."""

    source_id: str | None
