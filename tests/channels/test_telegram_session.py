"""How the bot's calls reach the Bot API: JSON bodies, and multipart only for uploads."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

# The session is aiogram's extension point; these tests drive it as aiogram does.
from aiogram import Bot  # noqa: TID251
from aiogram.client.telegram import TelegramAPIServer  # noqa: TID251
from aiogram.exceptions import TelegramBadRequest  # noqa: TID251
from aiogram.types import (  # noqa: TID251
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
)

from bots.telegram import JsonBodySession
from tests.fakes.telegram_api import TOKEN, TelegramAPIStandIn

ANNA = 555000111


@pytest.fixture
async def bot(api: TelegramAPIStandIn) -> AsyncIterator[Bot]:
    bot = Bot(TOKEN, session=JsonBodySession(api=TelegramAPIServer.from_base(api.url)))
    yield bot
    await bot.session.close()


async def test_a_reply_with_a_cyrillic_keyboard_arrives_whole_as_json(
    api: TelegramAPIStandIn, bot: Bot
) -> None:
    keyboard = InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text="Задать вопрос «про скидки»", callback_data="q")]
        ]
    )

    sent = await bot.send_message(ANNA, "Чем помочь? 🙂", reply_markup=keyboard)

    [call] = api.calls("sendMessage")
    assert call.params["text"] == "Чем помочь? 🙂"
    assert call.params["reply_markup"] == {
        "inline_keyboard": [[{"text": "Задать вопрос «про скидки»", "callback_data": "q"}]]
    }
    assert sent.message_id == api.chat(ANNA)[-1]["message_id"]


async def test_an_upload_still_goes_as_multipart_form_data(
    api: TelegramAPIStandIn, bot: Bot
) -> None:
    poster = BufferedInputFile(b"\x89PNG\r\n\x1a\n" + bytes(100), filename="queue-qr.png")

    await bot.send_photo(ANNA, poster, caption="QR для кассы 3")

    [call] = api.calls("sendPhoto")
    attached = str(call.params["photo"]).removeprefix("attach://")  # aiogram names the part
    assert call.params[attached] == {"filename": "queue-qr.png", "size": 108}
    assert call.params["caption"] == "QR для кассы 3"


async def test_an_error_from_the_api_is_raised_as_aiogram_raises_it(
    api: TelegramAPIStandIn, bot: Bot
) -> None:
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(ANNA, " ")
