"""The chat as a shopper sees it: the conversation, its buttons and the message box."""

from __future__ import annotations

from playwright.async_api import FrameLocator, Locator, Page


class ChatPage:
    """Locators and actions on the chat page, in a tab or inside the widget's iframe."""

    def __init__(self, root: Page | FrameLocator) -> None:
        self.log = root.get_by_role("log")
        self.box = root.get_by_role("textbox")
        self.send_button = root.locator("form").get_by_role("button")
        self.counter = root.locator("#counter")
        self.shopper = self.log.locator(".msg-me")
        self.shopper_texts = self.log.locator(".msg-me .bubble")
        self.bot_texts = self.log.locator(".msg-bot .bubble")

    def bot_said(self, text: str) -> Locator:
        """The bot's messages containing ``text``, oldest first."""
        return self.bot_texts.filter(has_text=text)

    async def say(self, text: str) -> None:
        """Type ``text`` and press Enter."""
        await self.box.fill(text)
        await self.box.press("Enter")

    def button(self, label: str) -> Locator:
        """The pressable (enabled) button labelled exactly ``label``."""
        return self.log.get_by_role("button", name=label, exact=True, disabled=False)

    async def press(self, label: str) -> None:
        """Press the pressable button labelled ``label``."""
        await self.button(label).click()
