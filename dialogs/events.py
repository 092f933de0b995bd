"""Things that happened in a conversation that other parts of the system act on.

Flows emit these instead of importing ``handoff/`` or writing reports themselves; the composition
root decides who handles each (cosmicpython's ``events.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bots.messages import Attachment

__all__ = [
    "AnswerRated",
    "Event",
    "FeedbackLeft",
    "HandoffCancelled",
    "HandoffRequested",
    "PhoneShared",
    "QuestionUnanswered",
    "SuggestionPicked",
]


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


@dataclass(frozen=True, slots=True)
class QuestionUnanswered:
    """The FAQ had no confident answer. Content staff's to-do.

    `outcome` is ``suggest`` (only suggestions: `suggestions` are the entries offered),
    ``fallback`` (nothing), or ``close``: an answer given with a sibling entry nearly as
    close offered under it, since which of the two the shopper meant is a gap too; then
    `suggestions` are the entry answered, then the sibling offered.
    """

    conversation_id: int
    channel: str
    text: str
    outcome: str
    suggestions: tuple[str, ...]
    at: datetime


@dataclass(frozen=True, slots=True)
class SuggestionPicked:
    """The shopper tapped one of the entries suggested for their question.

    The question and the entry tell content staff which wording to add to that entry's
    ``questions``, so the next shopper who asks it is answered at once.
    """

    conversation_id: int
    question: str
    entry_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class AnswerRated:
    """The shopper said whether an FAQ answer helped."""

    conversation_id: int
    entry_id: str
    helpful: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class PhoneShared:
    """The shopper gave their phone number (contact button or typed) on a channel."""

    channel: str
    user_id: str
    phone: str
    at: datetime


Event = (
    HandoffRequested
    | HandoffCancelled
    | FeedbackLeft
    | QuestionUnanswered
    | SuggestionPicked
    | AnswerRated
    | PhoneShared
)
