"""The widget on a chain's own site: one script tag, a chat button, the chat in an iframe."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, Request, expect

from tests.browser.chat_page import ChatPage
from tests.browser.conftest import Bot, Site

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

SHOP_PAGE = """<!doctype html>
<html lang="ru">
<head>
<meta charset="utf-8">
<title>Ромашка — продукты у дома</title>
<script>window.keysBefore = Object.keys(window);</script>
<style>button, iframe, div { all: unset; color: red; }</style>
</head>
<body>
<h1>Ромашка</h1>
<p>Свежие продукты каждый день.</p>
<script src="{bot}widget.js" data-start="qr-store-12" async></script>
</body>
</html>
"""


async def test_the_widget_opens_the_chat_in_an_iframe(page: Page, bot: Bot, site: Site) -> None:
    shop = await site(SHOP_PAGE.replace("{bot}", bot.url))
    requests: list[Request] = []
    # A lambda, not requests.append: Playwright tags its handlers, and builtins refuse that.
    page.on("request", lambda request: requests.append(request))  # noqa: PLW0108
    await page.goto(shop)
    launcher = page.get_by_role("button", name="Открыть чат")
    await expect(launcher).to_be_visible()
    await expect(page.locator("iframe")).to_have_count(0)  # nothing loads until it is opened

    await launcher.click()

    frame = page.locator("iframe")
    await expect(frame).to_be_visible()
    await expect(frame).to_have_attribute("src", f"{bot.url}?embed=1&start=qr-store-12")
    chat = ChatPage(page.frame_locator("iframe"))
    await expect(chat.bot_texts.first).to_contain_text("Здравствуйте")
    await expect(page.frame_locator("iframe").get_by_role("heading")).to_be_hidden()
    await chat.say("Сколько стоит доставка?")
    await expect(chat.bot_said("Доставка стоит 199 ₽").last).to_be_visible()
    assert await bot.entry_of(page.frames[1]) == "qr-store-12"

    await page.get_by_role("button", name="Закрыть чат").first.click()
    await expect(frame).to_be_hidden()
    await expect(launcher).to_be_focused()
    await launcher.click()  # reopened: the same conversation, not reloaded
    await expect(chat.shopper_texts).to_have_text(["Сколько стоит доставка?"])
    await chat.box.press("Escape")  # typing in the chat, a keyboard user closes it
    await expect(frame).to_be_hidden()
    await expect(launcher).to_be_focused()

    new_globals = await page.evaluate(
        "Object.keys(window).filter(k => !window.keysBefore.includes(k) && k !== 'keysBefore')"
    )
    assert new_globals == ["OtklikWidget"]
    from_shop_page = {r.url for r in requests if r.frame == page.main_frame}
    assert from_shop_page == {shop, f"{bot.url}widget.js"}


async def test_the_chat_can_be_opened_from_the_sites_own_button(
    page: Page, bot: Bot, site: Site
) -> None:
    shop = await site(
        SHOP_PAGE.replace("{bot}", bot.url).replace(
            "<h1>", '<button onclick="OtklikWidget.open()">Написать нам</button><h1>'
        )
    )
    await page.goto(shop)

    await page.get_by_text("Написать нам").click()

    chat = ChatPage(page.frame_locator("iframe"))
    await expect(chat.bot_texts.first).to_contain_text("Здравствуйте")
    await chat.press("✍️ Оставить отзыв")
    await expect(chat.bot_said("Напишите отзыв").last).to_be_visible()
