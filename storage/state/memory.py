"""The default state store: a dict in this process."""

from __future__ import annotations

import copy
import logging
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from storage.state.base import StateKey, StateStore

__all__ = ["MemoryStateStore"]

log = logging.getLogger(__name__)


class MemoryStateStore(StateStore):
    """Keeps state in this process.

    Fine for one process; state is **lost on restart** and not shared between workers, so
    conversations mid-flow go back to the menu after a restart. Set ``REDIS_URL`` to keep it.
    Where the Redis twin lets idle state expire (``redis.state_ttl``), this one keeps the
    ``max_conversations`` most recently used and forgets the rest, so a long-running bot does
    not grow with every shopper who ever left a flow half-way; a forgotten one starts over at
    the menu, as after a restart.
    """

    def __init__(self, *, max_conversations: int = 100_000) -> None:
        self._max = max_conversations
        self._states: OrderedDict[StateKey, str] = OrderedDict()
        self._data: OrderedDict[StateKey, dict[str, Any]] = OrderedDict()

    async def get_state(self, key: StateKey) -> str | None:
        state = self._states.get(key)
        if state is not None:
            self._states.move_to_end(key)
        return state

    async def set_state(self, key: StateKey, state: str | None) -> None:
        if state is None:
            self._states.pop(key, None)
        else:
            self._states[key] = state
            self._states.move_to_end(key)
            self._forget_oldest(self._states)

    async def get_data(self, key: StateKey) -> dict[str, Any]:
        data = self._data.get(key)
        if data is None:
            return {}
        self._data.move_to_end(key)
        return copy.deepcopy(data)

    async def set_data(self, key: StateKey, data: Mapping[str, Any]) -> None:
        if data:
            self._data[key] = copy.deepcopy(dict(data))
            self._data.move_to_end(key)
            self._forget_oldest(self._data)
        else:
            self._data.pop(key, None)

    def _forget_oldest(self, entries: OrderedDict[StateKey, Any]) -> None:
        while len(entries) > self._max:
            entries.popitem(last=False)

    async def close(self) -> None:
        if self._states:
            log.info("memory state of %d conversations is discarded", len(self._states))
        self._states.clear()
        self._data.clear()
