"""Channel test fixtures shared by the Telegram test modules."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.telegram_api import TelegramAPIStandIn


@pytest.fixture
async def api() -> AsyncIterator[TelegramAPIStandIn]:
    """A stand-in Bot API on a local port (VK and Viber modules define their own ``api``)."""
    async with TelegramAPIStandIn() as server:
        yield server
