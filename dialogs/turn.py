"""One turn of a conversation: the message, where the chat stands, and what to answer.

Flows read the turn and write to it (``say``, ``goto``, ``emit``); the engine loads it before
the flows run and saves it after, so a flow never touches storage or the state store directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bots.messages import Button, IncomingMessage, Reply
from config.catalog import Catalog
from dialogs.events import Event

__all__ = ["Turn"]


@dataclass
class Turn:
    """The working state of one incoming message while the flows handle it."""

    message: IncomingMessage
    conversation_id: int
    language: str
    step: str | None
    data: dict[str, Any]
    now: datetime
    catalog: Catalog
    replies: list[Reply] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The message text without surrounding whitespace."""
        return self.message.text.strip()

    @property
    def payload(self) -> str | None:
        """The payload of the button pressed, if one was."""
        return self.message.button_payload

    def t(self, key: str, **params: object) -> str:
        """A catalog text in the shopper's language."""
        return self.catalog.text(self.language, key, **params)

    def button(self, key: str, payload: str) -> Button:
        """A button labelled from the catalog."""
        return Button(text=self.t(key), payload=payload)

    def say(self, text: str, *rows: tuple[Button, ...] | list[Button]) -> None:
        """Queue a reply; each positional argument is one row of buttons."""
        self.replies.append(Reply(text=text, buttons=tuple(tuple(row) for row in rows if row)))

    def goto(self, step: str | None) -> None:
        """Move the conversation to ``step`` once the turn ends (None: top level)."""
        self.step = step

    def emit(self, event: Event) -> None:
        """Announce something for the rest of the system; handled before replies are sent."""
        self.events.append(event)
