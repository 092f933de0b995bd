"""Repositories of conversations, handoff requests and feedback; messages are in messages.py."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bots.messages import Attachment, IncomingMessage
from storage.filing import attachments_json, file_messages, on_conflict_insert
from storage.models import (
    ACTIVE_HANDOFF,
    Conversation,
    Customer,
    Feedback,
    HandoffRequest,
    Identity,
)
from storage.records import ConversationRef, HandoffRecord

__all__ = [
    "ConversationRepository",
    "FeedbackRepository",
    "HandoffRepository",
]


class ConversationRepository:
    """Customers, their channel identities and their conversations."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def file_incoming(self, message: IncomingMessage, now: datetime) -> ConversationRef:
        """Store ``message`` in its open conversation, creating the customer and conversation.

        A message whose platform ``source_id`` was stored before is a redelivery: nothing is
        written and the returned reference has no ``message_id``. The SQL is
        :func:`storage.filing.file_messages`, shared with the journal's group commits.
        """
        connection = await self._session.connection()
        (ref,) = await connection.run_sync(file_messages, [(message, now)])
        return ref

    async def set_subscribed(
        self, channel: str, user_id: str, subscribed: bool, now: datetime
    ) -> None:
        """Remember whether a shopper may be messaged (Viber ``subscribed``/``unsubscribed``)."""
        identity = await self._session.scalar(
            select(Identity).where(Identity.channel == channel, Identity.user_id == user_id)
        )
        if identity is None:
            customer = Customer(created_at=now)
            self._session.add(customer)
            await self._session.flush()
            identity = Identity(
                customer_id=customer.id,
                channel=channel,
                user_id=user_id,
                created_at=now,
                last_seen_at=now,
            )
            self._session.add(identity)
        identity.unsubscribed_at = None if subscribed else now
        await self._session.flush()

    async def is_unsubscribed(self, channel: str, user_id: str) -> bool:
        """True when the shopper unsubscribed and must not be sent anything."""
        unsubscribed_at = await self._session.scalar(
            select(Identity.unsubscribed_at).where(
                Identity.channel == channel, Identity.user_id == user_id
            )
        )
        return unsubscribed_at is not None

    async def last_message_at(self, conversation_id: int) -> datetime | None:
        """When the shopper last wrote in a conversation, to the minute (None if unknown)."""
        return await self._session.scalar(
            select(Conversation.last_message_at).where(Conversation.id == conversation_id)
        )

    async def find_by_chat(self, channel: str, chat_id: str) -> int | None:
        """The newest open conversation in a chat, for channels that look up by chat."""
        return await self._session.scalar(
            select(Conversation.id)
            .where(
                Conversation.channel == channel,
                Conversation.chat_id == chat_id,
                Conversation.status == "open",
            )
            .order_by(Conversation.id.desc())
            .limit(1)
        )


class HandoffRepository:
    """Requests for a person."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def open(self, conversation_id: int, reason: str | None, now: datetime) -> int:
        """Queue a request unless one is active already; returns the active request's id.

        The unique index on a conversation's active request decides when two arrive at once
        (two workers, a double tap): the second finds the first instead of queueing twice.
        """
        dialect = self._session.get_bind().dialect.name
        while True:
            request_id = await self._session.scalar(
                on_conflict_insert(dialect)(HandoffRequest)
                .values(
                    conversation_id=conversation_id,
                    status="waiting",
                    reason=reason,
                    requested_at=now,
                )
                .on_conflict_do_nothing(
                    index_elements=["conversation_id"], index_where=text(ACTIVE_HANDOFF)
                )
                .returning(HandoffRequest.id)
            )
            if request_id is not None:
                return int(request_id)
            active = await self.active_for(conversation_id)
            if active is not None:  # else it was closed in between: queue this one after all
                return active.id

    async def active_for(self, conversation_id: int) -> HandoffRecord | None:
        """The request still waiting or being worked on in this conversation."""
        row = await self._session.scalar(
            select(HandoffRequest)
            .where(
                HandoffRequest.conversation_id == conversation_id,
                HandoffRequest.status.in_(("waiting", "taken")),
            )
            .order_by(HandoffRequest.id.desc())
            .limit(1)
        )
        return None if row is None else _handoff(row)

    async def cancel(self, conversation_id: int, now: datetime) -> bool:
        """The shopper no longer needs a person; True when a waiting request was cancelled."""
        result = await self._session.execute(
            update(HandoffRequest)
            .where(
                HandoffRequest.conversation_id == conversation_id,
                HandoffRequest.status == "waiting",
            )
            .values(status="cancelled", closed_at=now)
        )
        return bool(getattr(result, "rowcount", 0))

    async def waiting(self, limit: int = 100) -> list[HandoffRecord]:
        """Requests no operator has taken yet, oldest first."""
        rows = await self._session.scalars(
            select(HandoffRequest)
            .where(HandoffRequest.status == "waiting")
            .order_by(HandoffRequest.requested_at, HandoffRequest.id)
            .limit(limit)
        )
        return [_handoff(row) for row in rows]


def _handoff(row: HandoffRequest) -> HandoffRecord:
    return HandoffRecord(
        id=row.id,
        conversation_id=row.conversation_id,
        status=row.status,
        reason=row.reason,
        requested_at=row.requested_at,
        closed_at=row.closed_at,
    )


class FeedbackRepository:
    """Feedback left through the menu."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(
        self,
        conversation_id: int,
        text: str,
        attachments: Sequence[Attachment],
        now: datetime,
    ) -> int:
        """Keep one piece of feedback."""
        row = Feedback(
            conversation_id=conversation_id,
            text=text,
            attachments=attachments_json(attachments),
            created_at=now,
        )
        self._session.add(row)
        await self._session.flush()
        return row.id

    async def texts(self, conversation_id: int) -> list[str]:
        """Feedback texts of a conversation, oldest first."""
        rows = await self._session.scalars(
            select(Feedback.text)
            .where(Feedback.conversation_id == conversation_id)
            .order_by(Feedback.id)
        )
        return list(rows)
