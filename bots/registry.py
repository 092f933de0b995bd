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
from config.catalog import Catalog
from config.settings import ConfigError, Settings
from dialogs.clock import Clock
from storage.ratelimit import RateLimiter
from storage.uow import UnitOfWork

__all__ = ["CHANNELS", "ChannelContext", "build_channels"]


@dataclass(frozen=True, slots=True)
class ChannelContext:
    """What a channel may be built with."""

    settings: Settings
    uow: Callable[[], UnitOfWork]
    clock: Clock
    limiter: RateLimiter
    catalog: Catalog


def _webchat(context: ChannelContext) -> Channel | None:
    settings = context.settings.webchat
    if not settings.enabled:
        return None
    return WebChatChannel(context.uow, settings, limiter=context.limiter, clock=context.clock)


def _telegram(context: ChannelContext) -> Channel | None:
    settings = context.settings.telegram
    if settings.bot_token is None:
        return None
    from bots.telegram import TelegramChannel  # noqa: PLC0415 - aiogram takes seconds to import

    return TelegramChannel(settings, clock=context.clock, commands=_commands(context.catalog))


_COMMANDS = ("start", "help")
"""The commands the dialogs know (``dialogs.flows.menu``), listed in a platform's menu."""


def _commands(catalog: Catalog) -> dict[str | None, list[tuple[str, str]]]:
    """Each command with its description, per language; None: the default language's."""

    def listed(language: str) -> list[tuple[str, str]]:
        return [(name, catalog.text(language, f"commands.{name}")) for name in _COMMANDS]

    commands: dict[str | None, list[tuple[str, str]]] = {None: listed(catalog.default_language)}
    for language in sorted(catalog.languages - {catalog.default_language}):
        commands[language] = listed(language)
    return commands


def _vk(context: ChannelContext) -> Channel | None:
    settings = context.settings.vk
    if settings.group_token is None:
        return None
    from bots.vk import VkChannel  # noqa: PLC0415 - imported only when switched on

    return VkChannel(settings, clock=context.clock, limiter=context.limiter, uow=context.uow)


def _viber(context: ChannelContext) -> Channel | None:
    settings = context.settings.viber
    if settings.auth_token is None:
        return None
    from bots.viber import ViberChannel  # noqa: PLC0415 - imported only when switched on

    return ViberChannel(settings, context.uow, clock=context.clock)


CHANNELS: Mapping[str, Callable[[ChannelContext], Channel | None]] = {
    "webchat": _webchat,
    "telegram": _telegram,
    "vk": _vk,
    "viber": _viber,
}


def build_channels(context: ChannelContext) -> list[Channel]:
    """The channels the settings switch on, in registry order.

    A channel whose settings are incomplete (a token without its group id, say) raises
    :class:`~config.settings.ConfigError` naming the channel, so ``otklik run`` ends with one
    line and exit code 2 rather than a traceback.
    """
    channels: list[Channel] = []
    for name, factory in CHANNELS.items():
        try:
            channel = factory(context)
        except ValueError as exc:
            msg = f"{name} settings: {exc}"
            raise ConfigError(msg) from exc
        if channel is not None:
            channels.append(channel)
    return channels
