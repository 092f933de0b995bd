"""A stand-in Viber REST bot API (``set_webhook``, ``get_account_info``, ``send_message``).

The shape is opsdroid's ``ExternalAPIMockServer``: every call is recorded per endpoint, answers
can be queued ahead (a Viber status, an HTTP error, or an answer that never comes), and a test
awaits "the next call of X" instead of sleeping. The adapter reaches it through
``VIBER_API_URL``. It checks what Viber checks: the auth token (status 2), and the documented
limits of a message (status 3: sender name over 28 characters, text over 7,000, a button text
over 250, more than 24 keyboard rows' worth of buttons).

With ``check_webhook=True``, ``set_webhook`` calls the given URL with a signed ``webhook``
callback first and refuses (status 1) unless it answers 200, as Viber does.

Shoppers' callbacks are built by the functions below and signed with viberbot's own code
(:func:`sign`), so the adapter's check is tested against the library's idea of a signature.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient
from viberbot import Api, BotConfiguration

from tests.fakes.base import BaseApiStandIn

__all__ = [
    "TOKEN",
    "ViberApiStandIn",
    "conversation_started",
    "deliver",
    "message",
    "open_link",
    "press",
    "sign",
    "signed_headers",
    "subscribed",
    "unsubscribed",
]

TOKEN = "4453b6ac12345678-e02c5f12174805f9-daec9cbb5448c51f"  # shaped like one, not real
ACCOUNT_NAME = "Магазин у дома"


def sign(body: bytes, token: str = TOKEN) -> str:
    """The ``X-Viber-Content-Signature`` viberbot computes for ``body``."""
    api = Api(BotConfiguration(auth_token=token, name=ACCOUNT_NAME, avatar=None))
    signature: str = api._calculate_message_signature(body)
    return signature


def signed_headers(body: bytes, token: str = TOKEN) -> dict[str, str]:
    """Headers of a callback Viber would send with ``body``."""
    return {"X-Viber-Content-Signature": sign(body, token), "Content-Type": "application/json"}


@dataclass
class _Answer:
    body: dict[str, Any] | None = None
    http_status: int | None = None
    hang: bool = False


class ViberApiStandIn(BaseApiStandIn[dict[str, Any], _Answer]):
    """The Viber REST bot API on a local port, under ``/pa``."""

    def __init__(self, token: str = TOKEN, *, check_webhook: bool = False) -> None:
        super().__init__()
        self.token = token
        self.check_webhook = check_webhook
        self.webhook: str | None = None
        self._tokens = itertools.count(5491000000000000001)

    def app(self) -> web.Application:
        """The REST endpoints as an aiohttp app."""
        app = web.Application()
        app.router.add_post("/pa/{endpoint}", self._endpoint)
        return app

    @property
    def calls(self) -> dict[str, list[dict[str, Any]]]:
        """The calls so far per endpoint, each oldest first."""
        return self._calls

    @property
    def api_url(self) -> str:
        """What ``VIBER_API_URL`` should be."""
        return f"{self.url}/pa"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment variables that point a bot at this stand-in."""
        return {"VIBER_AUTH_TOKEN": self.token, "VIBER_API_URL": self.api_url, **extra}

    def answer(
        self,
        endpoint: str,
        *,
        status: int | None = None,
        status_message: str = "failure",
        http_status: int | None = None,
        hang: bool = False,
    ) -> None:
        """Queue how the next call of ``endpoint`` is answered (else as Viber would).

        ``status`` is a Viber status (6 receiverNotSubscribed, 12 tooManyRequests...);
        ``hang`` never answers, so the client times out.
        """
        body = None if status is None else {"status": status, "status_message": status_message}
        self._queue(endpoint, _Answer(body, http_status, hang))

    @property
    def sent(self) -> list[dict[str, Any]]:
        """Every ``send_message`` Viber accepted."""
        return [call for call in self.calls["send_message"] if call.get("_accepted")]

    async def next_call(self, endpoint: str, within: float = 5.0) -> dict[str, Any]:
        """The next call of ``endpoint`` not yet returned here; TimeoutError after ``within`` s."""
        return await self._next_call(endpoint, within)

    async def next_message(self, within: float = 5.0) -> dict[str, Any]:
        """The next ``send_message`` call."""
        return await self.next_call("send_message", within)

    async def _endpoint(self, request: web.Request) -> web.Response:
        endpoint = request.match_info["endpoint"]
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"status": 3, "status_message": "badData"})
        self._record(endpoint, body)
        planned = self._planned(endpoint) or _Answer()
        if planned.http_status is not None:
            return web.Response(status=planned.http_status, text="Service Unavailable")
        if planned.hang:
            await self._closing.wait()
            return web.json_response({"status": 0})
        if self.token not in (request.headers.get("X-Viber-Auth-Token"), body.get("auth_token")):
            return _status(2, "invalidAuthToken")
        if planned.body is not None:
            return web.json_response(planned.body)
        if endpoint == "get_account_info":
            return web.json_response(self._account())
        if endpoint == "set_webhook":
            return web.json_response(await self._set_webhook(body))
        if endpoint == "send_message":
            problem = _problem(body)
            if problem:
                return _status(3, problem)
            body["_accepted"] = True
            token = next(self._tokens)
            return web.json_response(
                {"status": 0, "status_message": "ok", "message_token": token, "billing_status": 1}
            )
        return web.Response(status=404)

    def _account(self) -> dict[str, Any]:
        return {
            "status": 0,
            "status_message": "ok",
            "id": "pa:5081234567890123456",
            "name": ACCOUNT_NAME,
            "uri": "shop",
            "webhook": self.webhook or "",
            "event_types": ["delivered", "seen", "failed", "conversation_started"],
            "subscribers_count": 1,
        }

    async def _set_webhook(self, body: dict[str, Any]) -> dict[str, Any]:
        url = body.get("url")
        if not isinstance(url, str):
            return {"status": 4, "status_message": "missingData"}
        if self.check_webhook and url:
            callback = json.dumps(
                {"event": "webhook", "timestamp": 1767268800000, "message_token": 1}
            ).encode()
            try:
                async with (
                    aiohttp.ClientSession() as session,
                    session.post(url, data=callback, headers=signed_headers(callback)) as resp,
                ):
                    answered = resp.status
            except aiohttp.ClientError:
                answered = 0
            if answered != 200:
                return {"status": 1, "status_message": "invalidUrl"}
        self.webhook = url
        events = body.get("event_types") or ["delivered", "seen", "failed", "subscribed"]
        return {"status": 0, "status_message": "ok", "event_types": events}


def _status(status: int, message: str) -> web.Response:
    return web.json_response({"status": status, "status_message": message})


def _problem(body: dict[str, Any]) -> str | None:
    sender = body.get("sender") or {}
    if not body.get("receiver") or not body.get("type"):
        return "receiver and type are required"
    if not sender.get("name") or len(sender["name"]) > 28:
        return "sender.name is required, at most 28 characters"
    if body["type"] == "text" and not 0 < len(body.get("text") or "") <= 7000:
        return "text is required, at most 7000 characters"
    if body["type"] == "picture" and (len(body.get("text", "")) > 768 or not body.get("media")):
        return "a picture needs media and at most 768 characters of text"
    buttons = (body.get("keyboard") or {}).get("Buttons", [])
    if any(len(button.get("Text", "")) > 250 for button in buttons):
        return "a button text is over 250 characters"
    if sum(button.get("Columns", 6) for button in buttons) > 24 * 6:
        return "a keyboard has at most 24 rows"
    return None


_tokens = itertools.count(4912661846655238145)
_TIMESTAMP = 1767268800000


def _user(user_id: str, name: str, language: str) -> dict[str, Any]:
    return {
        "id": user_id,
        "name": name,
        "avatar": "https://media-direct.cdn.viber.com/download_photo?dlid=x",
        "country": "RU",
        "language": language,
        "api_version": 10,
    }


def message(
    user_id: str,
    text: str = "",
    *,
    name: str = "Анна",
    language: str = "ru",
    kind: str = "text",
    **fields: Any,
) -> dict[str, Any]:
    """A ``message`` callback from a shopper (``fields`` go into the message)."""
    body: dict[str, Any] = {"type": kind, **fields}
    if text or kind == "text":
        body["text"] = text
    return {
        "event": "message",
        "timestamp": _TIMESTAMP,
        "chat_hostname": "SN-CHAT-05_",
        "message_token": next(_tokens),
        "sender": _user(user_id, name, language),
        "message": body,
        "silent": False,
    }


def conversation_started(
    user_id: str, *, context: str | None = None, name: str = "Анна", language: str = "ru"
) -> dict[str, Any]:
    """A ``conversation_started`` callback (the shopper opened the chat)."""
    callback = {
        "event": "conversation_started",
        "timestamp": _TIMESTAMP,
        "chat_hostname": "SN-376_",
        "message_token": next(_tokens),
        "type": "open",
        "user": _user(user_id, name, language),
        "subscribed": False,
    }
    if context is not None:
        callback["context"] = context
    return callback


def subscribed(user_id: str) -> dict[str, Any]:
    """A ``subscribed`` callback."""
    return {
        "event": "subscribed",
        "timestamp": _TIMESTAMP,
        "chat_hostname": "SN-CHAT-05_",
        "user": _user(user_id, "Анна", "ru"),
        "message_token": next(_tokens),
    }


def unsubscribed(user_id: str) -> dict[str, Any]:
    """An ``unsubscribed`` callback."""
    return {
        "event": "unsubscribed",
        "timestamp": _TIMESTAMP,
        "chat_hostname": "SN-CHAT-05_",
        "user_id": user_id,
        "message_token": next(_tokens),
    }


async def deliver(
    client: TestClient[Any, Any], callback: dict[str, Any], token: str = TOKEN
) -> ClientResponse:
    """POST ``callback`` to the bot's webhook the way Viber does, signed with ``token``."""
    body = json.dumps(callback, ensure_ascii=False).encode()
    return await client.post("/webhooks/viber", data=body, headers=signed_headers(body, token))


def press(sent: dict[str, Any], label_part: str) -> str:
    """The ``ActionBody`` of the button labelled with ``label_part`` in a sent message."""
    for button in (sent.get("keyboard") or {}).get("Buttons", []):
        if label_part.lower() in button.get("Text", "").lower():
            return str(button["ActionBody"])
    msg = f"no button with {label_part!r} in {sent.get('keyboard')}"
    raise AssertionError(msg)


def open_link(user_id: str, sent: dict[str, Any], label_part: str) -> dict[str, Any]:
    """What Viber sends the bot when the shopper presses a link button in a sent message.

    Viber opens an ``open-url`` button's ``ActionBody`` and also sends it to the bot as a text
    message from the shopper, ``silent`` when the button was ``Silent`` (then the chat does
    not show it).
    """
    for button in (sent.get("keyboard") or {}).get("Buttons", []):
        if label_part.lower() in button.get("Text", "").lower():
            assert button["ActionType"] == "open-url", f"{button['Text']!r} is not a link"
            callback = message(user_id, str(button["ActionBody"]))
            callback["silent"] = bool(button.get("Silent", False))
            return callback
    msg = f"no button with {label_part!r} in {sent.get('keyboard')}"
    raise AssertionError(msg)
