"""What the FAQ learns from shoppers: unanswered questions, the suggestions they picked,
and 👍/👎 on answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AnswerRating, SuggestionPick, UnansweredQuestion

__all__ = ["EntryRatings", "FaqRecordRepository", "StoredPick", "StoredQuestion"]


@dataclass(frozen=True, slots=True)
class StoredQuestion:
    """One unanswered question as kept."""

    text: str
    channel: str
    outcome: str
    at: datetime
    suggestions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StoredPick:
    """A suggested entry a shopper tapped, and the question it was suggested for."""

    question: str
    entry_id: str
    at: datetime


@dataclass(frozen=True, slots=True)
class EntryRatings:
    """👍 and 👎 counts of one FAQ entry."""

    entry_id: str
    helpful: int
    unhelpful: int


class FaqRecordRepository:
    """Unanswered questions, suggestion picks and answer ratings."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_unanswered(
        self,
        conversation_id: int,
        channel: str,
        text: str,
        *,
        outcome: str,
        suggestions: Sequence[str],
        now: datetime,
    ) -> None:
        """Keep a question the bot only suggested for, or could not answer."""
        self._session.add(
            UnansweredQuestion(
                conversation_id=conversation_id,
                channel=channel,
                text=text,
                outcome=outcome,
                suggestions=list(suggestions) or None,
                created_at=now,
            )
        )
        await self._session.flush()

    async def add_pick(
        self, conversation_id: int, question: str, entry_id: str, now: datetime
    ) -> None:
        """Keep which suggested entry a shopper tapped for their question."""
        self._session.add(
            SuggestionPick(
                conversation_id=conversation_id,
                question=question,
                entry_id=entry_id,
                created_at=now,
            )
        )
        await self._session.flush()

    async def add_rating(
        self, conversation_id: int, entry_id: str, helpful: bool, now: datetime
    ) -> None:
        """Keep one 👍 or 👎."""
        self._session.add(
            AnswerRating(
                conversation_id=conversation_id, entry_id=entry_id, helpful=helpful, created_at=now
            )
        )
        await self._session.flush()

    async def unanswered_since(self, since: datetime | None) -> list[StoredQuestion]:
        """Unanswered questions, oldest first, from ``since`` on (all when None)."""
        query = select(UnansweredQuestion).order_by(UnansweredQuestion.id)
        if since is not None:
            query = query.where(UnansweredQuestion.created_at >= since)
        rows = await self._session.scalars(query)
        return [
            StoredQuestion(
                r.text, r.channel, r.outcome, r.created_at, tuple(map(str, r.suggestions or ()))
            )
            for r in rows
        ]

    async def picks_since(self, since: datetime | None) -> list[StoredPick]:
        """Suggestion picks, oldest first, from ``since`` on (all when None)."""
        query = select(SuggestionPick).order_by(SuggestionPick.id)
        if since is not None:
            query = query.where(SuggestionPick.created_at >= since)
        rows = await self._session.scalars(query)
        return [StoredPick(r.question, r.entry_id, r.created_at) for r in rows]

    async def ratings_since(self, since: datetime | None) -> list[EntryRatings]:
        """👍/👎 counts per entry, most 👎 first."""
        unhelpful = func.sum(case((AnswerRating.helpful.is_(False), 1), else_=0))
        helpful = func.sum(case((AnswerRating.helpful.is_(True), 1), else_=0))
        query = (
            select(AnswerRating.entry_id, helpful, unhelpful)
            .group_by(AnswerRating.entry_id)
            .order_by(unhelpful.desc(), AnswerRating.entry_id)
        )
        if since is not None:
            query = query.where(AnswerRating.created_at >= since)
        rows = await self._session.execute(query)
        return [EntryRatings(entry, int(yes or 0), int(no or 0)) for entry, yes, no in rows]
