"""A bot killed with SIGKILL in the middle of a reply answers the update Telegram sends again.

The real ``otklik run`` in a process of its own, in webhook mode, against the stand-in Bot
API: the stand-in holds the bot's ``sendMessage``, the process is killed while it waits, a
new one starts on the same SQLite file, and the same update comes in again, as Telegram
resends an update whose webhook got no answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.fakes.telegram_api import TelegramAPIStandIn, fixture_update

OURS = ("OTKLIK_", "DATABASE_URL", "REDIS_URL", "TELEGRAM_", "VK_", "VIBER_")


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port: int = probe.getsockname()[1]
    return port


@contextlib.asynccontextmanager
async def _bot(api: TelegramAPIStandIn, folder: Path, port: int) -> AsyncIterator[Any]:
    """``otklik run`` in ``folder`` (its SQLite file there), killed on the way out."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(OURS)}
    env = {
        **environ,
        **api.env(
            TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/webhooks/telegram",
            OTKLIK_FAQ__MATCHER__SEMANTIC="false",
        ),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bots.cli",
        "run",
        "--port",
        str(port),
        cwd=folder,
        env=env,
        stdout=asyncio.subprocess.PIPE,  # only the line saying it listens; the log is stderr
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await api.next_call("setWebhook", within=60)  # started; listening a moment later
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), timeout=60)
        assert b"Running on" in line, line
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_a_bot_killed_while_replying_answers_the_update_when_telegram_sends_it_again(
    tmp_path: Path,
) -> None:
    update = fixture_update("message_text")
    update["message"]["text"] = "меню"
    chat = update["message"]["chat"]["id"]
    port = _free_port()
    async with TelegramAPIStandIn() as api, aiohttp.ClientSession() as telegram:
        url = f"http://127.0.0.1:{port}/webhooks/telegram"
        async with _bot(api, tmp_path, port) as first:
            held = api.hold("sendMessage")
            delivery = asyncio.create_task(
                telegram.post(url, json=update, headers=api.webhook_headers())
            )
            await api.next_call("sendMessage", within=30)  # the reply is on its way
            first.kill()  # SIGKILL: no shutdown, no grace
            await first.wait()
            with pytest.raises(aiohttp.ClientError):
                await delivery  # Telegram got no answer, so it will send the update again
            held.set()

        async with _bot(api, tmp_path, port):
            response = await telegram.post(url, json=update, headers=api.webhook_headers())
            again = await api.next_call("sendMessage", within=30)

        assert response.status == 200
        assert str(again.params["chat_id"]) == str(chat)
        assert "Чем могу помочь" in again.params["text"]
        assert len(api.calls("sendMessage")) == 2  # once cut off, once answered
