"""The state-store interface: a step name and a small data mapping per conversation key.

Deliberately narrow (aiogram's four methods, not a persistence god-object): the engine reads the
state after taking the conversation lock and writes it back before releasing it, so stores need
no transactions of their own. ``load`` and ``save`` are those reads and writes in pairs, which a
store on a server does in one round trip each.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["KeyBuilder", "StateKey", "StateStore"]


@dataclass(frozen=True, slots=True)
class StateKey:
    """Whose state: a user in a chat on a channel. ``destiny`` separates parallel scenarios."""

    channel: str
    chat_id: str
    user_id: str
    destiny: str = "default"


@dataclass(frozen=True, slots=True)
class KeyBuilder:
    """Turns a :class:`StateKey` into a Redis key ``otklik:<part>:<channel>:<chat>:<user>:...``."""

    prefix: str = "otklik"

    def build(self, key: StateKey, part: str) -> str:
        fields = (key.channel, key.chat_id, key.user_id, key.destiny)
        return ":".join((self.prefix, part, *(f.replace(":", "%3A") for f in fields)))


class StateStore(ABC):
    """Per-conversation state: the current step and the flow's data."""

    @abstractmethod
    async def get_state(self, key: StateKey) -> str | None:
        """The step the conversation is at, or None at the top level."""

    @abstractmethod
    async def set_state(self, key: StateKey, state: str | None) -> None:
        """Move the conversation to ``state`` (None: back to the top level)."""

    @abstractmethod
    async def get_data(self, key: StateKey) -> dict[str, Any]:
        """A copy of the flow's data; changing it changes nothing until :meth:`set_data`."""

    @abstractmethod
    async def set_data(self, key: StateKey, data: Mapping[str, Any]) -> None:
        """Replace the flow's data (JSON-serialisable values only)."""

    @abstractmethod
    async def close(self) -> None:
        """Release connections."""

    async def load(self, key: StateKey) -> tuple[str | None, dict[str, Any]]:
        """The step and a copy of the data together: what the engine reads for each message.

        A store on a server overrides this to fetch both in one round trip.
        """
        return await self.get_state(key), await self.get_data(key)

    async def save(self, key: StateKey, state: str | None, data: Mapping[str, Any]) -> None:
        """Write the step and the data together (None / empty clear them), as after a turn.

        A store on a server overrides this to write both in one round trip.
        """
        await self.set_state(key, state)
        await self.set_data(key, data)

    async def update_data(self, key: StateKey, **changes: Any) -> dict[str, Any]:
        """Merge ``changes`` into the data and return the result."""
        data = await self.get_data(key)
        data.update(changes)
        await self.set_data(key, data)
        return data
