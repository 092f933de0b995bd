"""Filing shopper messages and recording replies: the SQL of the message journal.

Plain synchronous SQLAlchemy Core over a :class:`~sqlalchemy.engine.Connection`, so that one
implementation runs two ways:

* on SQLite the journal's own thread runs a whole group commit in one call, on a connection of
  its own (:mod:`storage.sqlite`). sqlite3 is synchronous: through aiosqlite every
  statement was four hand-offs to its thread and back (about 19 per batch), and those hand-offs
  plus SQLAlchemy's async layer cost the event loop more than the statements themselves;
* on PostgreSQL the repositories run it through ``AsyncConnection.run_sync`` (asyncpg).

In the common case (a known shopper in an open conversation) a batch is one SELECT of the open
conversations, one INSERT of the messages and one of the replies; those three are compiled once
and run straight on the driver's cursor (:mod:`storage.direct`), the rest through SQLAlchemy.
``last_seen_at`` and ``last_message_at`` are kept to the minute, so most messages write neither.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BindParameter, and_, bindparam, delete, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect

from bots.messages import Attachment, IncomingMessage, Reply
from storage.direct import DirectStatement
from storage.models import Conversation, Customer, Identity, Message
from storage.records import ConversationRef, OutgoingRecord

__all__ = [
    "attachments_json",
    "file_messages",
    "on_conflict_insert",
    "outgoing_values",
    "record_replies",
    "reply_columns",
    "write_batch",
]

_SEEN_GRANULARITY = timedelta(minutes=1)


def _length(column: Any) -> int:
    """The size of a ``String(n)`` column of the models."""
    size: int = column.property.columns[0].type.length
    return size


_CLIPPED = {
    "display_name": _length(Identity.display_name),
    "language_code": _length(Identity.language_code),
    "button_payload": _length(Message.button_payload),
    "deeplink_payload": _length(Conversation.entry_payload),
}

Incoming = tuple[IncomingMessage, datetime]


def write_batch(
    connection: Connection, incoming: Sequence[Incoming], outgoing: Sequence[OutgoingRecord]
) -> list[ConversationRef]:
    """One group commit's work (the caller commits): replies recorded, messages filed.

    Replies go first: a reply in the batch was sent before any message in the same batch from
    its shopper arrived (that message answers it or crossed it), so the ids keep the order a
    chat was read in.
    """
    record_replies(connection, outgoing)
    return file_messages(connection, incoming) if incoming else []


def record_replies(connection: Connection, records: Sequence[OutgoingRecord]) -> None:
    """Record replies (sent or refused) in one executemany; their ids are not needed."""
    if records:
        _insert_reply(connection.dialect).execute_many(
            connection, [outgoing_values(r) for r in records]
        )


def file_messages(connection: Connection, items: Sequence[Incoming]) -> list[ConversationRef]:
    """Store shopper messages in their open conversations, in order; refs in the same order.

    Creates the customer, identity and conversation on first contact. A message whose platform
    ``source_id`` was stored before (or earlier in the same batch) is a redelivery: nothing is
    written and its ref has no ``message_id``. Runs of consecutive messages of known
    conversations are inserted together in arrival order, so ids keep each chat's order.
    """
    items = [(_storable(message), now) for message, now in items]
    known = _open_conversations(connection, items)
    refs: list[ConversationRef] = []
    run: list[tuple[IncomingMessage, datetime, _Known]] = []
    run_keyed: bool | None = None
    for message, now in items:
        hit = known.get((message.channel, message.user_id, message.chat_id))
        keyed = message.source_id is not None
        if run and (hit is None or keyed != run_keyed):
            refs.extend(_insert_run(connection, run))
            run = []
        if hit is None:
            refs.append(_file_first_contact(connection, message, now))
            continue
        run.append((message, now, hit))
        run_keyed = keyed
    if run:
        refs.extend(_insert_run(connection, run))
    return refs


@dataclasses.dataclass(frozen=True, slots=True)
class _Known:
    """A known shopper's identity and open conversation, as the batch SELECT found them."""

    identity_id: int
    customer_id: int
    conversation_id: int
    seen: tuple[str | None, str | None, datetime]  # display name, language, last_seen_at
    last_message_at: datetime
    replies_waiting: bool


def _open_conversations(
    connection: Connection, items: Sequence[Incoming]
) -> dict[tuple[str, str, str], _Known]:
    known: dict[tuple[str, str, str], _Known] = {}
    for channel in sorted({m.channel for m, _ in items}):
        users = sorted({m.user_id for m, _ in items if m.channel == channel})
        values: dict[str, Any] = {"channel": channel}
        values.update((f"user_{i}", user) for i, user in enumerate(users))
        rows = _open_conversations_query(connection.dialect, len(users)).execute(
            connection, values
        )
        for row in rows:
            (
                identity_id,
                customer,
                user,
                name,
                language,
                seen,
                conversation,
                chat,
                last,
                waiting,
            ) = row
            known[(channel, user, chat)] = _Known(
                identity_id, customer, conversation, (name, language, seen), last, bool(waiting)
            )
    return known


def _insert_run(
    connection: Connection, run: Sequence[tuple[IncomingMessage, datetime, _Known]]
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
    ids: dict[int, int] = {}
    if keyed:
        values = {f"{key}_{i}": value for i, row in enumerate(rows) for key, value in row.items()}
        inserted = _insert_incoming_rows(connection.dialect, len(rows)).execute(connection, values)
        for message_id, channel, source_id in inserted:
            ids[first_of[(channel, source_id)]] = message_id
    else:
        statement = insert(Message).returning(Message.id, sort_by_parameter_order=True)
        ids = dict(enumerate(connection.execute(statement, rows).scalars().all()))
    touched: dict[int, tuple[IncomingMessage, datetime, _Known]] = {}
    for index, (message, now, hit) in enumerate(run):
        if index in ids:
            touched[hit.identity_id] = (message, now, hit)
    for message, now, hit in touched.values():
        _touch_identity(connection, hit.identity_id, message, hit.seen, now)
    latest = max((run[i][1] for i in ids), default=None)
    conversations = sorted(
        {
            run[i][2].conversation_id
            for i in ids
            if latest is not None and latest - run[i][2].last_message_at >= _SEEN_GRANULARITY
        }
    )
    if conversations:
        connection.execute(
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


def _file_first_contact(
    connection: Connection, message: IncomingMessage, now: datetime
) -> ConversationRef:
    """A message with no open conversation yet: a new shopper, or a new chat of a known one."""
    found = connection.execute(
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
    ).first()
    last: datetime | None = None
    waiting = False
    if found is None:
        identity_id, customer_id = _new_identity(connection, message, now)
        conversation_id = None
    else:
        identity_id, customer_id, name, language, last_seen, conversation_id, last, waiting = found
        _touch_identity(connection, identity_id, message, (name, language, last_seen), now)
    fresh = conversation_id is None
    if conversation_id is None:
        conversation_id = _new_conversation(connection, identity_id, message, now)
    ref = ConversationRef(
        customer_id, identity_id, conversation_id, None, replies_waiting=bool(waiting)
    )
    statement = _insert_incoming_query(connection.dialect.name)
    row = connection.execute(statement, _incoming_values(conversation_id, message, now)).first()
    if row is None:
        return ref
    if not fresh and last is not None and now - last >= _SEEN_GRANULARITY:
        connection.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id)
            .values(last_message_at=now)
        )
    return dataclasses.replace(ref, message_id=int(row.id))


def _new_identity(
    connection: Connection, message: IncomingMessage, now: datetime
) -> tuple[int, int]:
    # Two first messages of one shopper can arrive at once (webhooks run in parallel, in
    # several workers): the identity's unique key decides, and the loser's customer row is
    # removed again instead of failing the message.
    customer_id: int = connection.execute(
        insert(Customer)
        .values(display_name=message.display_name, created_at=now)
        .returning(Customer.id)
    ).scalar_one()
    identity_id = connection.execute(
        on_conflict_insert(connection.dialect.name)(Identity)
        .values(
            customer_id=customer_id,
            channel=message.channel,
            user_id=message.user_id,
            display_name=message.display_name,
            language_code=message.language_code,
            created_at=now,
            last_seen_at=now,
        )
        .on_conflict_do_nothing(index_elements=["channel", "user_id"])
        .returning(Identity.id)
    ).scalar()
    if identity_id is not None:
        return identity_id, customer_id
    connection.execute(delete(Customer).where(Customer.id == customer_id))
    existing = connection.execute(
        select(Identity.id, Identity.customer_id).where(
            Identity.channel == message.channel, Identity.user_id == message.user_id
        )
    ).one()
    return existing[0], existing[1]


def _touch_identity(
    connection: Connection,
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
        connection.execute(
            update(Identity).where(Identity.id == identity_id).values(last_seen_at=now, **changes)
        )


def _new_conversation(
    connection: Connection, identity_id: int, message: IncomingMessage, now: datetime
) -> int:
    # One open conversation per identity and chat, even when two messages race to open it.
    conversation_id = connection.execute(
        on_conflict_insert(connection.dialect.name)(Conversation)
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
    ).scalar()
    if conversation_id is not None:
        return int(conversation_id)
    existing = connection.execute(
        select(Conversation.id).where(
            Conversation.identity_id == identity_id,
            Conversation.channel == message.channel,
            Conversation.chat_id == message.chat_id,
            Conversation.status == "open",
        )
    ).scalar()
    if existing is None:
        msg = "an open conversation conflicted but cannot be found"
        raise RuntimeError(msg)
    return int(existing)


@functools.lru_cache(maxsize=512)
def _open_conversations_query(dialect: Dialect, users: int) -> DirectStatement:
    """Known shoppers of one channel (``users`` of them) with their open conversations.

    Compiled once per dialect and number of shoppers, and run straight on the cursor
    (:mod:`storage.direct`): this and the two INSERTs below are every group commit's work.
    """
    channel: BindParameter[str] = bindparam("channel", type_=Identity.channel.type)
    users_in = [bindparam(f"user_{i}", type_=Identity.user_id.type) for i in range(users)]
    statement = (
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
        .where(Identity.channel == channel, Identity.user_id.in_(users_in))
    )
    return DirectStatement(statement, dialect)


@functools.lru_cache(maxsize=512)
def _insert_incoming_rows(dialect: Dialect, rows: int) -> DirectStatement:
    """The INSERT of ``rows`` incoming messages that skips redeliveries, in one statement.

    Values are named ``<column>_<row>``; it returns (id, channel, source_id) of the rows it
    wrote, so redeliveries are the ones missing.
    """
    table = Message.__table__
    statement = (
        on_conflict_insert(dialect.name)(Message)
        .values(
            [
                {key: bindparam(f"{key}_{i}", type_=table.c[key].type) for key in _INCOMING_KEYS}
                for i in range(rows)
            ]
        )
        .on_conflict_do_nothing(
            index_elements=["channel", "source_id"], index_where=text("direction = 'in'")
        )
        .returning(Message.id, Message.channel, Message.source_id)
    )
    return DirectStatement(statement, dialect)


@functools.lru_cache(maxsize=64)
def _insert_reply(dialect: Dialect) -> DirectStatement:
    """The INSERT of one recorded reply (run once per reply, in one executemany)."""
    return DirectStatement(insert(Message), dialect, column_keys=_OUTGOING_KEYS)


@functools.cache
def _insert_incoming_query(dialect: str) -> Any:
    """The INSERT of incoming messages that skips redeliveries (built once per dialect)."""
    return (
        on_conflict_insert(dialect)(Message)
        .on_conflict_do_nothing(
            index_elements=["channel", "source_id"], index_where=text("direction = 'in'")
        )
        .returning(Message.id, Message.channel, Message.source_id)
    )


def on_conflict_insert(dialect: str) -> Any:
    """The dialect's INSERT, which has ``ON CONFLICT`` (SQLite and PostgreSQL both do)."""
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _replies_waiting() -> Any:
    """Whether the conversation has a reply waiting for the retry job (a correlated EXISTS)."""
    return (
        select(Message.id)
        .where(Message.conversation_id == Conversation.id, Message.next_attempt_at.is_not(None))
        .exists()
        .label("waiting")
    )


def _storable(message: IncomingMessage) -> IncomingMessage:
    """``message`` with its shopper-chosen short fields cut to their columns' sizes.

    A client can send a payload or a language code of any length; PostgreSQL refuses one longer
    than its column, SQLite does not, and the message must be kept all the same, the same way
    on both. ``raw`` keeps the whole. (NUL and lone surrogates never get this far: see
    ``IncomingMessage``.)
    """
    changes: dict[str, Any] = {
        name: value[:size]
        for name, size in _CLIPPED.items()
        if isinstance(value := getattr(message, name), str) and len(value) > size
    }
    return dataclasses.replace(message, **changes) if changes else message


def attachments_json(attachments: Sequence[Attachment]) -> list[dict[str, Any]] | None:
    """Attachments as stored in JSON columns (type name plus fields), None when there are none."""
    if not attachments:
        return None
    return [{"type": type(item).__name__, **dataclasses.asdict(item)} for item in attachments]


_INCOMING_KEYS = (
    "conversation_id",
    "channel",
    "direction",
    "author",
    "text",
    "button_payload",
    "attachments",
    "source_id",
    "status",
    "retryable",
    "attempts",
    "raw",
    "created_at",
)
"""The columns of :func:`_incoming_values`, in order (the batch INSERT names them)."""

_OUTGOING_KEYS = (
    "conversation_id",
    "channel",
    "direction",
    "author",
    "text",
    "buttons",
    "attachments",
    "button_payload",
    "source_id",
    "status",
    "error_code",
    "error_description",
    "retryable",
    "attempts",
    "next_attempt_at",
    "send_key",
    "created_at",
)
"""The columns of :func:`outgoing_values` (the replies' INSERT names them)."""


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
        "attachments": attachments_json(message.attachments),
        "source_id": message.source_id,
        "status": "received",
        "retryable": False,
        "attempts": 0,
        "raw": dict(message.raw) or None,
        "created_at": now,
    }


def outgoing_values(record: OutgoingRecord) -> dict[str, Any]:
    """The row of a recorded reply (shared by the batch path and the repository's own add)."""
    waits = record.error_code is not None and record.retryable
    return {
        "conversation_id": record.conversation_id,
        "channel": record.channel,
        "direction": "out",
        "author": record.author,
        **reply_columns(record.reply),
        "button_payload": None,
        "source_id": record.source_id,
        "status": "failed" if record.error_code else "sent",
        "error_code": record.error_code,
        "error_description": record.error_description,
        "retryable": waits,
        "attempts": 1 if record.attempted else 0,
        "next_attempt_at": record.created_at if waits else None,
        "send_key": record.send_key,
        "created_at": record.created_at,
    }


def reply_columns(reply: Reply) -> dict[str, Any]:
    """The columns that hold a reply's content: its text, buttons and picture."""
    return {
        "text": reply.text,
        "buttons": _buttons_json(reply),
        "attachments": [{"type": "Image", "url": reply.image_url}] if reply.image_url else None,
    }


def _buttons_json(reply: Reply) -> list[list[dict[str, str | None]]] | None:
    rows = [
        [{"text": b.text, "payload": b.payload, "url": b.url} for b in row]
        for row in reply.buttons
    ]
    return rows or None
