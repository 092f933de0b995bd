"""Repositories of conversations, handoff requests and feedback; messages are in messages.py."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, and_, bindparam, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bots.messages import Attachment, IncomingMessage
from storage.models import Conversation, Customer, Feedback, HandoffRequest, Identity, Message
from storage.records import ConversationRef, HandoffRecord

__all__ = [
    "ConversationRepository",
    "FeedbackRepository",
    "HandoffRepository",
]


_SEEN_GRANULARITY = timedelta(minutes=1)


@functools.cache
def _open_conversations_query() -> Any:
    """Known shoppers of one channel with their open conversations.

    Built once: building a statement and its cache key cost more than running it on a batch.
    """
    channel: BindParameter[str] = bindparam("channel")
    return (
        select(
            Identity.id,
            Identity.customer_id,
            Identity.user_id,
            Identity.display_name,
            Identity.language_code,
            Identity.last_seen_at,
            Conversation.id,
            Conversation.chat_id,
            Conversation.last_message_at,
            _replies_waiting(),
        )
        .join(
            Conversation,
            and_(
                Conversation.identity_id == Identity.id,
                Conversation.channel == channel,
                Conversation.status == "open",
            ),
        )
        .where(
            Identity.channel == channel, Identity.user_id.in_(bindparam("users", expanding=True))
        )
    )


@functools.cache
def _insert_incoming_query(dialect: str) -> Any:
    """The INSERT of incoming messages that skips redeliveries (built once per dialect)."""
    return (
        _insert_for(dialect)(Message)
        .on_conflict_do_nothing(
            index_elements=["channel", "source_id"], index_where=text("direction = 'in'")
        )
        .returning(Message.id, Message.channel, Message.source_id)
    )


def _insert_for(dialect: str) -> Any:
    """The dialect's INSERT with ``ON CONFLICT`` (SQLite and PostgreSQL both have it)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _upsert_for(session: AsyncSession) -> Any:
    return _insert_for(session.get_bind().dialect.name)


def _attachments_json(attachments: Sequence[Attachment]) -> list[dict[str, Any]] | None:
    if not attachments:
        return None
    return [{"type": type(item).__name__, **dataclasses.asdict(item)} for item in attachments]


_TEXT_FIELDS = ("text", "button_payload", "deeplink_payload", "display_name")


def _storable(message: IncomingMessage) -> IncomingMessage:
    """``message`` with NUL characters shown as U+FFFD: PostgreSQL refuses NUL in text.

    A shopper (or a broken client) can send one; the message must be kept all the same, and the
    same way on every database. ``raw`` stays as received (JSON escapes NUL).
    """
    changes: dict[str, Any] = {
        name: value.replace("\x00", "\ufffd")
        for name in _TEXT_FIELDS
        if isinstance(value := getattr(message, name), str) and "\x00" in value
    }
    return dataclasses.replace(message, **changes) if changes else message


@dataclasses.dataclass(frozen=True, slots=True)
class _Known:
    """A known shopper's identity and open conversation, as the batch SELECT found them."""

    identity_id: int
    customer_id: int
    conversation_id: int
    seen: tuple[str | None, str | None, datetime]  # display name, language, last_seen_at
    last_message_at: datetime
    replies_waiting: bool


def _replies_waiting() -> Any:
    """Whether the conversation has a reply waiting for the retry job (a correlated EXISTS)."""
    return (
        select(Message.id)
        .where(Message.conversation_id == Conversation.id, Message.next_attempt_at.is_not(None))
        .exists()
        .label("waiting")
    )


def _incoming_values(
    conversation_id: int, message: IncomingMessage, now: datetime
) -> dict[str, Any]:
    return {
        "conversation_id": conversation_id,
        "channel": message.channel,
        "direction": "in",
        "author": "customer",
        "text": message.text,
        "button_payload": message.button_payload,
        "attachments": _attachments_json(message.attachments),
        "source_id": message.source_id,
        "status": "received",
        "raw": dict(message.raw) or None,
        "created_at": now,
    }


class ConversationRepository:
    """Customers, their channel identities and their conversations."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def file_incoming(self, message: IncomingMessage, now: datetime) -> ConversationRef:
        """Store ``message`` in its open conversation, creating the customer and conversation.

        A message whose platform ``source_id`` was stored before is a redelivery: nothing is
        written and the returned reference has no ``message_id``. In the common case (a known
        shopper in an open conversation) this is two statements: one SELECT of the identity
        with its open conversation and the INSERT (``ON CONFLICT DO NOTHING`` on the source id
        does the duplicate check). ``last_seen_at`` and ``last_message_at`` are kept to the
        minute, so most messages of a chat write neither.
        """
        found = (
            await self._session.execute(
                select(
                    Identity.id,
                    Identity.customer_id,
                    Identity.display_name,
                    Identity.language_code,
                    Identity.last_seen_at,
                    Conversation.id,
                    Conversation.last_message_at,
                    _replies_waiting(),
                )
                .outerjoin(
                    Conversation,
                    and_(
                        Conversation.identity_id == Identity.id,
                        Conversation.channel == message.channel,
                        Conversation.chat_id == message.chat_id,
                        Conversation.status == "open",
                    ),
                )
                .where(Identity.channel == message.channel, Identity.user_id == message.user_id)
                .order_by(Conversation.id.desc())
                .limit(1)
            )
        ).first()
        last: datetime | None = None
        waiting = False
        if found is None:
            identity_id, customer_id = await self._new_identity(message, now)
            conversation_id = None
        else:
            identity_id, customer_id, name, language, last_seen, conversation_id, last, waiting = (
                found
            )
            await self._touch_identity(identity_id, message, (name, language, last_seen), now)
        fresh = conversation_id is None
        if conversation_id is None:
            conversation_id = await self._new_conversation(identity_id, message, now)
        ref = ConversationRef(
            customer_id, identity_id, conversation_id, None, replies_waiting=bool(waiting)
        )
        message_id = await self._insert_incoming(conversation_id, message, now)
        if message_id is None:
            return ref
        if not fresh and last is not None and now - last >= _SEEN_GRANULARITY:
            await self._session.execute(
                update(Conversation)
                .where(Conversation.id == conversation_id)
                .values(last_message_at=now)
            )
        return dataclasses.replace(ref, message_id=message_id)

    async def file_incoming_many(
        self, items: Sequence[tuple[IncomingMessage, datetime]]
    ) -> list[ConversationRef]:
        """Store many messages at once (a group commit), in order; refs in the same order.

        Same outcome as :meth:`file_incoming` for each message, in far fewer statements: one
        SELECT per channel finds every known shopper's open conversation, one executemany
        INSERT stores their messages (``ON CONFLICT DO NOTHING`` on the source id still spots a
        redelivery, also within the batch); ``last_message_at`` and ``last_seen_at`` move when
        a minute old, as in :meth:`file_incoming`. A first contact (no identity or no open
        conversation yet) takes :meth:`file_incoming`. Runs of consecutive messages are
        written in arrival order, so ids keep each chat's order.
        """
        items = [(_storable(message), now) for message, now in items]
        known = await self._open_conversations({m.channel for m, _ in items}, items)
        refs: list[ConversationRef] = []
        run: list[tuple[IncomingMessage, datetime, _Known]] = []
        run_keyed: bool | None = None
        for message, now in items:
            hit = known.get((message.channel, message.user_id, message.chat_id))
            keyed = message.source_id is not None
            if run and (hit is None or keyed != run_keyed):
                refs.extend(await self._insert_run(run))
                run = []
            if hit is None:
                refs.append(await self.file_incoming(message, now))
                continue
            run.append((message, now, hit))
            run_keyed = keyed
        if run:
            refs.extend(await self._insert_run(run))
        return refs

    async def _open_conversations(
        self, channels: set[str], items: Sequence[tuple[IncomingMessage, datetime]]
    ) -> dict[tuple[str, str, str], _Known]:
        known: dict[tuple[str, str, str], _Known] = {}
        connection = await self._session.connection()  # Core: no ORM work for plain rows
        for channel in sorted(channels):
            users = sorted({m.user_id for m, _ in items if m.channel == channel})
            rows = await connection.execute(
                _open_conversations_query(), {"channel": channel, "users": users}
            )
            for row in rows:
                identity_id, customer, user, name, language, seen, conversation, chat = row[:8]
                known[(channel, user, chat)] = _Known(
                    identity_id,
                    customer,
                    conversation,
                    (name, language, seen),
                    row.last_message_at,
                    bool(row.waiting),
                )
        return known

    async def _insert_run(
        self, run: Sequence[tuple[IncomingMessage, datetime, _Known]]
    ) -> list[ConversationRef]:
        """Insert consecutive messages of known conversations; all with source ids or none."""
        keyed = run[0][0].source_id is not None
        first_of: dict[tuple[str, str | None], int] = {}
        rows: list[dict[str, Any]] = []
        for index, (message, now, hit) in enumerate(run):
            key = (message.channel, message.source_id)
            if keyed and key in first_of:
                continue  # the same event twice in one batch: the second is a redelivery
            first_of[key] = index
            rows.append(_incoming_values(hit.conversation_id, message, now))
        connection = await self._session.connection()
        ids: dict[int, int] = {}
        if keyed:
            statement = _insert_incoming_query(connection.dialect.name)
            for message_id, channel, source_id in await connection.execute(statement, rows):
                ids[first_of[(channel, source_id)]] = message_id
        else:
            insert = _upsert_for(self._session)(Message)
            statement = insert.returning(Message.id, sort_by_parameter_order=True)
            returned = (await connection.execute(statement, rows)).scalars().all()
            ids = dict(enumerate(returned))
        touched: dict[int, tuple[IncomingMessage, datetime, _Known]] = {}
        for index, (message, now, hit) in enumerate(run):
            if index in ids:
                touched[hit.identity_id] = (message, now, hit)
        for message, now, hit in touched.values():
            await self._touch_identity(hit.identity_id, message, hit.seen, now)
        latest = max((run[i][1] for i in ids), default=None)
        conversations = sorted(
            {
                run[i][2].conversation_id
                for i in ids
                if latest is not None and latest - run[i][2].last_message_at >= _SEEN_GRANULARITY
            }
        )
        if conversations:
            await connection.execute(
                update(Conversation)
                .where(Conversation.id.in_(conversations))
                .values(last_message_at=latest)
            )
        return [
            ConversationRef(
                hit.customer_id,
                hit.identity_id,
                hit.conversation_id,
                ids.get(index),
                replies_waiting=hit.replies_waiting,
            )
            for index, (_, _, hit) in enumerate(run)
        ]

    async def _new_identity(self, message: IncomingMessage, now: datetime) -> tuple[int, int]:
        # Two first messages of one shopper can arrive at once (webhooks run in parallel, in
        # several workers): the identity's unique key decides, and the loser's customer row is
        # removed again instead of failing the message.
        customer = Customer(display_name=message.display_name, created_at=now)
        self._session.add(customer)
        await self._session.flush()
        statement = (
            _upsert_for(self._session)(Identity)
            .values(
                customer_id=customer.id,
                channel=message.channel,
                user_id=message.user_id,
                display_name=message.display_name,
                language_code=message.language_code,
                created_at=now,
                last_seen_at=now,
            )
            .on_conflict_do_nothing(index_elements=["channel", "user_id"])
            .returning(Identity.id)
        )
        identity_id = await self._session.scalar(statement)
        if identity_id is not None:
            return identity_id, customer.id
        await self._session.delete(customer)
        existing = (
            await self._session.execute(
                select(Identity.id, Identity.customer_id).where(
                    Identity.channel == message.channel, Identity.user_id == message.user_id
                )
            )
        ).one()
        return existing[0], existing[1]

    async def _touch_identity(
        self,
        identity_id: int,
        message: IncomingMessage,
        known: tuple[str | None, str | None, datetime],
        now: datetime,
    ) -> None:
        # Written only when something changed or last_seen_at is over a minute old: most
        # messages of a chat then cost no UPDATE here.
        name, language, last_seen = known
        changes: dict[str, object] = {}
        if message.display_name and message.display_name != name:
            changes["display_name"] = message.display_name
        if message.language_code and message.language_code != language:
            changes["language_code"] = message.language_code
        if changes or now - last_seen > _SEEN_GRANULARITY:
            await self._session.execute(
                update(Identity)
                .where(Identity.id == identity_id)
                .values(last_seen_at=now, **changes)
            )

    async def _new_conversation(
        self, identity_id: int, message: IncomingMessage, now: datetime
    ) -> int:
        # One open conversation per identity and chat, even when two messages race to open it.
        statement = (
            _upsert_for(self._session)(Conversation)
            .values(
                identity_id=identity_id,
                channel=message.channel,
                chat_id=message.chat_id,
                status="open",
                entry_payload=message.deeplink_payload,
                opened_at=now,
                last_message_at=now,
            )
            .on_conflict_do_nothing(
                index_elements=["identity_id", "channel", "chat_id"],
                index_where=text("status = 'open'"),
            )
            .returning(Conversation.id)
        )
        conversation_id = await self._session.scalar(statement)
        if conversation_id is not None:
            return int(conversation_id)
        existing = await self._session.scalar(
            select(Conversation.id).where(
                Conversation.identity_id == identity_id,
                Conversation.channel == message.channel,
                Conversation.chat_id == message.chat_id,
                Conversation.status == "open",
            )
        )
        if existing is None:
            msg = "an open conversation conflicted but cannot be found"
            raise RuntimeError(msg)
        return existing

    async def _insert_incoming(
        self, conversation_id: int, message: IncomingMessage, now: datetime
    ) -> int | None:
        connection = await self._session.connection()
        statement = _insert_incoming_query(connection.dialect.name)
        row = (
            await connection.execute(statement, _incoming_values(conversation_id, message, now))
        ).first()
        return None if row is None else int(row.id)

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
        """Queue a request unless one is already waiting; returns the waiting request's id."""
        active = await self.active_for(conversation_id)
        if active is not None:
            return active.id
        row = HandoffRequest(
            conversation_id=conversation_id, status="waiting", reason=reason, requested_at=now
        )
        self._session.add(row)
        await self._session.flush()
        return row.id

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
            attachments=_attachments_json(attachments),
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
