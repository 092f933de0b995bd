"""Where a channel has read a platform's event stream up to, so a restart resumes there.

VK's Bots Long Poll hands events out by position (``ts``) and keeps them for a while; a bot that
remembers the position of the last batch it stored reads what shoppers wrote while it was down.
One row per stream, named by the channel (``vk:<group id>``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.filing import on_conflict_insert
from storage.models import ChannelCursor

__all__ = ["CursorRepository"]


class CursorRepository:
    """Read and move named positions (``channel_cursors``)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, name: str) -> str | None:
        """The position saved under ``name``, or None when nothing was saved."""
        return await self._session.scalar(
            select(ChannelCursor.position).where(ChannelCursor.name == name)
        )

    async def set(self, name: str, position: str, now: datetime) -> None:
        """Save ``position`` under ``name`` (one upsert; the last write wins)."""
        insert = on_conflict_insert(self._session.get_bind().dialect.name)
        statement = insert(ChannelCursor).values(name=name, position=position, updated_at=now)
        await self._session.execute(
            statement.on_conflict_do_update(
                index_elements=[ChannelCursor.name],
                set_={"position": position, "updated_at": now},
            )
        )
