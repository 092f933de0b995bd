"""Event handlers that keep what happened in the database."""

from __future__ import annotations

from collections.abc import Callable

from dialogs.events import FeedbackLeft
from storage.uow import UnitOfWork

__all__ = ["FeedbackRecorder"]


class FeedbackRecorder:
    """Keeps :class:`FeedbackLeft` as a feedback row."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    async def __call__(self, event: FeedbackLeft) -> None:
        async with self._uow() as uow:
            await uow.feedback.add(event.conversation_id, event.text, event.attachments, event.at)
            await uow.commit()
