"""Viber through its REST bot API: a signed webhook, keyboards, a welcome in the response.

:func:`to_incoming` turns a callback (``message``, ``conversation_started``) into our
:class:`~bots.messages.IncomingMessage` and is tested on recorded JSON; :meth:`ViberChannel.send`
renders a :class:`~bots.messages.Reply` with viberbot's message types (text or picture, with a
keyboard whose reply buttons carry the payload in ``ActionBody``), fitted by :mod:`bots.layout`.

What is taken from viberbot and what is not:

* its message classes build what ``send_message`` posts, and tests sign callbacks with its own
  signature code;
* its transport is not used: ``viberbot.Api`` posts with ``requests`` to a fixed
  ``chatapi.viber.com`` without a timeout, which would block a thread for as long as Viber
  hangs, and compares signatures with ``==``. Calls go instead through one aiohttp session to
  ``VIBER_API_URL`` with a timeout, and signatures are compared in constant time.

Viber specifics honoured here: every callback is signed (``X-Viber-Content-Signature``, an
HMAC-SHA256 of the raw body keyed with the auth token); ``conversation_started`` may be answered
with one message in the HTTP response, before the shopper subscribes; nobody who unsubscribed is
sent anything; ``set_webhook`` makes Viber call the webhook at once, so at start it is
registered in the background, after the server listens; and a press on a link button comes
back as a text message holding its URL, which is stored but not answered.

The module passes the 400-line mark because it also carries the REST transport viberbot's
cannot provide (timeouts, a configurable base URL) and the welcome-in-the-response path.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar

import aiohttp
from aiohttp import web
from viberbot.api.messages import PictureMessage, TextMessage

from bots import layout
from bots.channel import (
    Channel,
    RetryAfter,
    SendError,
    backoff_delays,
    parse_json,
    refused_after,
    same_secret,
    stop_task,
)
from bots.messages import (
    Attachment,
    Button,
    IncomingMessage,
    Location,
    OtherAttachment,
    Photo,
    Reply,
    SentMessage,
    SharedContact,
)
from config.settings import ViberSettings
from dialogs.clock import Clock, SystemClock
from storage.uow import UnitOfWork

__all__ = [
    "SIGNATURE_HEADER",
    "WEBHOOK_PATH",
    "MalformedCallback",
    "ViberChannel",
    "keyboard_json",
    "set_webhook",
    "signature",
    "to_incoming",
]

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/viber"
SIGNATURE_HEADER = "X-Viber-Content-Signature"
EVENT_TYPES = ["delivered", "seen", "failed", "subscribed", "unsubscribed", "conversation_started"]
"""Callbacks asked for in ``set_webhook`` (``message`` always comes)."""
SENDER_NAME_LIMIT = 28
_LINK = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
_PICTURE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif")
_OTHER_KINDS = {"sticker": "sticker", "video": "video", "file": "document"}
_RECENT_MESSAGES = 20
"""How far back in a chat a link button's URL is looked for (Viber shows the last keyboard)."""
_NOT_SUBSCRIBED = 6
_INVALID_TOKEN = 2
_TOO_MANY_REQUESTS = 12
_STATUSES = {
    1: "invalidUrl",
    2: "invalidAuthToken",
    3: "badData",
    4: "missingData",
    5: "receiverNotRegistered",
    6: "receiverNotSubscribed",
    7: "publicAccountBlocked",
    8: "publicAccountNotFound",
    9: "publicAccountSuspended",
    10: "webhookNotSet",
    11: "receiverNoSuitableDevice",
    12: "tooManyRequests",
    13: "apiVersionNotSupported",
    14: "incompatibleWithVersion",
}


class MalformedCallback(ValueError):
    """A ``message`` or ``conversation_started`` callback without the fields Viber always sends."""


def signature(token: str, body: bytes) -> str:
    """``X-Viber-Content-Signature`` of ``body``: HMAC-SHA256 keyed with the auth token, hex."""
    return hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def to_incoming(callback: Mapping[str, Any]) -> IncomingMessage | None:
    """Our message for a callback, or None for callbacks that carry no message from a shopper.

    Raises :class:`MalformedCallback` when a ``message`` or ``conversation_started`` lacks who
    sent it or what it is.
    """
    event = callback.get("event")
    if event == "message":
        return _from_message(callback)
    if event == "conversation_started":
        user = _person(callback.get("user"))
        context = callback.get("context")
        return IncomingMessage(
            channel=ViberChannel.name,
            chat_id=user["id"],
            user_id=user["id"],
            text="/start",
            display_name=user.get("name"),
            deeplink_payload=context[:256] if isinstance(context, str) and context else None,
            language_code=_language(user),
            source_id=_token(callback),
            received_at=_moment(callback.get("timestamp")),
            raw=dict(callback),
        )
    return None


def _person(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not isinstance(value.get("id"), str) or not value["id"]:
        raise MalformedCallback("the callback does not say who the shopper is")
    return dict(value)


def _token(callback: Mapping[str, Any]) -> str | None:
    token = callback.get("message_token")
    return str(token) if token is not None else None


def _language(person: Mapping[str, Any]) -> str | None:
    language = person.get("language")
    return language[:16] if isinstance(language, str) and language else None


def _moment(timestamp: object) -> datetime | None:
    if isinstance(timestamp, int) and not isinstance(timestamp, bool) and timestamp > 0:
        return datetime.fromtimestamp(timestamp / 1000, UTC)
    return None


def _from_message(callback: Mapping[str, Any]) -> IncomingMessage:
    sender = _person(callback.get("sender"))
    message = callback.get("message")
    if not isinstance(message, Mapping) or not isinstance(message.get("type"), str):
        raise MalformedCallback("the message callback has no message type")
    kind = message["type"]
    given = message.get("text")
    text = given if isinstance(given, str) else ""
    payload = None
    if kind == "text" and text.startswith(layout.VIBER_PAYLOAD_PREFIX):
        payload, text = text.removeprefix(layout.VIBER_PAYLOAD_PREFIX), ""
    elif kind == "url" and not text:
        text = str(message.get("media") or "")
    return IncomingMessage(
        channel=ViberChannel.name,
        chat_id=sender["id"],
        user_id=sender["id"],
        text=text,
        display_name=sender.get("name"),
        button_payload=payload,
        attachments=_attachments(kind, message, _token(callback)),
        language_code=_language(sender),
        source_id=_token(callback),
        received_at=_moment(callback.get("timestamp")),
        raw=dict(callback),
    )


def _attachments(
    kind: str, message: Mapping[str, Any], token: str | None
) -> tuple[Attachment, ...]:
    if kind == "picture":
        media = message.get("media")
        name = message.get("file_name")
        file_id = str(name) if name else f"viber-{token}"
        return (Photo(file_id, url=media if isinstance(media, str) and media else None),)
    if kind == "location":
        point = message.get("location")
        with contextlib.suppress(KeyError, TypeError, ValueError):
            return (Location(float(point["lat"]), float(point["lon"])),)  # type: ignore[index]
        return (OtherAttachment("location"),)
    if kind == "contact":
        contact = message.get("contact")
        if isinstance(contact, Mapping) and contact.get("phone_number"):
            name = contact.get("name")
            return (SharedContact(str(contact["phone_number"]), name if name else None),)
        return (OtherAttachment("contact"),)
    if kind in ("text", "url"):
        return ()
    return (OtherAttachment(_OTHER_KINDS.get(kind, kind)),)


def _is_url(text: str) -> bool:
    """Whether ``text`` is one link (``https://…``, ``tg://…``) and nothing else."""
    return _LINK.fullmatch(text) is not None


def keyboard_json(rows: Sequence[Sequence[Button]]) -> dict[str, Any]:
    """A Viber keyboard: each fitted row fills the 6-column grid.

    Every button is ``Silent`` ("whether the user action is presented in the conversation"):
    a press shows nothing in the chat. Viber still sends it to the bot as a text message, a
    reply button's as its marked ``ActionBody``, a link button's as its URL (see
    :meth:`ViberChannel._link_echo`).
    """
    buttons: list[dict[str, Any]] = []
    for row in rows:
        columns = 6 // len(row)
        for button in row:
            key: dict[str, Any] = {"Columns": columns, "Rows": 1, "Text": button.text}
            if button.url:
                key |= {"ActionType": "open-url", "ActionBody": button.url}
            else:
                body = layout.viber_action_body(button.payload or "")
                key |= {"ActionType": "reply", "ActionBody": body}
            key["Silent"] = True
            buttons.append(key)
    return {"Type": "keyboard", "DefaultHeight": False, "Buttons": buttons}


def _error(data: Mapping[str, Any]) -> SendError:
    status = data.get("status")
    name = _STATUSES.get(status, "generalError") if isinstance(status, int) else "generalError"
    description = str(data.get("status_message") or name)
    if status == _TOO_MANY_REQUESTS:
        return RetryAfter(1.0, description)
    if status == _NOT_SUBSCRIBED:
        return SendError("unsubscribed", f"Viber: the shopper is not subscribed ({description})")
    return SendError(name, description)


async def _post(
    session: aiohttp.ClientSession,
    settings: ViberSettings,
    endpoint: str,
    payload: Mapping[str, Any],
    within: float,
) -> dict[str, Any]:
    """One call of the REST API; raises :class:`SendError` unless Viber answers status 0."""
    assert settings.auth_token is not None
    token = settings.auth_token.get_secret_value()
    body = json.dumps({**payload, "auth_token": token}, ensure_ascii=False).encode()
    url = f"{settings.api_url.rstrip('/')}/{endpoint}"
    headers = {"X-Viber-Auth-Token": token, "Content-Type": "application/json"}
    client_timeout = aiohttp.ClientTimeout(total=within)
    try:
        async with session.post(url, data=body, headers=headers, timeout=client_timeout) as resp:
            if resp.status >= 500:
                raise SendError(
                    "unavailable", f"Viber answered HTTP {resp.status}", retryable=True
                )
            if resp.status != 200:
                raise SendError(str(resp.status), f"Viber answered HTTP {resp.status}")
            data = await resp.json(content_type=None)
    except TimeoutError:
        problem = f"Viber did not answer {endpoint} in {within:g} s"
        raise SendError("timeout", problem, retryable=True) from None
    except aiohttp.ClientConnectorError as exc:  # nothing was sent: safe to send again
        raise SendError("unreachable", f"Viber unreachable: {exc}", retryable=True) from exc
    except aiohttp.ClientError as exc:
        raise SendError("unavailable", f"Viber failed: {exc}", retryable=True) from exc
    except ValueError:
        raise SendError("error", f"Viber's answer to {endpoint} is not JSON") from None
    if not isinstance(data, dict):
        raise SendError("error", f"Viber's answer to {endpoint} is not a JSON object")
    if data.get("status") != 0:
        raise _error(data)
    return data


async def set_webhook(settings: ViberSettings, url: str, *, within: float = 10.0) -> list[str]:
    """Point the bot's webhook at ``url`` (Viber calls it at once); returns the events sent there.

    ``otklik viber set-webhook URL`` runs this; the bot must already be serving at ``url``.
    """
    async with aiohttp.ClientSession() as session:
        payload = {"url": url, "event_types": EVENT_TYPES, "send_name": True, "send_photo": False}
        answer = await _post(session, settings, "set_webhook", payload, within)
    return list(answer.get("event_types") or [])


@dataclasses.dataclass
class _Welcome:
    """The one message a ``conversation_started`` may be answered with, kept for the response."""

    chat_id: str
    token: str | None
    message: dict[str, Any] | None = None


_welcome: ContextVar[_Welcome | None] = ContextVar("viber_welcome", default=None)


class ViberChannel(Channel):
    """A Viber bot."""

    name: ClassVar[str] = "viber"

    def __init__(
        self,
        settings: ViberSettings,
        uow: Callable[[], UnitOfWork],
        *,
        clock: Clock | None = None,
        request_timeout: float = 10.0,
    ) -> None:
        super().__init__()
        if settings.auth_token is None:
            msg = "VIBER_AUTH_TOKEN is not set"
            raise ValueError(msg)
        self._settings = settings
        self._token = settings.auth_token.get_secret_value()
        self._uow = uow
        self._clock = clock or SystemClock()
        self._timeout = request_timeout
        sender = {"name": layout.shorten(settings.bot_name, SENDER_NAME_LIMIT)}
        if settings.bot_avatar:
            sender["avatar"] = settings.bot_avatar
        self._sender = sender
        self._http: aiohttp.ClientSession | None = None
        self._registering: asyncio.Task[None] | None = None
        self._problem: str | None = "not started"

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post(WEBHOOK_PATH, self._on_webhook)

    async def start(self) -> None:
        self._http = aiohttp.ClientSession()
        account = await self._call("get_account_info", {})
        log.info("Viber bot «%s» connected", account.get("name", "?"))
        self._problem = None
        if self._settings.webhook_url:
            self._problem = "the webhook is not registered yet"
            self._registering = asyncio.create_task(self._register(), name="viber-webhook")

    async def stop(self) -> None:
        await stop_task(self._registering)
        self._registering = None
        if self._http is not None:
            await self._http.close()
            self._http = None
        self._problem = "stopped"

    async def health(self) -> str | None:
        return self._problem

    async def webhook_registered(self) -> None:
        """Wait until the registration :meth:`start` began (``VIBER_WEBHOOK_URL``) succeeds."""
        if self._registering is not None:
            await asyncio.shield(self._registering)

    async def send(self, chat_id: str, reply: Reply, *, key: int | None = None) -> SentMessage:
        welcome = _welcome.get()
        if welcome is not None and welcome.chat_id == chat_id:
            return self._keep_welcome(welcome, reply)
        async with self._uow() as uow:
            unsubscribed = await uow.conversations.is_unsubscribed(self.name, chat_id)
        if unsubscribed:
            raise SendError("unsubscribed", "the shopper unsubscribed from the Viber bot")
        pieces = layout.fit(reply, layout.VIBER)
        done: list[tuple[Reply, SentMessage]] = []
        for piece in pieces:
            try:
                answer = await self._call(
                    "send_message", {"receiver": chat_id, **self._message(piece)}
                )
            except SendError as exc:  # later pieces must not repeat the ones already shown
                raise refused_after(exc, done, pieces) from exc
            token = answer.get("message_token")
            done.append((piece, SentMessage(source_id=str(token) if token is not None else None)))
        return done[-1][1]

    def _keep_welcome(self, welcome: _Welcome, reply: Reply) -> SentMessage:
        if welcome.message is not None:
            msg = "Viber allows one message before the shopper subscribes; this one was not sent"
            raise SendError("welcome_only", msg)
        first, *rest = layout.fit(reply, layout.VIBER)
        if rest:
            log.warning("Viber welcome: only the first part fits in the one allowed message")
            first = dataclasses.replace(first, buttons=rest[-1].buttons or first.buttons)
        welcome.message = self._message(first)
        return SentMessage(source_id=f"welcome-{welcome.token}")

    def _message(self, piece: Reply) -> dict[str, Any]:
        keyboard = keyboard_json(piece.buttons) if piece.buttons else None
        image = piece.image_url
        message: PictureMessage | TextMessage
        if image and image.lower().split("?", 1)[0].endswith(_PICTURE_SUFFIXES):
            message = PictureMessage(media=image, text=piece.text, keyboard=keyboard)
        else:
            text = f"{piece.text}\n\n{image}" if image else piece.text
            message = TextMessage(text=text, keyboard=keyboard)
        if not message.validate():
            raise SendError("400", f"not a valid Viber message: {message}")
        data: dict[str, Any] = message.to_dict()
        data["sender"] = self._sender
        return data

    async def _call(self, endpoint: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        if self._http is None:
            msg = "the Viber channel is not started"
            raise RuntimeError(msg)
        try:
            try:
                answer = await _post(self._http, self._settings, endpoint, payload, self._timeout)
            except SendError as exc:
                if exc.code != "unreachable":
                    raise
                await self._clock.sleep(1.0)
                answer = await _post(self._http, self._settings, endpoint, payload, self._timeout)
        except SendError as exc:
            if exc.code == _STATUSES[_INVALID_TOKEN]:
                self._problem = "the auth token was rejected"
            elif exc.code in ("unavailable", "unreachable", "timeout"):
                self._problem = exc.description
            if exc.code == "unsubscribed" and "receiver" in payload:
                await self._set_subscribed(str(payload["receiver"]), subscribed=False)
            raise
        if self._problem and self._problem.startswith("Viber"):
            self._problem = None
        return answer

    async def _register(self) -> None:
        url = str(self._settings.webhook_url)
        payload = {"url": url, "event_types": EVENT_TYPES, "send_name": True, "send_photo": False}
        delays = backoff_delays(limit=60.0)
        while True:
            try:
                await self._call("set_webhook", payload)
            except SendError as exc:
                self._problem = f"the webhook is not registered: {exc}"
                log.warning("Viber: %s; trying again", self._problem)
                await self._clock.sleep(next(delays))
            else:
                log.info("Viber webhook set to %s", url)
                self._problem = None
                return

    def _signed(self, body: bytes, given: str | None) -> bool:
        expected = signature(self._token, body)
        return given is not None and same_secret(given, expected)

    async def _on_webhook(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self._signed(body, request.headers.get(SIGNATURE_HEADER)):
            log.warning("Viber webhook: a callback without a valid signature; refused")
            return web.json_response({"error": "invalid signature"}, status=403)
        try:
            callback = parse_json(body)
        except ValueError:
            log.warning("Viber webhook: the body is not JSON; refused")
            return web.json_response({"error": "the body must be JSON"}, status=400)
        if not isinstance(callback, dict) or not isinstance(callback.get("event"), str):
            log.warning("Viber webhook: not a Viber callback; refused")
            return web.json_response({"error": "not a Viber callback"}, status=400)
        try:
            return await self._take(callback)
        except MalformedCallback as exc:
            log.warning(
                "Viber webhook: malformed %s callback (%s); refused", callback["event"], exc
            )
            return web.json_response({"error": str(exc)}, status=400)

    async def _take(self, callback: dict[str, Any]) -> web.Response:
        event = callback["event"]
        if event == "conversation_started":
            return await self._welcome(callback)
        if event == "message":
            message = to_incoming(callback)
            assert message is not None
            # Writing to a bot subscribes the shopper again (Viber sends no callback for it).
            await self._set_subscribed(message.user_id, subscribed=True, only_if_unsubscribed=True)
            if await self._link_echo(callback, message):
                await self._keep_without_turn(message)
            else:
                await self.answer(message)
        elif event in ("subscribed", "unsubscribed"):
            user_id = _person(callback.get("user"))["id"] if event == "subscribed" else None
            user_id = user_id or callback.get("user_id")
            if not isinstance(user_id, str) or not user_id:
                raise MalformedCallback(f"{event} does not say who")
            await self._set_subscribed(user_id, subscribed=event == "subscribed")
            log.info("Viber: shopper %s %s", user_id, event)
        elif event == "failed":
            await self._undelivered(callback)
        elif event not in ("webhook", "delivered", "seen"):
            log.info("Viber %s callback is not handled by the bot; ignored", event)
        return web.json_response({"status": 0})

    async def _undelivered(self, callback: Mapping[str, Any]) -> None:
        """Viber took a reply but could not deliver it: its record says so (not ``sent``)."""
        user_id = callback.get("user_id")
        token = callback.get("message_token")
        description = str(callback.get("desc") or "failed")[:500]
        recorded = False
        if isinstance(user_id, str) and user_id and token is not None:
            async with self._uow() as uow:
                conversation = await uow.conversations.find_by_chat(self.name, user_id)
                if conversation is not None:
                    recorded = await uow.messages.mark_undelivered(
                        conversation, str(token), "undelivered", description
                    )
                await uow.commit()
        log.warning(
            "Viber: message %s to %s was not delivered: %s%s",
            token,
            user_id,
            description,
            "" if recorded else " (no such reply on record)",
        )

    async def _link_echo(self, callback: Mapping[str, Any], message: IncomingMessage) -> bool:
        """Whether ``message`` is Viber's copy of a press on one of our link buttons.

        Viber opens an ``open-url`` button's URL and also sends it to the bot as a text message
        from the shopper. It is no question: answering it would put the fallback's keyboard in
        place of the one the shopper pressed (Viber shows only the last keyboard). It is a
        message that is only a URL, and either marked ``silent`` (from a ``Silent`` button: our
        reply buttons' presses carry the payload mark instead) or a URL one of the bot's recent
        replies in this chat has on a button.
        """
        url = message.text.strip()
        if message.button_payload is not None or message.attachments or not _is_url(url):
            return False
        if callback.get("silent") is True:
            return True
        async with self._uow() as uow:
            conversation = await uow.conversations.find_by_chat(self.name, message.chat_id)
            if conversation is None:
                return False
            recent = await uow.messages.history(conversation, limit=_RECENT_MESSAGES)
        return any(
            button.get("url") == url
            for stored in recent
            if stored.direction == "out"
            for row in stored.buttons or ()
            for button in row
        )

    async def _keep_without_turn(self, message: IncomingMessage) -> None:
        """Store ``message`` like every other one, but run no turn: nothing is answered."""
        async with self._uow() as uow:
            ref = await uow.conversations.file_incoming(message, self._clock.now())
            await uow.commit()
        log.info(
            "Viber: conversation %s: a link button press (%s) is kept, not answered",
            ref.conversation_id,
            message.source_id,
        )

    async def _welcome(self, callback: dict[str, Any]) -> web.Response:
        message = to_incoming(callback)
        assert message is not None
        if callback.get("subscribed") is True:  # Viber knows better than a stale record
            await self._set_subscribed(message.user_id, subscribed=True, only_if_unsubscribed=True)
        welcome = _Welcome(message.chat_id, message.source_id)
        reset = _welcome.set(welcome)
        try:
            await self.answer(message)
        finally:
            _welcome.reset(reset)
        if welcome.message is None:
            return web.json_response({"status": 0})
        return web.json_response(welcome.message, dumps=partial(json.dumps, ensure_ascii=False))

    async def _set_subscribed(
        self, user_id: str, *, subscribed: bool, only_if_unsubscribed: bool = False
    ) -> None:
        async with self._uow() as uow:
            repository = uow.conversations
            if only_if_unsubscribed and not await repository.is_unsubscribed(self.name, user_id):
                return
            await repository.set_subscribed(self.name, user_id, subscribed, self._clock.now())
            await uow.commit()
