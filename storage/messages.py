"""The message log: every message in and out, and the replies waiting for a retry."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bots.messages import Button, Reply
from storage.filing import outgoing_values, reply_columns
from storage.models import Conversation, Message
from storage.records import OutgoingRecord, PendingReply, StoredMessage

__all__ = ["MessageRepository"]


class MessageRepository:
    """The message log, in and out."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_outgoing(
        self,
        conversation_id: int,
        channel: str,
        reply: Reply,
        now: datetime,
        *,
        source_id: str | None,
        error_code: str | None = None,
        error_description: str | None = None,
        retryable: bool = False,
        attempted: bool = True,
        author: str = "bot",
        send_key: int | None = None,
    ) -> int:
        """Record one reply (see :class:`OutgoingRecord`) and return its id."""
        record = OutgoingRecord(
            conversation_id,
            channel,
            reply,
            now,
            source_id,
            error_code=error_code,
            error_description=error_description,
            retryable=retryable,
            attempted=attempted,
            author=author,
            send_key=send_key,
        )
        row = Message(**outgoing_values(record))
        self._session.add(row)
        await self._session.flush()
        return row.id

    async def claim_due_for_retry(
        self, now: datetime, *, channels: Collection[str], hold_until: datetime, limit: int = 100
    ) -> list[PendingReply]:
        """Claim up to ``limit`` refused replies due by ``now`` for the retry job, oldest first.

        Only the earliest waiting reply of each conversation is due, so a later reply is never
        resent before an earlier one. Claimed rows are held until ``hold_until`` (the caller
        commits), so another worker skips them; PostgreSQL's ``FOR UPDATE SKIP LOCKED`` keeps
        two workers claiming at the same moment from taking the same row. A worker that dies
        mid-send leaves its rows to be retried once the hold runs out.
        """
        earlier = aliased(Message)
        waits_behind = (
            select(earlier.id)
            .where(
                earlier.conversation_id == Message.conversation_id,
                earlier.id < Message.id,
                earlier.next_attempt_at.is_not(None),
            )
            .exists()
        )
        rows = (
            await self._session.execute(
                select(Message, Conversation.chat_id)
                .join(Conversation, Conversation.id == Message.conversation_id)
                .where(
                    Message.next_attempt_at <= now,
                    Message.direction == "out",
                    Message.status == "failed",
                    Message.retryable.is_(True),
                    Message.channel.in_(list(channels)),
                    ~waits_behind,
                )
                .order_by(Message.next_attempt_at, Message.id)
                .limit(limit)
                .with_for_update(skip_locked=True, of=Message)
            )
        ).all()
        if not rows:
            return []
        await self._session.execute(
            update(Message)
            .where(Message.id.in_([row.id for row, _ in rows]))
            .values(next_attempt_at=hold_until)
        )
        return [
            PendingReply(
                id=row.id,
                conversation_id=row.conversation_id,
                channel=row.channel,
                chat_id=chat_id,
                reply=_reply_from(row),
                attempts=row.attempts,
                held_until=hold_until,
                send_key=row.send_key,
            )
            for row, chat_id in rows
        ]

    async def renew_claim(self, message_id: int, held_until: datetime, until: datetime) -> bool:
        """Hold a claimed reply until ``until``, if this worker's claim (``held_until``) is
        still the row's: False when the claim ran out and another worker took the reply."""
        result = await self._session.execute(
            update(Message)
            .where(Message.id == message_id, Message.next_attempt_at == held_until)
            .values(next_attempt_at=until)
        )
        return _changed(result) == 1

    async def mark_resent(
        self, message_id: int, source_id: str | None, *, held_until: datetime
    ) -> None:
        """A retried reply got through: ``sent``, with the platform's id; nothing left to retry.

        Only while this worker's claim (``held_until``) is the row's.
        """
        await self._session.execute(
            update(Message)
            .where(Message.id == message_id, Message.next_attempt_at == held_until)
            .values(
                status="sent",
                source_id=source_id,
                error_code=None,
                error_description=None,
                retryable=False,
                attempts=Message.attempts + 1,
                next_attempt_at=None,
            )
        )

    async def mark_undelivered(
        self, conversation_id: int, source_id: str, error_code: str, error_description: str
    ) -> bool:
        """A reply the platform took but later reported undelivered (Viber's ``failed``).

        It becomes ``failed`` for good: the notice gives no passing reason, and a resend could
        reach the shopper twice. Looked up within its conversation, by the platform's id.
        """
        result = await self._session.execute(
            update(Message)
            .where(
                Message.conversation_id == conversation_id,
                Message.direction == "out",
                Message.source_id == source_id,
                Message.status == "sent",
            )
            .values(
                status="failed",
                error_code=error_code,
                error_description=error_description,
                retryable=False,
            )
        )
        return _changed(result) == 1

    async def mark_resend_failed(
        self,
        message_id: int,
        error_code: str,
        error_description: str,
        *,
        next_attempt_at: datetime | None,
        held_until: datetime,
    ) -> None:
        """A retried reply was refused again: try at ``next_attempt_at``, or never when None.

        Only while this worker's claim (``held_until``) is the row's.
        """
        await self._session.execute(
            update(Message)
            .where(Message.id == message_id, Message.next_attempt_at == held_until)
            .values(
                error_code=error_code,
                error_description=error_description,
                retryable=next_attempt_at is not None,
                attempts=Message.attempts + 1,
                next_attempt_at=next_attempt_at,
            )
        )

    async def narrow_to_rest(
        self, message_id: int, rest: Reply, *, held_until: datetime, send_key: int | None = None
    ) -> bool:
        """A claimed reply of which the shopper now has the first parts: keep only ``rest``
        (and ``send_key``, the key of its first part).

        The row keeps its place (its id), so what is left still goes before the replies held
        behind it. Only while this worker's claim (``held_until``) is the row's.
        """
        result = await self._session.execute(
            update(Message)
            .where(Message.id == message_id, Message.next_attempt_at == held_until)
            .values(**reply_columns(rest), send_key=send_key)
        )
        return _changed(result) == 1

    async def stop_retrying(self, message_id: int) -> None:
        """Give up on a refused reply without sending it again; it stays ``failed``."""
        await self._session.execute(
            update(Message)
            .where(Message.id == message_id)
            .values(retryable=False, next_attempt_at=None)
        )

    async def history(self, conversation_id: int, limit: int = 200) -> list[StoredMessage]:
        """The last ``limit`` messages of a conversation, oldest first."""
        rows = await self._session.scalars(
            select(Message)
            .where(Message.conversation_id == conversation_id)
            .order_by(Message.id.desc())
            .limit(limit)
        )
        return [_stored(row) for row in reversed(rows.all())]

    async def replies_to(self, channel: str, source_id: str) -> list[Reply]:
        """The bot's replies recorded after the shopper message with this platform id.

        Those up to the shopper's next message, oldest first; none if there is no such message
        (or no reply to it yet). Lets a channel answer a retried request with what the first
        attempt got.
        """
        asked = await self._session.scalar(
            select(Message).where(
                Message.channel == channel,
                Message.direction == "in",
                Message.source_id == source_id,
            )
        )
        if asked is None:
            return []
        later = await self._session.scalars(
            select(Message)
            .where(Message.conversation_id == asked.conversation_id, Message.id > asked.id)
            .order_by(Message.id)
            .limit(50)
        )
        replies: list[Reply] = []
        for row in later:
            if row.direction == "in":
                break
            if row.author == "bot":
                replies.append(_reply_from(row))
        return replies

    async def failed(self, limit: int = 100) -> list[StoredMessage]:
        """Outgoing messages the platform refused, oldest first, for a retry job."""
        rows = await self._session.scalars(
            select(Message).where(Message.status == "failed").order_by(Message.id).limit(limit)
        )
        return [_stored(row) for row in rows]

    async def count(self, channel: str | None = None) -> int:
        """How many messages are stored (on one channel when given)."""
        query = select(func.count(Message.id))
        if channel is not None:
            query = query.where(Message.channel == channel)
        return int(await self._session.scalar(query) or 0)


def _stored(row: Message) -> StoredMessage:
    return StoredMessage(
        id=row.id,
        conversation_id=row.conversation_id,
        direction=row.direction,
        author=row.author,
        text=row.text,
        button_payload=row.button_payload,
        buttons=row.buttons,
        attachments=row.attachments,
        status=row.status,
        source_id=row.source_id,
        error_code=row.error_code,
        created_at=row.created_at,
        retryable=row.retryable,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
    )


def _reply_from(row: Message) -> Reply:
    """The :class:`Reply` an outgoing row was recorded from (see :meth:`add_outgoing`)."""
    buttons = tuple(
        tuple(Button(b["text"], payload=b.get("payload"), url=b.get("url")) for b in line)
        for line in row.buttons or ()
    )
    image_url = next(
        (item.get("url") for item in row.attachments or () if item.get("type") == "Image"), None
    )
    return Reply(text=row.text, buttons=buttons, image_url=image_url)


def _changed(result: Any) -> int:
    """The rows an UPDATE changed."""
    count: int = result.rowcount
    return count
