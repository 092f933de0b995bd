"""The chat page in Chromium, as a shopper uses it: what appears, what a press or Enter does."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Page, Route, expect

from tests.browser.chat_page import ChatPage
from tests.browser.conftest import TITLE, Bot, NewContext

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

MENU = ["❓ Задать вопрос", "✍️ Оставить отзыв", "👤 Позвать оператора"]


async def open_chat(page: Page, bot: Bot, query: str = "") -> ChatPage:
    await page.goto(bot.url + query)
    return ChatPage(page)


async def expect_menu(chat: ChatPage, labels: list[str] = MENU) -> None:
    for label in labels:
        await expect(chat.button(label)).to_be_visible()


async def test_greeting_and_menu_appear(page: Page, bot: Bot) -> None:
    chat = await open_chat(page, bot)

    await expect(chat.bot_texts).to_have_count(1)
    await expect(chat.bot_texts.first).to_contain_text("Здравствуйте! Я бот поддержки.")
    await expect_menu(chat)
    await expect(chat.shopper).to_have_count(0)  # the /start behind the greeting is not shown
    await expect(page).to_have_title(TITLE)
    await expect(page.get_by_role("heading", level=1)).to_have_text(TITLE)
    await expect(chat.box).to_have_attribute("placeholder", "Напишите сообщение…")


async def test_a_question_sent_with_enter_is_answered(page: Page, bot: Bot) -> None:
    chat = await open_chat(page, bot)
    await expect_menu(chat)

    await chat.say("Сколько стоит доставка?")

    await expect(chat.shopper_texts).to_have_text(["Сколько стоит доставка?"])
    await expect(chat.bot_said("Доставка стоит 199 ₽").last).to_be_visible()
    await expect(chat.box).to_have_value("")
    # Only the newest message's buttons can be pressed; the greeting's menu is spent.
    await expect(chat.button("Сроки доставки")).to_be_enabled()
    await expect(chat.log.get_by_role("button", name=MENU[0])).to_be_disabled()

    await chat.press("Сроки доставки")

    await expect(chat.shopper_texts.last).to_have_text("Сроки доставки")
    await expect(chat.bot_said("с 9:00 до 23:00").last).to_be_visible()


async def test_an_unsure_question_offers_entries_and_a_tap_answers(page: Page, bot: Bot) -> None:
    chat = await open_chat(page, bot)
    await expect_menu(chat)

    await chat.say("карта")  # a loyalty card, a card payment, card points?

    await expect(chat.bot_said("Что именно вас интересует?").last).to_be_visible()
    await expect(chat.button("Как получить карту лояльности?")).to_be_enabled()
    await expect(chat.button("👤 Позвать оператора")).to_be_enabled()

    await chat.press("Как получить карту лояльности?")

    await expect(chat.shopper_texts.last).to_have_text("Как получить карту лояльности?")
    await expect(chat.bot_said("Карту лояльности можно бесплатно получить").last).to_be_visible()


async def test_feedback_is_thanked(page: Page, bot: Bot) -> None:
    chat = await open_chat(page, bot)

    await chat.press("✍️ Оставить отзыв")
    await expect(chat.shopper_texts).to_have_text(["✍️ Оставить отзыв"])
    await expect(chat.bot_said("Напишите отзыв одним сообщением").last).to_be_visible()
    await chat.say("Кассир на Ленина, 5 был очень вежлив")

    await expect(
        chat.bot_said("Спасибо! Ваш отзыв записан и будет передан в магазин.")
    ).to_be_visible()
    await expect_menu(chat)


async def test_a_message_typed_while_connecting_waits_for_the_greeting(
    page: Page, bot: Bot
) -> None:
    connected = asyncio.Event()

    async def slow_history(route: Route) -> None:
        await connected.wait()
        await route.continue_()

    await page.route("**/api/webchat/history", slow_history)
    chat = await open_chat(page, bot)
    await chat.say("Сколько стоит доставка?")
    await expect(chat.shopper_texts).to_have_text(["Сколько стоит доставка?"])

    connected.set()

    await expect(chat.bot_said("Доставка стоит 199 ₽")).to_be_visible()
    await expect(chat.log.locator(".msg").first).to_contain_text("Здравствуйте")
    await expect(chat.log.locator(".msg").nth(1)).to_have_text("Вы:Сколько стоит доставка?")


async def test_the_message_box_keeps_to_its_rules(page: Page, bot: Bot) -> None:
    chat = await open_chat(page, bot)
    await expect_menu(chat)
    await expect(chat.counter).to_have_text("0 / 4000")
    await expect(chat.send_button).to_be_disabled()

    await chat.say("   ")  # blank: nothing is sent
    await chat.box.fill("")
    await chat.box.press_sequentially("Первая строка")
    await chat.box.press("Shift+Enter")
    await chat.box.press_sequentially("вторая")
    await expect(chat.box).to_have_value("Первая строка\nвторая")
    await expect(chat.counter).to_have_text("20 / 4000")
    await chat.send_button.click()

    await expect(chat.shopper_texts).to_have_count(1)
    await expect(chat.shopper_texts).to_have_js_property("innerText", "Первая строка\nвторая")
    await expect(chat.bot_texts.nth(1)).to_be_visible()  # the bot answered

    await chat.box.focus()
    await page.keyboard.insert_text("я" * 4100)  # a paste longer than the limit
    await expect(chat.counter).to_have_text("4000 / 4000")
    await expect(chat.box).to_have_value("я" * 4000)


async def test_a_returning_visitor_sees_the_conversation_and_continues(
    page: Page, bot: Bot
) -> None:
    chat = await open_chat(page, bot)
    await chat.say("Сколько стоит доставка?")
    await expect(chat.bot_said("199 ₽").last).to_be_visible()
    await chat.press("Сроки доставки")
    await expect(chat.bot_said("с 9:00 до 23:00").last).to_be_visible()

    conversation = await chat.log.inner_text()

    await page.reload()

    await expect(chat.shopper_texts).to_have_text(["Сколько стоит доставка?", "Сроки доставки"])
    await expect(chat.log).to_have_text(conversation, use_inner_text=True)
    await expect(chat.log.get_by_role("button", name="Сроки доставки")).to_be_disabled()

    await chat.say("меню")
    await chat.press("✍️ Оставить отзыв")
    await expect(chat.bot_said("Напишите отзыв").last).to_be_visible()
    await page.reload()  # mid-flow: the bot still waits for the feedback
    await expect(chat.shopper_texts.last).to_have_text("✍️ Оставить отзыв")
    await chat.say("Всё отлично")

    await expect(chat.bot_said("Спасибо! Ваш отзыв записан").last).to_be_visible()
    await expect(chat.bot_texts.filter(has_text="Здравствуйте")).to_have_count(1)


async def test_a_deep_link_reaches_the_bot_once_per_link(page: Page, bot: Bot) -> None:
    chat = await open_chat(page, bot, "?start=qr-store-12")
    await expect(chat.bot_texts.first).to_contain_text("Здравствуйте")
    await expect_menu(chat)
    assert await bot.entry_of(page) == "qr-store-12"

    await page.reload()  # the same link again: the conversation just goes on
    await expect_menu(chat)
    await chat.say("Сколько стоит доставка?")
    await expect(chat.bot_said("199 ₽").last).to_be_visible()
    await expect(chat.bot_texts.filter(has_text="Здравствуйте")).to_have_count(1)

    await page.goto(bot.url + "?start=qr-store-15")  # another store's QR code

    await expect(chat.bot_texts.filter(has_text="Здравствуйте")).to_have_count(2)
    await expect_menu(chat)
    assert await bot.entry_of(page) == "qr-store-15"


async def test_another_browser_is_a_new_visitor(
    page: Page, bot: Bot, new_context: NewContext
) -> None:
    first = await open_chat(page, bot)
    await first.say("Сколько стоит доставка?")
    await expect(first.bot_said("199 ₽").last).to_be_visible()

    other_page = await (await new_context()).new_page()
    other = await open_chat(other_page, bot)

    await expect(other.bot_texts).to_have_count(1)
    await expect(other.bot_texts.first).to_contain_text("Здравствуйте")
    await expect(other.shopper).to_have_count(0)
    await expect_menu(other)


async def test_hostile_text_is_shown_literally_and_runs_nothing(page: Page, bot: Bot) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    hostile = '<img src=x onerror="window.pwned=1;alert(1)"><script>window.pwned=2</script>'
    chat = await open_chat(page, bot)
    await expect_menu(chat)

    await chat.say(hostile)

    await expect(chat.shopper_texts).to_have_text([hostile])
    await expect(chat.bot_texts.nth(1)).to_be_visible()  # the bot answered
    await page.reload()  # and again when it comes back from the history
    await expect(chat.shopper_texts).to_have_text([hostile])
    await expect(chat.log.locator("img, script")).to_have_count(0)
    assert await page.evaluate("window.pwned") is None
    assert dialogs == []


async def test_a_message_that_fails_to_send_can_be_retried(page: Page, bot: Bot) -> None:
    chat = await open_chat(page, bot)
    await expect_menu(chat)
    await page.route("**/api/webchat/messages", lambda route: route.abort())

    await chat.say("Сколько стоит доставка?")

    retry = chat.shopper.get_by_role("button", name="Не отправлено — повторить")
    await expect(retry).to_be_visible()
    await expect(chat.shopper_texts).to_have_text(["Сколько стоит доставка?"])
    await expect(chat.bot_texts).to_have_count(1)
    await expect_menu(chat)  # the menu still works

    await page.unroute("**/api/webchat/messages")
    await retry.click()

    await expect(chat.bot_said("Доставка стоит 199 ₽").last).to_be_visible()
    await expect(retry).to_have_count(0)


async def test_a_message_whose_answer_was_lost_is_not_handled_twice_on_retry(
    page: Page, bot: Bot
) -> None:
    chat = await open_chat(page, bot)
    await expect_menu(chat)

    async def answer_lost(route: Route) -> None:
        await route.fetch()  # the bot gets the message and answers...
        await route.abort()  # ...but the answer never reaches the page

    await page.route("**/api/webchat/messages", answer_lost)
    await chat.say("Сколько стоит доставка?")
    retry = chat.shopper.get_by_role("button", name="Не отправлено — повторить")
    await expect(retry).to_be_visible()
    await page.unroute("**/api/webchat/messages")

    await retry.click()

    await expect(chat.bot_said("Доставка стоит 199 ₽")).to_have_count(1)
    await expect(retry).to_have_count(0)
    await page.reload()  # the stored conversation: one question, one answer
    await expect(chat.shopper_texts).to_have_text(["Сколько стоит доставка?"])
    await expect(chat.bot_said("Доставка стоит 199 ₽")).to_have_count(1)


async def test_english_browsers_get_english(new_context: NewContext, bot: Bot) -> None:
    page = await (await new_context(locale="en-US")).new_page()
    chat = await open_chat(page, bot)

    await expect(chat.bot_texts.first).to_contain_text("Hello! I'm the support bot.")
    await expect_menu(chat, ["❓ Ask a question", "✍️ Leave feedback", "👤 Talk to a person"])
    await expect(chat.box).to_have_attribute("placeholder", "Type a message…")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
