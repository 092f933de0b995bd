"""Tables: customers, channel identities, conversations, messages, handoff requests, feedback.

A *customer* is a person; an *identity* is that person on one channel (a Telegram user, a web
chat visitor). Keeping them apart lets two channels merge into one customer later (a shared
phone number) without rewriting history. Times are stored as UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AnswerRating",
    "Base",
    "ChannelCursor",
    "Conversation",
    "Customer",
    "Feedback",
    "HandoffRequest",
    "Identity",
    "Message",
    "SuggestionPick",
    "UnansweredQuestion",
    "UtcDateTime",
]


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp that always comes back timezone-aware UTC, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            msg = "naive datetimes are not stored; pass an aware UTC time"
            raise ValueError(msg)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

_Id = BigInteger().with_variant(Integer(), "sqlite")
"""64-bit ids on PostgreSQL; SQLite autoincrements only INTEGER primary keys."""


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON()}  # noqa: RUF012


class Customer(Base):
    """One person, however many channels they write from."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    display_name: Mapped[str | None] = mapped_column(String(256))
    phone: Mapped[str | None] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime]


class Identity(Base):
    """A customer on one channel: the platform's user id there."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("channel", "user_id", name="uq_identities_channel_user"),)

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str | None] = mapped_column(String(256))
    language_code: Mapped[str | None] = mapped_column(String(16))
    phone: Mapped[str | None] = mapped_column(String(32))
    unsubscribed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class Conversation(Base):
    """The chat between the bot (or an operator) and one identity in one chat."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_lookup", "channel", "chat_id", "identity_id", "status"),
        Index(
            "uq_conversations_open",
            "identity_id",
            "channel",
            "chat_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16), default="open")
    entry_payload: Mapped[str | None] = mapped_column(String(256))
    opened_at: Mapped[datetime]
    # The shopper's last message, to the minute: written when a minute old, not per message.
    last_message_at: Mapped[datetime]


class Message(Base):
    """Every message in and out. Outgoing ones carry their delivery status for retries."""

    __tablename__ = "messages"
    __table_args__ = (
        # A platform event id identifies an incoming message on its channel; outgoing ids (a
        # Telegram message id, say) are only unique per chat and need no constraint.
        Index(
            "uq_messages_incoming_source",
            "channel",
            "source_id",
            unique=True,
            sqlite_where=text("direction = 'in'"),
            postgresql_where=text("direction = 'in'"),
        ),
        Index("ix_messages_conversation_created", "conversation_id", "id"),
        # The retry job's queue: only replies waiting for another attempt have a due time.
        Index(
            "ix_messages_retry_due",
            "next_attempt_at",
            sqlite_where=text("next_attempt_at IS NOT NULL"),
            postgresql_where=text("next_attempt_at IS NOT NULL"),
        ),
        # Storing a shopper's message asks whether a reply of the conversation still waits
        # for the retry job; this answers it without reading the conversation's messages.
        Index(
            "ix_messages_waiting_in_conversation",
            "conversation_id",
            sqlite_where=text("next_attempt_at IS NOT NULL"),
            postgresql_where=text("next_attempt_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    channel: Mapped[str] = mapped_column(String(32))
    direction: Mapped[str] = mapped_column(String(3))  # "in" | "out"
    author: Mapped[str] = mapped_column(String(16))  # "customer" | "bot" | "operator"
    text: Mapped[str] = mapped_column(Text, default="")
    button_payload: Mapped[str | None] = mapped_column(String(256))
    buttons: Mapped[list[Any] | None] = mapped_column(JSON)
    attachments: Mapped[list[Any] | None] = mapped_column(JSON)
    source_id: Mapped[str | None] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))  # received | sent | failed
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_description: Mapped[str | None] = mapped_column(Text)
    # Outgoing only: whether the last refusal may pass (a 5xx, a timeout), how many sends were
    # tried, and when the retry job tries again (None: nothing to retry, or it gave up).
    retryable: Mapped[bool] = mapped_column(default=False, server_default=false())
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    # The reply's send key: the retry job resends with it, so VK can drop a copy (random_id).
    send_key: Mapped[int | None] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime | None]
    raw: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]


ACTIVE_HANDOFF = "status IN ('waiting', 'taken')"
"""The handoff requests still being waited on or worked on."""


class HandoffRequest(Base):
    """A shopper asked for a person; the operator queue works from these rows."""

    __tablename__ = "handoff_requests"
    __table_args__ = (
        # One active request per conversation, even when two workers take the same press.
        Index(
            "uq_handoff_requests_active",
            "conversation_id",
            unique=True,
            sqlite_where=text(ACTIVE_HANDOFF),
            postgresql_where=text(ACTIVE_HANDOFF),
        ),
    )

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # waiting | cancelled | taken | closed
    reason: Mapped[str | None] = mapped_column(Text)
    requested_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class UnansweredQuestion(Base):
    """A question the FAQ could not answer with confidence (suggest or fallback): content gaps."""

    __tablename__ = "faq_unanswered"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    outcome: Mapped[str] = mapped_column(String(16))  # suggest | fallback | close | unhelpful
    # suggest: the entries offered; close: the entry answered, then the sibling offered
    suggestions: Mapped[list[Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(index=True)


class SuggestionPick(Base):
    """A suggested entry a shopper tapped: the wording content staff should add to it."""

    __tablename__ = "faq_suggestion_picks"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    question: Mapped[str] = mapped_column(Text)
    entry_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(index=True)


class AnswerRating(Base):
    """A shopper's «Помогло? 👍 / 👎» on one FAQ answer."""

    __tablename__ = "faq_ratings"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    entry_id: Mapped[str] = mapped_column(String(128), index=True)
    helpful: Mapped[bool]
    created_at: Mapped[datetime]


class Feedback(Base):
    """Free-text feedback left through the menu, with photo attachments."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(_Id, primary_key=True, autoincrement=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    attachments: Mapped[list[Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime]


class ChannelCursor(Base):
    """How far a channel has read a platform's event stream (VK Long Poll's ``ts``), per key.

    Written once per batch of stored events, so a restart resumes where the last one stopped.
    """

    __tablename__ = "channel_cursors"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    position: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime]
