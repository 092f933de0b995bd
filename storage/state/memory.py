"""The default state store: a dict in this process."""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from typing import Any

from storage.state.base import StateKey, StateStore

__all__ = ["MemoryStateStore"]

log = logging.getLogger(__name__)


class MemoryStateStore(StateStore):
    """Keeps state in this process.

    Fine for one process; state is **lost on restart** and not shared between workers, so
    conversations mid-flow go back to the menu after a restart. Set ``REDIS_URL`` to keep it.
    """

    def __init__(self) -> None:
        self._states: dict[StateKey, str] = {}
        self._data: dict[StateKey, dict[str, Any]] = {}

    async def get_state(self, key: StateKey) -> str | None:
        return self._states.get(key)

    async def set_state(self, key: StateKey, state: str | None) -> None:
        if state is None:
            self._states.pop(key, None)
        else:
            self._states[key] = state

    async def get_data(self, key: StateKey) -> dict[str, Any]:
        return copy.deepcopy(self._data.get(key, {}))

    async def set_data(self, key: StateKey, data: Mapping[str, Any]) -> None:
        if data:
            self._data[key] = copy.deepcopy(dict(data))
        else:
            self._data.pop(key, None)

    async def close(self) -> None:
        if self._states:
            log.info("memory state of %d conversations is discarded", len(self._states))
        self._states.clear()
        self._data.clear()
