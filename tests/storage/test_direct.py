"""Statements run straight on the driver's cursor write and read what SQLAlchemy would.

The journal's hot statements skip SQLAlchemy's execution machinery (``storage.direct``). If a
value went through a different conversion there (a time in another format, JSON encoded
differently, a missing default), history, the retry job and reports, which read through
SQLAlchemy, would see something else than was meant, on one database and not the other.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select
from sqlalchemy.dialects import sqlite

from bots.messages import Button, IncomingMessage, Location, Reply
from storage.database import Database
from storage.direct import DirectStatement
from storage.filing import outgoing_values, write_batch
from storage.models import Conversation, Identity, Message
from storage.records import OutgoingRecord

T0 = datetime(2026, 3, 1, 9, 30, 15, 123456, tzinfo=UTC)


def _message(source_id: str) -> IncomingMessage:
    return IncomingMessage(
        channel="telegram",
        chat_id="42",
        user_id="42",
        text="где ближайший магазин? 🏪",
        display_name="Аня",
        language_code="ru",
        attachments=(Location(latitude=55.75, longitude=37.62),),
        source_id=source_id,
        raw={"update_id": 7, "message": {"text": "где ближайший магазин? 🏪"}},
    )


def _columns(row: Any) -> dict[str, Any]:
    values = dict(row._mapping)
    values.pop("id")
    return values


async def test_the_journal_writes_every_column_as_sqlalchemy_does(database: Database) -> None:
    reply = Reply(
        text="Ближайший магазин — ул. Ленина, 5",
        buttons=((Button(text="Маршрут", url="https://example.com/map"),),),
    )
    async with database.engine.connect() as connection:
        # Filed twice: a first contact (plain SQLAlchemy), then a known shopper (direct).
        await connection.run_sync(write_batch, [(_message("1"), T0)], [])
        (ref,) = await connection.run_sync(write_batch, [(_message("2"), T0)], [])
        record = OutgoingRecord(ref.conversation_id, "telegram", reply, T0, source_id="99")
        await connection.run_sync(write_batch, [], [record])  # direct
        await connection.execute(insert(Message), [outgoing_values(record)])  # SQLAlchemy
        await connection.commit()
        rows = (await connection.execute(select(Message).order_by(Message.id))).all()

    first_in, second_in, direct_out, plain_out = (_columns(row) for row in rows)
    assert second_in == {**first_in, "source_id": "2"}
    assert direct_out == plain_out
    # and what was written reads back as it was given
    assert second_in["created_at"].replace(tzinfo=UTC) == T0
    assert second_in["attachments"] == [
        {"type": "Location", "latitude": 55.75, "longitude": 37.62}
    ]
    assert second_in["raw"] == _message("2").raw
    assert second_in["retryable"] is False
    assert direct_out["buttons"] == [
        [{"text": "Маршрут", "payload": None, "url": "https://example.com/map"}]
    ]


async def test_a_known_shoppers_conversation_is_found_with_its_times(database: Database) -> None:
    # The batch SELECT runs direct: its times must come back as datetimes, its flag a bool.
    async with database.engine.connect() as connection:
        (first,) = await connection.run_sync(write_batch, [(_message("1"), T0)], [])
        (second,) = await connection.run_sync(write_batch, [(_message("2"), T0)], [])
        await connection.commit()
        conversations = (await connection.execute(select(Conversation.id))).scalars().all()
        identities = (await connection.execute(select(Identity.id))).scalars().all()

    assert (second.conversation_id, second.identity_id) == (
        first.conversation_id,
        first.identity_id,
    )
    assert second.message_id is not None
    assert second.message_id > (first.message_id or 0)
    assert second.replies_waiting is False
    assert len(conversations) == len(identities) == 1


async def test_a_batch_rolled_back_leaves_nothing_behind(database: Database) -> None:
    # A known shopper's message goes through the direct INSERT: it must be inside the
    # connection's transaction like any statement, not committed on its own.
    async with database.engine.connect() as connection:
        await connection.run_sync(write_batch, [(_message("1"), T0)], [])
        await connection.commit()
    async with database.engine.connect() as connection:
        await connection.run_sync(write_batch, [(_message("2"), T0)], [])
        await connection.rollback()
        stored = (await connection.execute(select(Message.source_id))).scalars().all()

    assert stored == ["1"]


def test_a_statement_that_relies_on_column_defaults_is_refused() -> None:
    # ``retryable`` and ``attempts`` have Python-side defaults, which only SQLAlchemy's
    # execution fills in: a direct INSERT without them would write NULL.
    with pytest.raises(ValueError, match="retryable, attempts"):
        DirectStatement(insert(Message), sqlite.dialect(), column_keys=["text", "channel"])


def test_an_expanding_in_list_is_refused() -> None:
    statement = select(Message.id).where(Message.id.in_(bindparam("ids", expanding=True)))
    with pytest.raises(ValueError, match="one bind per value"):
        DirectStatement(statement, sqlite.dialect())
