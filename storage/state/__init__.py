"""Conversation state: where each chat is in its flow, kept in memory or in Redis."""

from storage.state.base import KeyBuilder, StateKey, StateStore
from storage.state.memory import MemoryStateStore
from storage.state.redis import RedisStateStore

__all__ = ["KeyBuilder", "MemoryStateStore", "RedisStateStore", "StateKey", "StateStore"]
