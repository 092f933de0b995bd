"""VK through vk-api: Bots Long Poll by default, the Callback API when its secret is set.

This module is translation plus transport. :func:`to_incoming` turns a community event
(``message_new``, ``message_event``; the same JSON from Long Poll and from the Callback API) into
our :class:`~bots.messages.IncomingMessage` and is tested on recorded JSON;
:meth:`VkChannel.send` renders a :class:`~bots.messages.Reply` as ``messages.send`` calls with an
inline keyboard, fitted by :mod:`bots.layout`.

vk-api is synchronous, so every method call runs in a worker thread. Three of its defaults do not
suit a community bot and are replaced here, not patched in the library:

* it posts to a fixed ``https://api.vk.ru/method/``; a requests adapter mounted on the session
  sends those calls to ``VK_API_URL`` instead (a proxy, or the stand-in in tests) and gives every
  call a timeout, which vk-api never sets;
* it spaces calls 0.34 s apart (the user-token limit) and sleeps in the thread on error 6;
  calls are paced instead by :class:`RateLimit` at the community-token limit of 20 a second, on
  the injected clock;
* it retries nothing; a send that timed out or met a VK server error is sent again with the same
  ``random_id``, which VK uses to drop the copy, so a lost answer never doubles a message.

The long-poll request itself is made with aiohttp rather than ``VkBotLongPoll``: a thread blocked
in a 25-second request cannot be cancelled, and stopping the bot would wait for it. The position
(``ts``) of the last batch whose events are all stored is saved in the database
(``channel_cursors``), so a restarted bot resumes there and takes what shoppers wrote while it was
down, instead of starting from the newest event VK hands out.

The module is longer than the 400-line mark because it carries both ways VK delivers events and
the transport vk-api lacks; the pure translation comes first and could move to a module of its
own without touching the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import aiohttp
import requests
from aiohttp import web
from requests.adapters import HTTPAdapter
from vk_api import VkApi
from vk_api.exceptions import TOO_MANY_RPS_CODE, ApiError, ApiHttpError, VkApiError
from vk_api.vk_api import jconfig  # vk-api's own config package (untyped, like vk-api)

from bots import layout
from bots.channel import (
    Channel,
    RetryAfter,
    SendError,
    backoff_delays,
    parse_json,
    part_key,
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
)
from config.settings import VkSettings
from dialogs.clock import Clock, SystemClock
from storage.ratelimit import Limit, RateLimiter
from storage.uow import UnitOfWork

__all__ = ["WEBHOOK_PATH", "MalformedEvent", "RateLimit", "VkChannel", "to_incoming"]

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/vk"
COMMUNITY_RATE = 20
"""Calls a second a community token may make (dev.vk.com, "Messages from the bot")."""
LONG_POLL_WAIT = 25
SEND_ATTEMPTS = 3
_LANGUAGES = {0: "ru", 1: "uk", 2: "be", 3: "en", 4: "es", 5: "fi", 6: "de", 7: "it"}
_OTHER_KINDS = {
    "audio_message": "voice",
    "sticker": "sticker",
    "video": "video",
    "audio": "audio",
    "doc": "document",
}
_AUTH_FAILED = 5
_RETRY_IN_PLACE = frozenset({1, 10, TOO_MANY_RPS_CODE})  # unknown, internal, too many requests


class MalformedEvent(ValueError):
    """A ``message_new`` or ``message_event`` without the fields VK always sends."""


def to_incoming(event: Mapping[str, Any]) -> IncomingMessage | None:
    """Our message for a community event, or None for event types the bot does not handle.

    Raises :class:`MalformedEvent` when a handled event lacks its peer or user.
    """
    kind = event.get("type")
    body = event.get("object")
    if kind not in ("message_new", "message_event"):
        return None
    if not isinstance(body, Mapping):
        raise MalformedEvent(f"{kind} has no object")
    try:
        if kind == "message_new":
            return _from_message(event, body)
        return _from_button_event(event, body)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        if isinstance(exc, MalformedEvent):
            raise
        # A field of an unexpected shape: the same event would fail the same way every time,
        # so it is malformed (skipped and logged), not a failure worth retrying forever.
        raise MalformedEvent(f"{kind}: {type(exc).__name__}: {exc}") from exc


def _int(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise MalformedEvent(f"{what} is missing")
    try:
        return int(value)
    except ValueError:
        raise MalformedEvent(f"{what} is not a number") from None


def _from_message(event: Mapping[str, Any], body: Mapping[str, Any]) -> IncomingMessage:
    # API 5.103+ wraps the message with client_info; older versions send the message itself.
    message = body.get("message", body)
    if not isinstance(message, Mapping):
        raise MalformedEvent("message_new has no message")
    peer_id = _int(message.get("peer_id"), "peer_id")
    from_id = _int(message.get("from_id", peer_id), "from_id")
    text = message.get("text") or ""
    payload, start = _payload(message.get("payload"))
    if start:
        text = "/start"
    elif payload is not None and _ours(message.get("payload")):
        text = ""  # a press of our button: its label is in raw, the payload says what it meant
    client = body.get("client_info")
    language = _LANGUAGES.get(client.get("lang_id", -1)) if isinstance(client, Mapping) else None
    return IncomingMessage(
        channel=VkChannel.name,
        chat_id=str(peer_id),
        user_id=str(from_id),
        text=text if isinstance(text, str) else "",
        button_payload=payload,
        deeplink_payload=_deeplink(message),
        attachments=_attachments(message),
        language_code=language,
        source_id=_source_id(event, message, peer_id),
        received_at=_date(message.get("date")),
        raw=_raw(event),
    )


def _from_button_event(event: Mapping[str, Any], body: Mapping[str, Any]) -> IncomingMessage:
    peer_id = _int(body.get("peer_id"), "peer_id")
    user_id = _int(body.get("user_id"), "user_id")
    payload, start = _payload(body.get("payload"))
    source = event.get("event_id") or body.get("event_id")
    return IncomingMessage(
        channel=VkChannel.name,
        chat_id=str(peer_id),
        user_id=str(user_id),
        text="/start" if start else "",
        button_payload=payload,
        source_id=str(source) if source else None,
        raw=_raw(event),
    )


def _raw(event: Mapping[str, Any]) -> dict[str, Any]:
    # Kept with the message for troubleshooting; the Callback API secret must not be stored.
    return {key: value for key, value in event.items() if key != "secret"}


def _decoded(raw: object) -> object:
    if isinstance(raw, str):
        try:
            return parse_json(raw)
        except ValueError:
            return raw
    return raw


def _ours(raw: object) -> bool:
    data = _decoded(raw)
    return isinstance(data, Mapping) and isinstance(data.get("p"), str)


def _payload(raw: object) -> tuple[str | None, bool]:
    """(our payload, whether it is VK's «Start» button) for a button's payload."""
    if raw is None or raw == "":
        return None, False
    data = _decoded(raw)
    if isinstance(data, Mapping):
        if data.get("command") == "start":
            return None, True
        if isinstance(data.get("p"), str):
            return str(data["p"]), False
    return (raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)), False


def _deeplink(message: Mapping[str, Any]) -> str | None:
    # vk.me/club1?ref=qr-store-12&ref_source=poster: ref names the entry point (the Telegram
    # /start payload's twin); ref_source, where the link was posted, stays in raw.
    for key in ("ref", "ref_source"):
        value = message.get(key)
        if isinstance(value, str) and value:
            return value[:256]
    return None


def _source_id(event: Mapping[str, Any], message: Mapping[str, Any], peer_id: int) -> str | None:
    if event.get("event_id"):
        return str(event["event_id"])
    if message.get("conversation_message_id") is not None:
        return f"{peer_id}:{message['conversation_message_id']}"
    return str(message["id"]) if message.get("id") else None


def _date(value: object) -> datetime | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, UTC)
    return None


def _attachments(message: Mapping[str, Any]) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    items = message.get("attachments")
    for item in items if isinstance(items, list) else []:
        kind = item.get("type") if isinstance(item, Mapping) else None
        if kind == "photo":
            found.append(_photo(item.get("photo")))
        elif kind == "link" or not isinstance(kind, str):
            continue  # a link preview repeats what the text says
        else:
            found.append(OtherAttachment(_OTHER_KINDS.get(kind, kind)))
    geo = message.get("geo")
    if isinstance(geo, Mapping) and isinstance(geo.get("coordinates"), Mapping):
        point = geo["coordinates"]
        with contextlib.suppress(TypeError, ValueError):
            found.append(Location(float(point["latitude"]), float(point["longitude"])))
    return tuple(found)


def _photo(photo: object) -> Photo:
    if not isinstance(photo, Mapping):
        return Photo(file_id="photo")
    file_id = f"photo{photo.get('owner_id', '')}_{photo.get('id', '')}"
    if photo.get("access_key"):
        file_id += f"_{photo['access_key']}"
    sizes = [s for s in photo.get("sizes") or [] if isinstance(s, Mapping) and s.get("url")]
    original = photo.get("orig_photo")
    if isinstance(original, Mapping) and original.get("url"):
        sizes.append(original)
    if not sizes:
        return Photo(file_id=file_id)  # kept without a URL: the operator can still find it
    largest = max(sizes, key=lambda s: int(s.get("width") or 0) * int(s.get("height") or 0))
    return Photo(
        file_id=file_id,
        url=str(largest["url"]),
        width=largest.get("width"),
        height=largest.get("height"),
    )


def keyboard_json(rows: Sequence[Sequence[Button]]) -> str:
    """An inline keyboard for ``messages.send``: text buttons with payloads, link buttons."""
    buttons = [
        [
            {"action": {"type": "open_link", "link": b.url, "label": b.text}}
            if b.url
            else {
                "action": {
                    "type": "text",
                    "label": b.text,
                    "payload": layout.vk_payload(b.payload or ""),
                },
                "color": "secondary",
            }
            for b in row
        ]
        for row in rows
    ]
    return json.dumps({"inline": True, "buttons": buttons}, ensure_ascii=False)


class RateLimit:
    """At most ``rate`` calls in any ``period`` seconds, waiting on ``clock`` when over.

    A sliding window in this process, and, when ``shared`` is given, a count per second
    under ``key`` that every worker using the same community token shares (Redis when
    ``REDIS_URL`` is set): VK's limit is per token, not per process.
    """

    def __init__(
        self,
        clock: Clock,
        rate: int = COMMUNITY_RATE,
        period: float = 1.0,
        *,
        shared: RateLimiter | None = None,
        key: str = "vk",
    ) -> None:
        self._clock = clock
        self._rate = rate
        self._period = period
        self._calls: deque[datetime] = deque(maxlen=rate)
        self._lock = asyncio.Lock()
        self._shared = shared
        self._key = key

    async def acquire(self) -> None:
        """Wait until one more call fits in the window, then count it."""
        async with self._lock:
            if len(self._calls) == self._rate:
                elapsed = (self._clock.now() - self._calls[0]).total_seconds()
                if elapsed < self._period:
                    await self._clock.sleep(self._period - elapsed)
            if self._shared is not None:
                limit = Limit(hits=self._rate, window=max(1, round(self._period)))
                while wait := await self._shared.hit(self._key, limit, self._clock.now()):
                    await self._clock.sleep(wait)
            self._calls.append(self._clock.now())


class _MethodsTo(HTTPAdapter):
    """Sends vk-api's method calls to ``base`` and bounds each with a timeout."""

    def __init__(self, base: str, timeout: float) -> None:
        super().__init__(max_retries=0)
        self._base = base.rstrip("/")
        self._timeout = timeout

    def send(  # noqa: PLR0917 - the signature requests calls
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        method = (request.url or "").split("/method/", 1)[-1]
        request.url = f"{self._base}/{method}"
        return super().send(
            request,
            stream=stream,
            timeout=timeout or self._timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


class VkChannel(Channel):
    """A VK community's messages."""

    name: ClassVar[str] = "vk"

    def __init__(
        self,
        settings: VkSettings,
        *,
        clock: Clock | None = None,
        request_timeout: float = 10.0,
        long_poll_wait: int = LONG_POLL_WAIT,
        limiter: RateLimiter | None = None,
        uow: Callable[[], UnitOfWork] | None = None,
    ) -> None:
        super().__init__()
        if settings.group_token is None:
            msg = "VK_GROUP_TOKEN is not set"
            raise ValueError(msg)
        if settings.group_id is None:
            msg = "VK_GROUP_ID is not set (the community's numeric id)"
            raise ValueError(msg)
        if (settings.confirmation_code is None) != (settings.secret is None):
            # One of the two alone would quietly mean Long Poll, not the webhook meant.
            msg = "the Callback API needs both VK_CONFIRMATION_CODE and VK_SECRET (or neither)"
            raise ValueError(msg)
        self._settings = settings
        self._token = settings.group_token.get_secret_value()
        self.group_id = settings.group_id
        self._clock = clock or SystemClock()
        self._timeout = request_timeout
        self._wait = long_poll_wait
        self._limit = RateLimit(self._clock, shared=limiter, key=f"vk:calls:{self.group_id}")
        self._api: VkApi | None = None
        self._http: aiohttp.ClientSession | None = None
        self._polling: asyncio.Task[None] | None = None
        self._problem: str | None = "not started"
        # Where the long-poll position is saved; without it (a channel used on its own) every
        # start begins at VK's newest event, as the Bots Long Poll API does by itself.
        self._uow = uow
        self._cursor = f"vk:{self.group_id}"
        self._saved_ts: str | None = None

    @property
    def callback_mode(self) -> bool:
        """True when VK pushes events to ``/webhooks/vk`` instead of us long-polling."""
        return bool(self._settings.confirmation_code and self._settings.secret)

    def add_routes(self, app: web.Application) -> None:
        if self.callback_mode:
            app.router.add_post(WEBHOOK_PATH, self._on_webhook)

    async def start(self) -> None:
        session = requests.Session()
        adapter = _MethodsTo(self._settings.api_url, self._timeout)
        for prefix in ("https://api.vk.ru/method/", "https://api.vk.com/method/"):
            session.mount(prefix, adapter)
        api = VkApi(
            token=self._token,
            api_version=self._settings.api_version,
            config=jconfig.MemoryConfig,  # never reads or writes vk_config.v2.json
            session=session,
        )
        api.RPS_DELAY = 0.0  # paced by RateLimit instead of vk-api's user-token delay
        del api.error_handlers[TOO_MANY_RPS_CODE]  # waited out on our clock, not in a thread
        self._api = api
        found = await self._call("groups.getById", {"group_id": self.group_id})
        groups = found.get("groups", []) if isinstance(found, Mapping) else found
        title = groups[0].get("name") if groups else self.group_id
        log.info("VK community «%s» connected", title)
        if not self.callback_mode:
            server = await self._long_poll_server()
            ts = await self._resume_from(server)
            self._http = aiohttp.ClientSession()
            self._polling = asyncio.create_task(self._poll(server, ts), name="vk-long-poll")
        self._problem = None

    async def stop(self) -> None:
        await stop_task(self._polling)
        self._polling = None
        await self.stop_background()
        if self._http is not None:
            await self._http.close()
            self._http = None
        if self._api is not None:
            self._api.http.close()
            self._api = None
        self._problem = "stopped"

    async def health(self) -> str | None:
        if self._polling is not None and self._polling.done():
            return "long polling stopped"
        return self._problem

    async def send(self, chat_id: str, reply: Reply, *, key: int | None = None) -> SentMessage:
        try:
            peer_id = int(chat_id)
        except ValueError:
            raise SendError("400", f"{chat_id!r} is not a VK peer id") from None
        pieces = layout.fit(reply, layout.VK)
        done: list[tuple[Reply, SentMessage]] = []
        for index, piece in enumerate(pieces):
            params: dict[str, Any] = {
                "peer_id": peer_id,
                "message": piece.text,
                "random_id": _random_id(key, index),  # the same in every resend
            }
            if piece.buttons:
                params["keyboard"] = keyboard_json(piece.buttons)
            try:
                message_id = await self._call("messages.send", params, attempts=SEND_ATTEMPTS)
            except SendError as exc:  # later pieces must not repeat the ones already shown
                raise refused_after(exc, done, pieces) from exc
            sent = SentMessage(source_id=str(message_id) if message_id is not None else None)
            done.append((piece, sent))
        return done[-1][1]

    async def _call(self, method: str, params: dict[str, Any], *, attempts: int = 1) -> Any:
        """Run one API method off the event loop; retry ``attempts`` times where VK says so."""
        if self._api is None:
            msg = "the VK channel is not started"
            raise RuntimeError(msg)
        delays = backoff_delays(0.5)
        for attempt in range(1, attempts + 1):
            await self._limit.acquire()
            try:
                result = await asyncio.to_thread(self._api.method, method, params)
            except (VkApiError, requests.RequestException) as exc:
                error = self._error(method, exc)
                if attempt == attempts or not error.retryable:
                    raise error from exc
                log.info("VK %s: %s; trying again (attempt %d)", method, error, attempt + 1)
                await self._clock.sleep(next(delays))
            else:
                if self._problem and not self._problem.startswith("not"):
                    self._problem = None
                return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _error(self, method: str, exc: Exception) -> SendError:
        if isinstance(exc, ApiError):
            code = int(exc.code)
            text = str(exc.error.get("error_msg", exc))
            if code == _AUTH_FAILED:
                self._problem = f"the community token was rejected: {text}"
                log.error("VK %s: %s", method, self._problem)
                return SendError("401", text)
            if code == TOO_MANY_RPS_CODE:
                return RetryAfter(1.0, text)
            return SendError(str(code), text, retryable=code in _RETRY_IN_PLACE)
        if isinstance(exc, ApiHttpError):
            status = getattr(exc.response, "status_code", "?")
            self._problem = f"VK API answered HTTP {status}"
            return SendError("unavailable", self._problem, retryable=True)
        if isinstance(exc, requests.Timeout):
            self._problem = f"VK API did not answer {method} in {self._timeout:g} s"
            return SendError("timeout", self._problem, retryable=True)
        if isinstance(exc, requests.RequestException):
            self._problem = f"VK API unreachable: {exc.__class__.__name__}"
            return SendError("unavailable", self._problem, retryable=True)
        return SendError("error", repr(exc))

    async def _long_poll_server(self) -> dict[str, Any]:
        server = await self._call("groups.getLongPollServer", {"group_id": self.group_id})
        if not isinstance(server, Mapping) or not {"key", "server", "ts"} <= server.keys():
            raise SendError("error", "groups.getLongPollServer answered without key/server/ts")
        return dict(server)

    async def _on_webhook(self, request: web.Request) -> web.Response:
        try:
            body = parse_json(await request.read())
        except ValueError:
            log.warning("VK callback: the body is not JSON; refused")
            return web.Response(status=400, text="the body must be JSON")
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            log.warning("VK callback: not a community event; refused")
            return web.Response(status=400, text="not a VK event")
        group_id = body.get("group_id")
        if body["type"] == "confirmation":
            return self._confirm(group_id, body.get("secret"))
        if not self._secret_matches(body.get("secret")):
            log.warning("VK callback: a %s event without the right secret; refused", body["type"])
            return web.Response(status=403, text="wrong secret")
        try:
            await self._take(body)
        except MalformedEvent as exc:
            log.warning("VK callback: malformed %s event (%s); refused", body["type"], exc)
            return web.Response(status=400, text=f"malformed event: {exc}")
        # "ok" once the message is stored, so VK need not send it again; the answer follows.
        # Waiting for the replies too would keep VK waiting through send timeouts and 429s,
        # and VK stops calling a server that answers slowly.
        return web.Response(text="ok")

    def _confirm(self, group_id: object, secret: object) -> web.Response:
        if group_id != self.group_id:
            # A confirmation left over from another (or an old) community: answering it would
            # hand that community's server our code.
            log.warning(
                "VK callback: asked to confirm group %s, but this bot serves group %s; refused",
                group_id,
                self.group_id,
            )
            return web.Response(status=403, text="wrong group")
        if secret is not None and not self._secret_matches(secret):
            log.warning("VK callback: a confirmation with a wrong secret; refused")
            return web.Response(status=403, text="wrong secret")
        code = self._settings.confirmation_code
        assert code is not None  # callback mode
        log.info("VK callback: server address confirmed for group %s", group_id)
        return web.Response(text=code.get_secret_value(), content_type="text/plain")

    def _secret_matches(self, given: object) -> bool:
        secret = self._settings.secret
        if secret is None or not isinstance(given, str):
            return False
        return same_secret(given, secret.get_secret_value())

    async def _take(self, event: Mapping[str, Any]) -> None:
        """Take one event: returns once its message is stored, the turn going on in the
        background (a callback answers "ok" then; long polling takes the next event, so one
        chat's slow reply holds up no other). Raises :class:`MalformedEvent`; storage errors
        propagate."""
        kind = event.get("type")
        if event.get("group_id") != self.group_id:
            log.warning(
                "VK %s event for group %s, but this bot serves group %s; ignored",
                kind,
                event.get("group_id"),
                self.group_id,
            )
            return
        message = to_incoming(event)
        if message is None:
            log.info("VK %s event is not handled by the bot; ignored", kind)
            return
        await self.hand_over(message)
        if kind == "message_event":  # stops the button's spinner; after the message is kept
            self.in_background(self._answer_button(event["object"]))

    async def _answer_button(self, body: Mapping[str, Any]) -> None:
        params = {
            "event_id": body.get("event_id"),
            "user_id": body.get("user_id"),
            "peer_id": body.get("peer_id"),
        }
        try:
            await self._call("messages.sendMessageEventAnswer", params)
        except SendError as exc:  # the button keeps spinning; the press is still handled
            log.warning("VK: answering a callback button failed: %s", exc)

    async def _resume_from(self, server: Mapping[str, Any]) -> object:
        """The ``ts`` to poll from: the one saved by the last run, else VK's newest (saved)."""
        if self._uow is None:
            return server["ts"]
        async with self._uow() as uow:
            saved = await uow.cursors.get(self._cursor)
        if saved is None:
            # The first start: nothing to catch up on, but a restart must find this place.
            await self._remember(server["ts"])
            return server["ts"]
        self._saved_ts = saved
        if saved != str(server["ts"]):
            log.info("VK long poll: resuming from ts %s (VK's newest is %s)", saved, server["ts"])
        return saved

    async def _remember(self, ts: object) -> None:
        """Save ``ts`` as the place to resume from: once per batch, only when it moved.

        Called when every event before ``ts`` is stored (or skipped as malformed). A failed
        save is logged and left to the next batch: the events are stored, and a restart
        before then reads some of them again, which the store recognises as redeliveries.
        """
        position = str(ts)
        if self._uow is None or position == self._saved_ts:
            return
        try:
            async with self._uow() as uow:
                await uow.cursors.set(self._cursor, position, self._clock.now())
                await uow.commit()
        except Exception:
            log.warning("VK long poll: saving ts %s failed", position, exc_info=True)
        else:
            self._saved_ts = position

    async def _poll(self, server: dict[str, Any], ts: object) -> None:
        delays = backoff_delays()
        while True:
            try:
                data = await self._check(server, ts)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                self._problem = f"long poll failed: {exc.__class__.__name__}"
                log.warning("VK: %s; retrying", self._problem)
                await self._clock.sleep(next(delays))
                continue
            failed = data.get("failed")
            if failed is not None:
                try:
                    server, ts = await self._renew(server, ts, failed, data)
                except SendError as exc:
                    self._problem = f"groups.getLongPollServer failed: {exc}"
                    log.warning("VK: %s; retrying", self._problem)
                    await self._clock.sleep(next(delays))
                else:
                    await self._remember(ts)  # where VK said to go on from, if it moved
                continue
            self._problem = None
            delays = backoff_delays()
            for update in data.get("updates") or []:
                await self._take_until_done(update)
            ts = data.get("ts", ts)
            await self._remember(ts)  # every event of the batch is stored by now

    async def _check(self, server: Mapping[str, Any], ts: object) -> dict[str, Any]:
        assert self._http is not None
        params = {
            "act": "a_check",
            "key": str(server["key"]),
            "ts": str(ts),
            "wait": str(self._wait),
        }
        timeout = aiohttp.ClientTimeout(total=self._wait + 10)
        async with self._http.get(str(server["server"]), params=params, timeout=timeout) as resp:
            resp.raise_for_status()
            data = await resp.json(content_type=None)
        if not isinstance(data, dict):
            msg = "the long-poll answer is not a JSON object"
            raise ValueError(msg)
        return data

    async def _renew(
        self, server: dict[str, Any], ts: object, failed: object, data: Mapping[str, Any]
    ) -> tuple[dict[str, Any], object]:
        if failed == 1:  # history is out of date or partly lost: carry on from the ts VK gives
            given = data.get("ts", ts)
            log.warning(
                "VK long poll: events from ts %s are no longer kept; going on from ts %s, "
                "so events in between may have been missed",
                ts,
                given,
            )
            return server, given
        fresh = await self._long_poll_server()
        if failed == 2:  # the key expired: a new one, and our place kept
            return fresh, ts
        # 3: the session's information is lost: a new key and VK's ts.
        log.warning(
            "VK long poll: the session was lost (failed %s); going on from ts %s instead of %s, "
            "so events in between may have been missed",
            failed,
            fresh["ts"],
            ts,
        )
        return fresh, fresh["ts"]

    async def _take_until_done(self, update: object) -> None:
        # A failure here is storage being down: retry the same event rather than skip it.
        delays = backoff_delays()
        while True:
            try:
                if not isinstance(update, Mapping):
                    raise MalformedEvent("an update is not an object")
                await self._take(update)
            except MalformedEvent as exc:
                log.warning("VK long poll: malformed event (%s); skipped", exc)
                return
            except Exception as exc:
                # Shown by /healthz until the event goes through: no later event is taken
                # meanwhile, so monitoring must not say all is well.
                self._problem = f"handling an event failed ({type(exc).__name__}); retrying"
                log.exception("VK long poll: handling an event failed; retrying")
                await self._clock.sleep(next(delays))
            else:
                if self._problem is not None and self._problem.startswith("handling an event"):
                    self._problem = None
                return


def _random_id(key: int | None, index: int) -> int:
    """VK's ``random_id`` for message ``index`` of a reply: VK drops a second send with it.

    From :func:`~bots.channel.part_key`, so every part of a long reply has its own, and a
    part resent on its own gets the id it was first sent with. Without a key, a random one.
    """
    key = part_key(key, index)
    if key is None:
        return secrets.randbelow(2**31 - 1) + 1
    digest = hashlib.sha256(str(key).encode()).digest()
    return int.from_bytes(digest[:4], "big") % (2**31 - 1) + 1
