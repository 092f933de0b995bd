"""Things that happened in a conversation that other parts of the system act on.

Flows emit these instead of importing ``handoff/`` or writing reports themselves; the composition
root decides who handles each (cosmicpython's ``events.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bots.messages import Attachment

__all__ = ["Event", "FeedbackLeft", "HandoffCancelled", "HandoffRequested"]


@dataclass(frozen=True, slots=True)
class HandoffRequested:
    """The shopper asked for a person."""

    conversation_id: int
    channel: str
    chat_id: str
    reason: str | None
    at: datetime


@dataclass(frozen=True, slots=True)
class HandoffCancelled:
    """The shopper no longer needs a person."""

    conversation_id: int
    at: datetime


@dataclass(frozen=True, slots=True)
class FeedbackLeft:
    """The shopper wrote feedback through the menu."""

    conversation_id: int
    text: str
    attachments: tuple[Attachment, ...]
    at: datetime


Event = HandoffRequested | HandoffCancelled | FeedbackLeft
