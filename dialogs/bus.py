"""A tiny in-process event bus: flows publish, the composition root subscribes handlers."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from dialogs.events import Event

__all__ = ["EventBus"]

E = TypeVar("E", bound=Event)


class EventBus:
    """Calls every handler subscribed to an event's type, in subscription order.

    Handlers run inside the turn, before replies are sent: if recording a handoff request fails,
    the shopper must not be told they are in the queue.
    """

    def __init__(self) -> None:
        self._handlers: defaultdict[type[Any], list[Callable[[Any], Awaitable[None]]]] = (
            defaultdict(list)
        )

    def subscribe(self, event_type: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        """Call ``handler`` for every published event of ``event_type``."""
        self._handlers[event_type].append(handler)

    async def publish(self, event: Event) -> None:
        """Run the handlers of ``event``; the first failure propagates."""
        for handler in self._handlers.get(type(event), ()):
            await handler(event)
