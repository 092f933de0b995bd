"""What a flow is: something that may claim a turn."""

from __future__ import annotations

from abc import ABC, abstractmethod

from dialogs.turn import Turn

__all__ = ["Flow"]


class Flow(ABC):
    """A conversation. The engine offers each turn to the flows in order; the first to claim it
    (return True) answers it."""

    @abstractmethod
    async def handle(self, turn: Turn) -> bool:
        """Answer the turn and return True, or leave it alone and return False."""
