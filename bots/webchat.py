"""The web chat: a page at ``/``, an embeddable widget script, and a JSON API.

Like Rasa's REST input with a collecting output channel, replies come back in the HTTP response
of the message that caused them. Every message still goes through the same pipeline (store →
engine → outbox), so the web chat is also how the engine is tested end to end. A visitor is known
by an unguessable id the page keeps in the browser's local storage: the same browser continues
the same conversation, its history loaded from the database.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import secrets
from collections.abc import Callable, Sequence
from importlib import resources
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any, ClassVar

from aiohttp import web

from bots.channel import Channel, parse_json
from bots.messages import IncomingMessage, Reply, SentMessage
from config.settings import WebChatSettings
from dialogs.clock import Clock
from storage.ratelimit import Limit, RateLimiter
from storage.records import StoredMessage
from storage.uow import UnitOfWork

__all__ = ["WebChatChannel", "client_address"]

log = logging.getLogger(__name__)

_VISITOR = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_MESSAGE_ID = re.compile(r"^[A-Za-z0-9_-]{8,63}$")  # with the visitor id, within source_id's 128
MAX_TEXT = 100_000
"""Characters kept from one web chat message; the page itself stops at 4,000."""


class WebChatChannel(Channel):
    """The chain's own chat on its site."""

    name: ClassVar[str] = "webchat"

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        settings: WebChatSettings,
        *,
        limiter: RateLimiter,
        clock: Clock,
    ) -> None:
        super().__init__()
        self._uow = uow
        self._title = settings.title
        self._limiter = limiter
        self._clock = clock
        self._per_visitor = Limit(settings.messages_per_minute, 60)
        self._per_address = Limit(settings.messages_per_minute_per_address, 60)
        self._new_per_address = Limit(settings.new_visitors_per_minute_per_address, 60)
        self._trusted = settings.trusted_proxies

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._page)
        app.router.add_get("/widget.js", self._widget)
        app.router.add_post("/api/webchat/visitors", self._new_visitor)
        app.router.add_post("/api/webchat/messages", self._message)
        # POST, not GET: the visitor id is the only key to a conversation, and a query string
        # ends up in access logs (aiohttp's, a reverse proxy's); a body does not.
        app.router.add_post("/api/webchat/history", self._history)

    async def send(self, chat_id: str, reply: Reply, *, key: int | None = None) -> SentMessage:
        # The reply travels in the HTTP response (or is read from history); nothing to call.
        return SentMessage(source_id=f"web-{secrets.token_hex(8)}")

    async def _page(self, request: web.Request) -> web.Response:
        html = _static("index.html").replace("{{title}}", _escape(self._title))
        return web.Response(text=html, content_type="text/html")

    async def _widget(self, request: web.Request) -> web.Response:
        return web.Response(text=_static("widget.js"), content_type="application/javascript")

    async def _new_visitor(self, request: web.Request) -> web.Response:
        address = client_address(request, self._trusted)
        await self._throttle("new-visitors", "address", address, self._new_per_address)
        return web.json_response({"visitor_id": secrets.token_urlsafe(24)})

    async def _throttle(self, counter: str, kind: str, subject: str, limit: Limit) -> None:
        """Refuse with 429 and ``Retry-After`` once ``subject`` used up ``limit`` (a flood).

        ``subject`` is a visitor id or an address (``kind`` says which); logs name it by a
        fingerprint only.
        """
        key = f"webchat:{counter}:{subject}"
        wait = await self._limiter.hit(key, limit, self._clock.now())
        if wait > 0:
            seconds = math.ceil(wait)
            log.warning(
                "web chat: %s %s is over its limit; refused for %d s",
                kind,
                _fingerprint(subject),
                seconds,
            )
            raise web.HTTPTooManyRequests(
                text=json.dumps({"error": f"too many requests; try again in {seconds} s"}),
                content_type="application/json",
                headers={"Retry-After": str(seconds)},
            )

    async def _message(self, request: web.Request) -> web.Response:
        body = await _json_object(request)
        visitor = _visitor(body.get("visitor_id"))
        address = client_address(request, self._trusted)
        await self._throttle("address", "address", address, self._per_address)
        await self._throttle("messages", "visitor", visitor, self._per_visitor)
        text = body.get("text", "")
        payload = body.get("payload")
        language = body.get("language")
        if not isinstance(text, str) or not (payload is None or isinstance(payload, str)):
            raise _bad_request("text and payload must be strings")
        if language is not None and not isinstance(language, str):
            raise _bad_request("language must be a string such as 'ru' or 'en-US'")
        message_id = body.get("message_id")
        if message_id is not None and (
            not isinstance(message_id, str) or not _MESSAGE_ID.match(message_id)
        ):
            raise _bad_request("message_id must be 8 to 63 letters, digits, '-' or '_'")
        # The page's own id for the message, the same when it sends it again after a timeout:
        # as the platform id, it lets the engine recognise the retry instead of answering twice.
        source_id = f"{visitor}:{message_id}" if message_id else None
        message = IncomingMessage(
            channel=self.name,
            chat_id=visitor,
            user_id=visitor,
            text=text[:MAX_TEXT],
            button_payload=payload or None,
            deeplink_payload=_deeplink(body.get("start")),
            language_code=(language or None) and language[:16],
            source_id=source_id,
            raw={"text_length": len(text)} if len(text) > MAX_TEXT else {},
        )
        replies = await self.dispatch(message)
        if not replies and source_id is not None:
            # Already handled (the first attempt's answer never reached the page): what the
            # bot answered then, so the shopper sees it now.
            async with self._uow() as uow:
                replies = await uow.messages.replies_to(self.name, source_id)
            if not replies:  # its replies were never recorded: not an empty answer
                raise web.HTTPConflict(
                    text=json.dumps({"error": "still answering this message; try again"}),
                    content_type="application/json",
                )
        return web.json_response({"replies": [_reply_json(reply) for reply in replies]})

    async def _history(self, request: web.Request) -> web.Response:
        visitor = _visitor((await _json_object(request)).get("visitor_id"))
        async with self._uow() as uow:
            conversation = await uow.conversations.find_by_chat(self.name, visitor)
            stored = [] if conversation is None else await uow.messages.history(conversation)
        return web.json_response({"messages": [_stored_json(item) for item in stored]})


def _fingerprint(visitor: str) -> str:
    """What logs say of a visitor: enough to tell two apart, useless for reading their chat."""
    return hashlib.sha256(visitor.encode()).hexdigest()[:10]


def client_address(request: web.Request, trusted: Sequence[IPv4Network | IPv6Network]) -> str:
    """Whom a request's limits count against: the client's address, as far as it can be known.

    The peer's address, unless the peer is a trusted proxy: then ``X-Forwarded-For`` is read
    from the right (the entry the nearest proxy added) past every trusted proxy, and the first
    other address is the client's. Entries further left were written by the client and could
    say anything. An IPv6 client counts by its /64, which a single host is usually given whole.
    """
    hops = [request.remote or ""]
    for header in reversed(request.headers.getall("X-Forwarded-For", [])):
        hops.extend(part.strip() for part in reversed(header.split(",")))
    address = None
    for hop in hops:
        try:
            address = ip_address(hop)
        except ValueError:  # not an address (a unix socket, garbage): stop at what is known
            return _bucket(address) if address is not None else (hop or "unknown")
        if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not any(address in network for network in trusted):
            break
    return _bucket(address) if address is not None else "unknown"


def _bucket(address: IPv4Address | IPv6Address) -> str:
    if isinstance(address, IPv6Address):
        return str(ip_network(f"{address}/64", strict=False))
    return str(address)


def _static(name: str) -> str:
    return resources.files("bots").joinpath("webchat_static", name).read_text(encoding="utf-8")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _bad_request(reason: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=json.dumps({"error": reason}), content_type="application/json")


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        body = parse_json(await request.read())
    except ValueError:
        log.warning("web chat: a request body that is not JSON was refused")
        raise _bad_request("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise _bad_request("the body must be a JSON object")
    return body


def _visitor(value: object) -> str:
    if not isinstance(value, str) or not _VISITOR.match(value):
        raise _bad_request(
            "visitor_id is missing or malformed; get one from /api/webchat/visitors"
        )
    return value


def _deeplink(value: object) -> str | None:
    return value[:256] if isinstance(value, str) and value else None


def _reply_json(reply: Reply) -> dict[str, Any]:
    return {
        "text": reply.text,
        "image_url": reply.image_url,
        "buttons": [
            [{"text": b.text, "payload": b.payload, "url": b.url} for b in row]
            for row in reply.buttons
        ],
    }


def _stored_json(message: StoredMessage) -> dict[str, Any]:
    return {
        "direction": message.direction,
        "author": message.author,
        "text": message.text,
        "payload": message.button_payload,
        "buttons": message.buttons or [],
        "created_at": message.created_at.isoformat(),
    }
