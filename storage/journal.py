"""The message journal: every message in and out, written in group commits.

Every shopper message must be committed before the bot replies, and every reply is recorded.
One transaction per write made the transaction itself the bottleneck: with SQLAlchemy and the
async drivers, BEGIN … COMMIT costs about a millisecond of CPU however little it holds (and on
PostgreSQL each COMMIT waits for its WAL flush). So writes that arrive while a transaction is
being written wait for the next one and go in together, as PostgreSQL's own group commit does:
one SELECT, one INSERT and one COMMIT for a batch of messages. Nobody waits for a timer: a write
arriving at a quiet moment is written at once, alone; under load the batches grow by themselves.
Each caller still gets its own answer only after its write is committed.

If a batch's transaction fails, its writes are tried again one by one, so one write the
database refuses fails alone and never takes the others in its batch down with it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

from bots.messages import IncomingMessage
from storage.records import ConversationRef, OutgoingRecord
from storage.uow import UnitOfWork

__all__ = ["BatchWriter", "GroupCommit", "MessageJournal", "UnitOfWorkWriter"]

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class GroupCommit(Generic[T, R]):
    """Collects writes and hands them to ``write`` in batches, one batch at a time.

    ``write(batch)`` returns one result or exception per item, in order. The writing runs in a
    task of its own, so a caller that gives up waiting (a cancelled request) does not stop the
    batch the others are waiting on.
    """

    def __init__(
        self, write: Callable[[list[T]], Awaitable[list[R | Exception]]], *, max_batch: int = 64
    ) -> None:
        self._write = write
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._closed = False

    async def submit(self, item: T) -> R:
        """Write ``item`` with whatever else is waiting; returns once it is committed."""
        if self._closed:
            msg = "the journal is closed"
            raise RuntimeError(msg)
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._writer is None:
            self._writer = asyncio.create_task(self._drain(), name="group-commit")
        return await asyncio.shield(future)

    async def aclose(self) -> None:
        """Refuse new writes and wait until the ones already submitted are written."""
        self._closed = True
        if self._writer is not None:
            await self._writer

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    results = await self._write([item for item, _ in batch])
                except Exception as exc:  # a bug in write(): every waiter hears of it
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, Exception):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._writer = None
            for _, future in self._pending:  # only if this task itself was cancelled
                if not future.done():
                    future.set_exception(RuntimeError("the journal stopped before writing"))
            self._pending.clear()


class BatchWriter(Protocol):
    """Writes one group commit: replies recorded, messages filed, all in one transaction."""

    async def write(
        self,
        incoming: Sequence[tuple[IncomingMessage, datetime]],
        outgoing: Sequence[OutgoingRecord],
    ) -> list[ConversationRef]:
        """Refs of ``incoming`` in order; returns once everything is committed."""
        ...

    async def aclose(self) -> None:
        """Release what the writer holds (at shutdown)."""
        ...


class UnitOfWorkWriter:
    """A group commit through a unit of work (PostgreSQL; SQLite has its own thread)."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    async def write(
        self,
        incoming: Sequence[tuple[IncomingMessage, datetime]],
        outgoing: Sequence[OutgoingRecord],
    ) -> list[ConversationRef]:
        async with self._uow() as uow:
            refs = await uow.journal_batch(incoming, outgoing)
            await uow.commit()
        return refs

    async def aclose(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class _Incoming:
    message: IncomingMessage
    now: datetime


@dataclass(frozen=True, slots=True)
class _Outgoing:
    records: Sequence[OutgoingRecord]


_Write = _Incoming | _Outgoing


class MessageJournal:
    """Files incoming messages and records replies, in group commits (see the module doc)."""

    def __init__(self, writer: BatchWriter, *, max_batch: int = 64) -> None:
        self._writer = writer
        self._group: GroupCommit[_Write, ConversationRef | None] = GroupCommit(
            self._write, max_batch=max_batch
        )

    async def file_incoming(self, message: IncomingMessage, now: datetime) -> ConversationRef:
        """Store a shopper's message in its open conversation; returns once it is committed.

        Creates the customer, identity and conversation on first contact; a redelivered
        platform event comes back with ``duplicate`` set and is not stored twice.
        """
        ref = await self._group.submit(_Incoming(message, now))
        if ref is None:  # pragma: no cover - an incoming write always has a ref
            msg = "an incoming message was written without a conversation"
            raise RuntimeError(msg)
        return ref

    async def record_outgoing(self, records: Sequence[OutgoingRecord]) -> None:
        """Record replies (sent or refused); returns once they are committed."""
        if records:
            await self._group.submit(_Outgoing(tuple(records)))

    async def aclose(self) -> None:
        """Write what is waiting and accept nothing more (at shutdown)."""
        await self._group.aclose()

    async def _write(self, batch: list[_Write]) -> list[ConversationRef | Exception | None]:
        try:
            return await self._write_together(batch)
        except Exception as exc:
            if len(batch) == 1:
                return [exc]
            log.warning(
                "a group commit of %d writes failed (%s); writing them one by one",
                len(batch),
                exc.__class__.__name__,
            )
        results: list[ConversationRef | Exception | None] = []
        for item in batch:
            try:
                results.extend(await self._write_together([item]))
            except Exception as exc:
                log.exception("a message could not be stored")
                results.append(exc)
        return results

    async def _write_together(
        self, batch: list[_Write]
    ) -> list[ConversationRef | Exception | None]:
        incoming = [(item.message, item.now) for item in batch if isinstance(item, _Incoming)]
        outgoing = [r for item in batch if isinstance(item, _Outgoing) for r in item.records]
        refs = iter(await self._writer.write(incoming, outgoing))
        return [next(refs) if isinstance(item, _Incoming) else None for item in batch]
