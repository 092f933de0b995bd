"""A shopper in the web chat, driven over its JSON API."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient


class WebChatShopper:
    """Writes to the bot through ``/api/webchat`` the way the page does.

    With ``address`` the shopper comes through a proxy on the bot's host (the test client's
    127.0.0.1, trusted by default) that reports that address in ``X-Forwarded-For``, so many
    shoppers of one test are not all one address to the per-address limits.
    """

    def __init__(
        self, client: TestClient[Any, Any], language: str = "ru", *, address: str | None = None
    ) -> None:
        self.client = client
        self.language = language
        self.visitor_id: str | None = None
        self._headers = {"X-Forwarded-For": address} if address else {}

    async def _visitor(self) -> str:
        if self.visitor_id is None:
            response = await self.client.post("/api/webchat/visitors", headers=self._headers)
            assert response.status == 200
            self.visitor_id = (await response.json())["visitor_id"]
        return self.visitor_id

    async def send(
        self, text: str = "", *, payload: str | None = None, start: str | None = None
    ) -> list[dict[str, Any]]:
        """Send a message (or press a button) and return the bot's replies."""
        body = {
            "visitor_id": await self._visitor(),
            "text": text,
            "payload": payload,
            "language": self.language,
            "start": start,
        }
        response = await self.client.post(
            "/api/webchat/messages", json=body, headers=self._headers
        )
        assert response.status == 200, await response.text()
        replies: list[dict[str, Any]] = (await response.json())["replies"]
        return replies

    async def press(self, label_part: str, replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Press the button whose label contains ``label_part`` in ``replies``."""
        for reply in replies:
            for row in reply["buttons"]:
                for button in row:
                    if label_part.lower() in button["text"].lower() and button["payload"]:
                        return await self.send(payload=button["payload"])
        labels = [b["text"] for r in replies for row in r["buttons"] for b in row]
        raise AssertionError(f"no button with {label_part!r} among {labels}")

    async def history(self) -> list[dict[str, Any]]:
        response = await self.client.post(
            "/api/webchat/history",
            json={"visitor_id": await self._visitor()},
            headers=self._headers,
        )
        assert response.status == 200
        messages: list[dict[str, Any]] = (await response.json())["messages"]
        return messages


def buttons_of(replies: list[dict[str, Any]]) -> list[str]:
    """Every button label in ``replies``."""
    return [b["text"] for r in replies for row in r["buttons"] for b in row]


def texts_of(replies: list[dict[str, Any]]) -> str:
    """All reply texts joined, for assertions on what the shopper reads."""
    return "\n".join(r["text"] for r in replies)
