"""Plain records the repositories return, so no ORM object or session escapes ``storage/``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bots.messages import Reply

__all__ = ["ConversationRef", "HandoffRecord", "OutgoingRecord", "PendingReply", "StoredMessage"]


@dataclass(frozen=True, slots=True)
class ConversationRef:
    """Where an incoming message was filed; ``message_id`` is None for a repeated event."""

    customer_id: int
    identity_id: int
    conversation_id: int
    message_id: int | None
    replies_waiting: bool = False
    """A reply in this conversation awaits a retry: new replies must queue behind it."""

    @property
    def duplicate(self) -> bool:
        """The platform delivered this event before; it must not be processed twice."""
        return self.message_id is None


@dataclass(frozen=True, slots=True)
class OutgoingRecord:
    """A reply to record: sent (with the platform's ``source_id``) or refused (with the error).

    A refusal that may pass (``retryable``) is due for the retry job at once; ``attempted`` is
    False for a reply held back unsent behind an earlier one that was refused.
    """

    conversation_id: int
    channel: str
    reply: Reply
    created_at: datetime
    source_id: str | None
    error_code: str | None = None
    error_description: str | None = None
    retryable: bool = False
    attempted: bool = True
    author: str = "bot"
    send_key: int | None = None
    """The key the reply was (or will be) sent with; the retry job sends it with the same."""


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One message as kept, in or out."""

    id: int
    conversation_id: int
    direction: str
    author: str
    text: str
    button_payload: str | None
    buttons: list[Any] | None
    attachments: list[Any] | None
    status: str
    source_id: str | None
    error_code: str | None
    created_at: datetime
    retryable: bool
    attempts: int
    next_attempt_at: datetime | None


@dataclass(frozen=True, slots=True)
class PendingReply:
    """A refused reply the retry job has claimed: what to send, where, and how often it was."""

    id: int
    conversation_id: int
    channel: str
    chat_id: str
    reply: Reply
    attempts: int
    held_until: datetime
    """The claim: the row's ``next_attempt_at`` while this worker holds it."""
    send_key: int | None = None
    """The key of the first attempt (see :meth:`bots.channel.Channel.send`)."""


@dataclass(frozen=True, slots=True)
class HandoffRecord:
    """A request for a person."""

    id: int
    conversation_id: int
    status: str
    reason: str | None
    requested_at: datetime
    closed_at: datetime | None
