"""What happens to each incoming message: the engine decides, the outbox delivers."""

from __future__ import annotations

from collections.abc import Callable

from bots.channel import Channel, Dispatch
from bots.messages import IncomingMessage, Reply
from bots.outbox import Outbox
from dialogs.engine import Engine, TurnResult

__all__ = ["Pipeline"]


class Pipeline:
    """Connects channels to the engine. One instance serves every channel."""

    def __init__(self, engine: Engine, outbox: Outbox) -> None:
        self._engine = engine
        self._outbox = outbox

    def dispatcher_for(self, channel: Channel) -> Dispatch:
        """The function ``channel`` calls with each message it receives."""

        async def dispatch(
            message: IncomingMessage, *, on_stored: Callable[[], object] | None = None
        ) -> list[Reply]:
            return await self.process(channel, message, on_stored=on_stored)

        return dispatch

    async def process(
        self,
        channel: Channel,
        message: IncomingMessage,
        *,
        on_stored: Callable[[], object] | None = None,
    ) -> list[Reply]:
        """Handle one message and send its replies back on the channel it came from."""
        if message.channel != channel.name:
            msg = f"a {message.channel} message arrived on the {channel.name} channel"
            raise ValueError(msg)

        async def deliver(result: TurnResult) -> None:
            await self._outbox.deliver(
                channel,
                result.conversation_id,
                message.chat_id,
                result.replies,
                queue_behind=result.queue_behind,
                as_of=result.asked_at,
            )

        # Delivered inside the turn's lock: the next message of this chat waits for it.
        result = await self._engine.handle(message, on_stored=on_stored, deliver=deliver)
        return result.replies
