"""The handoff desk: turns a shopper's request for a person into a queued request.

Today it records the request with its time (and its cancellation); the operator queue and
console subscribe here too when they arrive.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from dialogs.bus import EventBus
from dialogs.events import HandoffCancelled, HandoffRequested
from storage.uow import UnitOfWork

__all__ = ["HandoffDesk"]

log = logging.getLogger(__name__)


class HandoffDesk:
    """Keeps handoff requests."""

    def __init__(self, uow: Callable[[], UnitOfWork]) -> None:
        self._uow = uow

    def subscribe(self, bus: EventBus) -> None:
        """Listen for requests and cancellations."""
        bus.subscribe(HandoffRequested, self.on_requested)
        bus.subscribe(HandoffCancelled, self.on_cancelled)

    async def on_requested(self, event: HandoffRequested) -> None:
        async with self._uow() as uow:
            request_id = await uow.handoffs.open(event.conversation_id, event.reason, event.at)
            await uow.commit()
        log.info(
            "handoff request %s queued for conversation %s", request_id, event.conversation_id
        )

    async def on_cancelled(self, event: HandoffCancelled) -> None:
        async with self._uow() as uow:
            await uow.handoffs.cancel(event.conversation_id, event.at)
            await uow.commit()
