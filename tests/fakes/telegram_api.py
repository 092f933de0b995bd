"""A stand-in Telegram Bot API server for tests and benchmarks (opsdroid's ExternalAPIMockServer).

It serves ``/bot<TOKEN>/<method>`` on 127.0.0.1 and a random port, and the bot reaches it
through ``TELEGRAM_API_URL``, so every request crosses real HTTP exactly as it would to
api.telegram.org. It answers like the Bot API does — the ``{"ok": ..., "result": ...}``
envelope, 401 for a wrong token, 409 for getUpdates while a webhook is set, 400 for an empty
or over-long text — and it records every call with its parameters parsed (aiogram posts form
fields with JSON-encoded objects; JSON bodies are accepted too).

A test can:

* queue updates for ``getUpdates`` (``push_update``); a long poll waits on an event, never a
  blind sleep, and returns as soon as an update is queued;
* queue responses for a method (``respond``, ``fail``), e.g. one 429 before the default success,
  or a 429 for the second message of a reply (``after=1``);
* read what a chat shows (``chat``): the messages the API accepted, in order;
* await the next call of a method (``next_call``) or the moment the bot confirmed an update by
  polling past it (``confirmed``), each with a deadline.

Usage::

    async with TelegramAPIStandIn() as api:
        settings = make_settings(**api.env())
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tests.fakes.base import BaseApiStandIn

__all__ = [
    "FIXTURES",
    "SECRET_HEADER",
    "TOKEN",
    "ApiCall",
    "TelegramAPIStandIn",
    "fixture_update",
    "parse_params",
]

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TOKEN = "123456789:AAH-stand-in-token_for-tests"  # not a real token
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "telegram"

BOT_USER = {
    "id": 123456789,
    "is_bot": True,
    "first_name": "Отклик",
    "username": "otklik_test_bot",
    "can_join_groups": True,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
MESSAGE_DATE = 1767268800  # 2026-01-01 12:00 UTC, so answers are reproducible
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64  # bytes

# Fields the Bot API takes as JSON-serialized objects when they arrive as form fields.
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "allowed_updates",
        "entities",
        "caption_entities",
        "link_preview_options",
        "reply_parameters",
        "media",
        "commands",
        "scope",
        "results",
    }
)


def fixture_update(name: str, **changes: Any) -> dict[str, Any]:
    """The update stored in ``tests/fixtures/telegram/<name>.json``, with top-level ``changes``."""
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    data.update(changes)
    return data


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request the bot made: the method, its parsed parameters and when it arrived."""

    method: str
    params: Mapping[str, Any]
    token: str
    at: float = field(default_factory=time.perf_counter)


@dataclass(frozen=True, slots=True)
class _Response:
    status: int
    body: Mapping[str, Any]
    page: str | None = None
    """Not the Bot API's JSON but this text as an HTML page (a proxy's error page)."""


async def parse_params(request: web.Request) -> dict[str, Any]:
    """The call's parameters from the query string and a JSON, urlencoded or multipart body.

    Form values are strings, as Telegram receives them; the fields the Bot API defines as
    JSON-serialized (``reply_markup``, ``allowed_updates``...) are decoded. Uploaded files become
    ``{"filename": ..., "size": ...}``.
    """
    params: dict[str, Any] = dict(request.query)
    if not request.can_read_body:
        return params
    if request.content_type == "application/json":
        body = await request.json()
        if isinstance(body, dict):
            params.update(body)
        return params
    form = await request.post()
    for key, value in form.items():
        if isinstance(value, web.FileField):
            params[key] = {"filename": value.filename, "size": len(value.file.read())}
        elif key in JSON_FIELDS:
            params[key] = json.loads(value)
        else:
            params[key] = value
    return params


def _error(status: int, description: str, **parameters: Any) -> _Response:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        body["parameters"] = parameters
    return _Response(status, body)


def _ok(result: Any) -> _Response:
    return _Response(200, {"ok": True, "result": result})


def _chat_id(params: Mapping[str, Any]) -> int | str:
    value = params.get("chat_id")
    if value is None:
        msg = "chat_id is required"
        raise _BadRequest(msg)
    text = str(value)
    return int(text) if text.lstrip("-").isdigit() else text


class _BadRequest(Exception):
    """The call breaks a Bot API rule; answered with 400 and the description Telegram uses."""


Handler = Callable[[Mapping[str, Any]], Awaitable[_Response]]


class TelegramAPIStandIn(BaseApiStandIn[ApiCall, _Response | None]):
    """An aiohttp app that answers Bot API calls and records them per method.

    Methods are case-insensitive, as in the Bot API: calls are recorded and answers queued under
    the lower-cased name. A queued None stands for the default answer (``respond(after=)``).
    """

    def __init__(self, token: str = TOKEN, *, host: str = "127.0.0.1") -> None:
        super().__init__(host=host)
        self.token = token
        self.webhook: dict[str, Any] | None = None
        self.commands: dict[str | None, list[tuple[str, str]]] = {}
        """The command lists set, by language code (None: the default list)."""
        self._chats: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._holds: dict[str, asyncio.Event] = {}
        self._updates: list[dict[str, Any]] = []
        self._confirmed = 0
        self._update_ids = itertools.count(700000001)
        self._message_ids: dict[int | str, itertools.count[int]] = {}
        self._methods: dict[str, Handler] = {
            "getme": self._get_me,
            "getupdates": self._get_updates,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "setmycommands": self._set_my_commands,
            "getwebhookinfo": self._get_webhook_info,
            "sendmessage": self._send_message,
            "sendphoto": self._send_photo,
            "answercallbackquery": self._answer_callback_query,
        }

    # configuration -----------------------------------------------------------------------

    def webhook_headers(self) -> dict[str, str]:
        """The headers Telegram sends with each webhook POST: the registered secret token."""
        if self.webhook is None:
            msg = "no webhook is set"
            raise RuntimeError(msg)
        secret = self.webhook.get("secret_token")
        return {SECRET_HEADER: str(secret)} if secret else {}

    def env(self, **extra: str) -> dict[str, str]:
        """Environment variables that point a bot at this stand-in, plus ``extra``."""
        return {"TELEGRAM_BOT_TOKEN": self.token, "TELEGRAM_API_URL": self.url, **extra}

    def app(self) -> web.Application:
        """The aiohttp application (for mounting it elsewhere)."""
        app = web.Application(client_max_size=50 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        return app

    # what the test arranges --------------------------------------------------------------

    def push_update(self, update: Mapping[str, Any]) -> int:
        """Queue an update for getUpdates and return the ``update_id`` it was given.

        Like Telegram, the stand-in numbers updates itself, in increasing order (an id in
        ``update`` is replaced), so offsets behave as they do against the real API.
        """
        data = {**update, "update_id": next(self._update_ids)}
        self._updates.append(data)
        self._notify()
        return int(data["update_id"])

    def respond(
        self, method: str, body: Mapping[str, Any], *, status: int = 200, after: int = 0
    ) -> None:
        """Answer a call of ``method`` with ``body``; other calls get the default.

        It is the next call not yet spoken for by earlier ``respond`` calls, or the one after
        ``after`` more calls that get the default answer.
        """
        self._queue(method.lower(), *[None] * after, _Response(status, body))

    def fail(
        self,
        method: str,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        after: int = 0,
    ) -> None:
        """Answer a call of ``method`` (as :meth:`respond` picks it) with a Bot API error."""
        extra = {"retry_after": retry_after} if retry_after is not None else {}
        error = _error(status, description, **extra)
        self.respond(method, error.body, status=error.status, after=after)

    def page(self, method: str, status: int, html: str) -> None:
        """Answer a call of ``method`` with an HTML page instead of JSON, as a proxy in front of
        the Bot API does when it fails (``502 Bad Gateway``)."""
        self._queue(method.lower(), _Response(status, {}, page=html))

    def hold(self, method: str) -> asyncio.Event:
        """Keep the next call of ``method`` waiting (a platform that is slow to answer) until
        the returned event is set; then it is answered as usual."""
        gate = asyncio.Event()
        self._holds[method.lower()] = gate
        return gate

    # what the test observes --------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[ApiCall]:
        """Every call so far, or those of ``method``, oldest first."""
        if method is None:
            return list(self._log)
        return list(self._calls.get(method.lower(), []))

    def chat(self, chat_id: int | str) -> list[dict[str, Any]]:
        """The messages the bot got into ``chat_id`` (sent and accepted), oldest first."""
        return list(self._chats[str(chat_id)])

    def methods(self) -> list[str]:
        """The methods called so far, in order."""
        return [call.method for call in self._log]

    async def next_call(self, method: str, *, within: float = 5.0) -> ApiCall:
        """The first call of ``method`` not yet returned by this function, waiting for it."""
        with self._failing(f"no new {method} call", within):
            return await self._next_call(method.lower(), within)

    async def confirmed(self, update_id: int, *, within: float = 5.0) -> None:
        """Wait until the bot polls with an offset past ``update_id``: it finished that update.

        That is Telegram's own acknowledgement, and in this bot it comes only after the
        update's replies were sent and stored.
        """
        with self._failing(f"update {update_id} was not confirmed by a later getUpdates", within):
            await self._wait_for(lambda: self._confirmed >= update_id, within)

    @contextlib.contextmanager
    def _failing(self, what: str, within: float) -> Iterator[None]:
        """Turn a missed deadline into an AssertionError that lists the calls so far."""
        try:
            yield
        except TimeoutError:
            msg = f"{what} within {within} s; calls so far: {self.methods()}"
            raise AssertionError(msg) from None

    # the HTTP side -----------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        token = request.match_info["token"]
        try:
            params = await parse_params(request)
        except (ValueError, UnicodeDecodeError):
            return self._reply(_error(400, "Bad Request: can't parse request parameters"))
        self._record(method.lower(), ApiCall(method, params, token))
        gate = self._holds.pop(method.lower(), None)
        if gate is not None:
            await gate.wait()
        if token != self.token:
            return self._reply(_error(401, "Unauthorized"))
        answer = self._planned(method.lower())
        if answer is not None:
            return self._reply(answer)
        handler = self._methods.get(method.lower())
        if handler is None:
            return self._reply(_error(404, "Not Found"))
        try:
            return self._reply(await handler(params))
        except _BadRequest as exc:
            return self._reply(_error(400, f"Bad Request: {exc}"))

    @staticmethod
    def _reply(response: _Response) -> web.Response:
        if response.page is not None:
            return web.Response(
                text=response.page, status=response.status, content_type="text/html"
            )
        return web.json_response(dict(response.body), status=response.status)

    async def _get_me(self, params: Mapping[str, Any]) -> _Response:
        return _ok(BOT_USER)

    async def _get_updates(self, params: Mapping[str, Any]) -> _Response:
        if self.webhook is not None:
            return _error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = int(params.get("offset") or 0)
        limit = int(params.get("limit") or 100)
        timeout = float(params.get("timeout") or 0)
        if offset > 0:
            # Telegram forgets every update below the offset: they are confirmed.
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            self._confirmed = max(self._confirmed, offset - 1)
            self._notify()
        if timeout > 0:
            # A long poll: return as soon as an update is queued, or empty at the timeout.
            with contextlib.suppress(TimeoutError):
                await self._wait_for(
                    lambda: bool(self._updates) or self._closing.is_set(), timeout
                )
        return _ok(self._updates[:limit])

    async def _set_webhook(self, params: Mapping[str, Any]) -> _Response:
        url = params.get("url")
        if not url:
            self.webhook = None
            return _ok(True)
        secret = params.get("secret_token")
        if secret is not None and not _valid_secret(str(secret)):
            raise _BadRequest("secret token contains unallowed characters")
        self.webhook = dict(params)
        return _ok(True)

    async def _delete_webhook(self, params: Mapping[str, Any]) -> _Response:
        self.webhook = None
        if str(params.get("drop_pending_updates", "")).lower() in {"true", "1"}:
            self._updates.clear()
        return _ok(True)

    async def _set_my_commands(self, params: Mapping[str, Any]) -> _Response:
        commands = params.get("commands")
        if isinstance(commands, str):
            commands = json.loads(commands)
        language = params.get("language_code") or None
        self.commands[language] = [(c["command"], c["description"]) for c in commands or []]
        return _ok(True)

    async def _get_webhook_info(self, params: Mapping[str, Any]) -> _Response:
        url = self.webhook.get("url", "") if self.webhook else ""
        return _ok(
            {
                "url": url,
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }
        )

    async def _send_message(self, params: Mapping[str, Any]) -> _Response:
        text = str(params.get("text") or "")
        if not text.strip():
            raise _BadRequest("message text is empty")
        if len(text) > TEXT_LIMIT:
            raise _BadRequest("message is too long")
        message = self._message(params)
        message["text"] = text
        self._chats[str(message["chat"]["id"])].append(message)
        return _ok(message)

    async def _send_photo(self, params: Mapping[str, Any]) -> _Response:
        if not params.get("photo"):
            raise _BadRequest("there is no photo in the request")
        caption = params.get("caption")
        if caption is not None and len(str(caption)) > CAPTION_LIMIT:
            raise _BadRequest("message caption is too long")
        message = self._message(params)
        name = f"{message['chat']['id']}-{message['message_id']}"
        message["photo"] = [
            {
                "file_id": f"photo-{name}-{side}",
                "file_unique_id": f"u-photo-{name}-{side}",
                "width": side,
                "height": side,
            }
            for side in (90, 320, 800)
        ]
        if caption:
            message["caption"] = str(caption)
        self._chats[str(message["chat"]["id"])].append(message)
        return _ok(message)

    async def _answer_callback_query(self, params: Mapping[str, Any]) -> _Response:
        if not params.get("callback_query_id"):
            raise _BadRequest(
                "query is too old and response timeout expired or query ID is invalid"
            )
        return _ok(True)

    def _message(self, params: Mapping[str, Any]) -> dict[str, Any]:
        chat_id = _chat_id(params)
        markup = params.get("reply_markup")
        if isinstance(markup, Mapping):
            _check_keyboard(markup)
        # "Unique message identifier inside this chat": every chat counts from 1 on its own.
        numbers = self._message_ids.setdefault(chat_id, itertools.count(1))
        message: dict[str, Any] = {
            "message_id": next(numbers),
            "from": BOT_USER,
            "chat": {"id": chat_id, "type": "private", "first_name": "Покупатель"},
            "date": MESSAGE_DATE,
        }
        if isinstance(markup, Mapping) and "inline_keyboard" in markup:
            message["reply_markup"] = dict(markup)
        return message


def _check_keyboard(markup: Mapping[str, Any]) -> None:
    for row in markup.get("inline_keyboard", []):
        for button in row:
            if not button.get("text"):
                raise _BadRequest("text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and len(str(data).encode()) > CALLBACK_DATA_LIMIT:
                raise _BadRequest("BUTTON_DATA_INVALID")


def _valid_secret(secret: str) -> bool:
    # setWebhook: 1-256 characters, only A-Z, a-z, 0-9, _ and -.
    allowed = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
    return 0 < len(secret) <= 256 and set(secret) <= allowed
