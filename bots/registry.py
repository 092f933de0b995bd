"""Which channels exist and when each is switched on.

Each factory looks at the settings and returns its channel, or None when the channel is not
configured (no token). Adding a platform is one module in ``bots/`` and one line here. Platform
modules are imported only when their channel is switched on: aiogram alone takes seconds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bots.channel import Channel
from bots.webchat import WebChatChannel
from config.settings import Settings
from dialogs.clock import Clock
from storage.uow import UnitOfWork

__all__ = ["CHANNELS", "ChannelContext", "build_channels"]


@dataclass(frozen=True, slots=True)
class ChannelContext:
    """What a channel may be built with."""

    settings: Settings
    uow: Callable[[], UnitOfWork]
    clock: Clock


def _webchat(context: ChannelContext) -> Channel | None:
    settings = context.settings.webchat
    return WebChatChannel(context.uow, title=settings.title) if settings.enabled else None


def _telegram(context: ChannelContext) -> Channel | None:
    settings = context.settings.telegram
    if settings.bot_token is None:
        return None
    from bots.telegram import TelegramChannel  # noqa: PLC0415 - aiogram takes seconds to import

    return TelegramChannel(settings, clock=context.clock)


CHANNELS: Mapping[str, Callable[[ChannelContext], Channel | None]] = {
    "webchat": _webchat,
    "telegram": _telegram,
}


def build_channels(context: ChannelContext) -> list[Channel]:
    """The channels the settings switch on, in registry order."""
    built = (factory(context) for factory in CHANNELS.values())
    return [channel for channel in built if channel is not None]
