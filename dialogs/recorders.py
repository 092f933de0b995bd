"""Event handlers that keep what happened in the database."""

from __future__ import annotations

from collections.abc import Callable

from dialogs.bus import EventBus
from dialogs.events import (
    AnswerRated,
    FeedbackLeft,
    PhoneShared,
    QuestionUnanswered,
    SuggestionPicked,
)
from storage.uow import UnitOfWork

__all__ = ["Recorders"]


class Recorders:
    """Keeps feedback, unanswered questions, suggestion picks, answer ratings and shared phones."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    def subscribe(self, bus: EventBus) -> None:
        """Listen for every event this class keeps."""
        bus.subscribe(FeedbackLeft, self.feedback_left)
        bus.subscribe(QuestionUnanswered, self.question_unanswered)
        bus.subscribe(SuggestionPicked, self.suggestion_picked)
        bus.subscribe(AnswerRated, self.answer_rated)
        bus.subscribe(PhoneShared, self.phone_shared)

    async def feedback_left(self, event: FeedbackLeft) -> None:
        async with self._uow() as uow:
            await uow.feedback.add(event.conversation_id, event.text, event.attachments, event.at)
            await uow.commit()

    async def question_unanswered(self, event: QuestionUnanswered) -> None:
        async with self._uow() as uow:
            await uow.faq.add_unanswered(
                event.conversation_id,
                event.channel,
                event.text,
                outcome=event.outcome,
                suggestions=event.suggestions,
                now=event.at,
            )
            await uow.commit()

    async def suggestion_picked(self, event: SuggestionPicked) -> None:
        async with self._uow() as uow:
            await uow.faq.add_pick(event.conversation_id, event.question, event.entry_id, event.at)
            await uow.commit()

    async def answer_rated(self, event: AnswerRated) -> None:
        async with self._uow() as uow:
            await uow.faq.add_rating(
                event.conversation_id, event.entry_id, event.helpful, event.at
            )
            await uow.commit()

    async def phone_shared(self, event: PhoneShared) -> None:
        async with self._uow() as uow:
            await uow.customers.link_phone(event.channel, event.user_id, event.phone, event.at)
            await uow.commit()
