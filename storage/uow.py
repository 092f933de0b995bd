"""The unit of work: one transaction, its repositories, rollback unless committed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bots.messages import IncomingMessage
from storage.cursors import CursorRepository
from storage.customers import CustomerRepository
from storage.faq_records import FaqRecordRepository
from storage.filing import write_batch
from storage.messages import MessageRepository
from storage.records import ConversationRef, OutgoingRecord
from storage.repositories import (
    ConversationRepository,
    FeedbackRepository,
    HandoffRepository,
)

__all__ = ["UnitOfWork"]


class UnitOfWork:
    """``async with db.uow() as uow: ...; await uow.commit()`` — nothing is kept without commit."""

    conversations: ConversationRepository
    customers: CustomerRepository
    faq: FaqRecordRepository
    messages: MessageRepository
    handoffs: HandoffRepository
    feedback: FeedbackRepository
    cursors: CursorRepository

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._session: AsyncSession | None = None

    async def __aenter__(self) -> Self:
        session = self._sessions()
        self._session = session
        self.conversations = ConversationRepository(session)
        self.customers = CustomerRepository(session)
        self.faq = FaqRecordRepository(session)
        self.messages = MessageRepository(session)
        self.handoffs = HandoffRepository(session)
        self.feedback = FeedbackRepository(session)
        self.cursors = CursorRepository(session)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self._require()
        try:
            await session.rollback()
        finally:
            await session.close()
            self._session = None

    async def journal_batch(
        self,
        incoming: Sequence[tuple[IncomingMessage, datetime]],
        outgoing: Sequence[OutgoingRecord],
    ) -> list[ConversationRef]:
        """A group commit's writes in this unit (:func:`storage.filing.write_batch`)."""
        connection = await self._require().connection()
        return await connection.run_sync(write_batch, incoming, outgoing)

    async def commit(self) -> None:
        """Keep everything done in this unit."""
        await self._require().commit()

    def _require(self) -> AsyncSession:
        if self._session is None:
            msg = "use the unit of work inside 'async with'"
            raise RuntimeError(msg)
        return self._session
