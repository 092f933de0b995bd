"""Telegram through aiogram 3: long polling by default, a verified webhook when configured.

This module is pure translation. :func:`to_incoming` turns a Bot API ``Update`` into our
:class:`~bots.messages.IncomingMessage` (every message / callback / photo / contact branch lives
there and is tested on recorded JSON); :meth:`TelegramChannel.send` renders a
:class:`~bots.messages.Reply` as ``sendMessage`` / ``sendPhoto`` calls with inline keyboards,
fitted to Telegram's limits by :mod:`bots.layout`. The bot talks to ``TELEGRAM_API_URL`` so a
self-hosted Bot API server or a test stand-in works.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, cast

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    DeleteWebhook,
    GetMe,
    GetUpdates,
    SendMessage,
    SendPhoto,
    SetWebhook,
)
from aiogram.methods.base import Response, TelegramMethod
from aiogram.types import (
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from aiogram.utils.backoff import Backoff, BackoffConfig
from aiohttp import ClientError, ClientTimeout, web
from pydantic import ValidationError

from bots import layout
from bots.channel import (
    Channel,
    RetryAfter,
    SendError,
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
from config.settings import TelegramSettings
from dialogs.clock import Clock, SystemClock

__all__ = ["WEBHOOK_PATH", "TelegramChannel", "to_incoming", "webhook_secret"]

REJECTED_TOKEN = "the bot token was rejected"  # noqa: S105 - a message, not a secret
"""What /healthz says once Telegram refused the token (401)."""

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/telegram"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name
ALLOWED_UPDATES = ["message", "callback_query"]
RATE_WAITS = 3
"""429s one send waits out itself, once part of its reply is already in the chat."""
T = TypeVar("T")
_OTHER_KINDS = ("sticker", "voice", "video_note", "video", "audio", "document", "animation")


def webhook_secret(token: str, configured: str | None = None) -> str:
    """The ``secret_token`` for setWebhook: the configured one, or one derived from the token.

    Derived with HMAC so every worker process and every restart agrees on it without shared
    state, while nobody without the bot token can compute it.
    """
    if configured:
        return configured
    return hmac.new(token.encode(), b"otklik-telegram-webhook", hashlib.sha256).hexdigest()


def to_incoming(
    update: Update, *, bot_username: str | None = None, raw: dict[str, Any] | None = None
) -> IncomingMessage | None:
    """Our message for a Bot API update, or None for updates that are not for this bot.

    ``bot_username`` (from ``getMe``) makes ``/start@<it> PAYLOAD``, the form group chats use,
    count as ``/start``; a command addressed to another bot (``/start@other_bot``) is dropped,
    since the engine would otherwise read its words as ours. ``raw`` is the update as it
    arrived (a webhook's body), kept with the message; without it, aiogram's model is dumped.
    """
    if raw is None:
        raw = update.model_dump(mode="json", exclude_none=True)
    source_id = str(update.update_id)
    if update.message is not None:
        if _for_another_bot(update.message.text or "", bot_username):
            return None
        return _from_message(update.message, source_id, raw, bot_username)
    query = update.callback_query
    if query is not None:
        chat_id = query.message.chat.id if query.message is not None else query.from_user.id
        return IncomingMessage(
            channel=TelegramChannel.name,
            chat_id=str(chat_id),
            user_id=str(query.from_user.id),
            display_name=query.from_user.full_name,
            button_payload=query.data or "",
            language_code=query.from_user.language_code,
            source_id=source_id,
            raw=raw,
        )
    return None


def _command(text: str, bot_username: str | None) -> tuple[str, str, bool]:
    """``/name[@bot] argument`` as (``/name``, argument, whether ``@bot`` is not this bot)."""
    command, _, argument = text.partition(" ")
    name, _, addressee = command.partition("@")
    # Usernames are case-insensitive: /start@Otklik_Bot reaches @otklik_bot.
    other = bool(addressee) and addressee.casefold() != (bot_username or "").casefold()
    return name, argument.strip(), other


def _for_another_bot(text: str, bot_username: str | None) -> bool:
    name, _, other = _command(text, bot_username)
    return bot_username is not None and name.startswith("/") and other


def _start_command(text: str, bot_username: str | None) -> tuple[bool, str | None]:
    """Whether ``text`` is /start (bare or ``@`` this bot), and its deep-link payload."""
    name, payload, other = _command(text, bot_username)
    if name != "/start" or other:
        return False, None
    return True, payload or None


def _from_message(
    message: Message, source_id: str, raw: dict[str, Any], bot_username: str | None
) -> IncomingMessage:
    user = message.from_user
    text = message.text or message.caption or ""
    start, deeplink = _start_command(text, bot_username)
    if start:
        text = "/start"
    return IncomingMessage(
        channel=TelegramChannel.name,
        chat_id=str(message.chat.id),
        user_id=str(user.id if user else message.chat.id),
        display_name=user.full_name if user else message.chat.full_name,
        text=text,
        deeplink_payload=deeplink,
        attachments=_attachments(message),
        language_code=user.language_code if user else None,
        source_id=source_id,
        raw=raw,
    )


def _attachments(message: Message) -> tuple[Attachment, ...]:
    found: list[Attachment] = []
    if message.photo:
        largest = max(message.photo, key=lambda size: size.width * size.height)
        found.append(Photo(largest.file_id, width=largest.width, height=largest.height))
    if message.location is not None:
        found.append(Location(message.location.latitude, message.location.longitude))
    if message.contact is not None:
        contact = message.contact
        user_id = str(contact.user_id) if contact.user_id else None
        found.append(SharedContact(contact.phone_number, contact.first_name, user_id))
    found.extend(
        OtherAttachment("voice" if kind == "video_note" else kind)
        for kind in _OTHER_KINDS
        if getattr(message, kind, None) is not None
    )
    return tuple(found)


def _parts(reply: Reply) -> list[Reply]:
    """The messages that deliver ``reply``: caption, text pieces, extra keyboards (bots/layout)."""
    parts = layout.fit(reply, layout.TELEGRAM)
    # Telegram refuses an empty text (400); a cut inside a long run of blanks leaves one.
    return [p for p in parts if p.text.strip() or p.image_url or p.buttons] or parts[-1:]


def _keyboard(rows: Sequence[Sequence[Button]]) -> InlineKeyboardMarkup | None:
    if not rows:
        return None
    return _markup(tuple(tuple(row) for row in rows))


@functools.lru_cache(maxsize=512)
def _markup(rows: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup:
    # Most keyboards are the same few (the menu, 👍/👎 in each language), and building
    # aiogram's models costs more than the rest of a reply; they are never changed after.
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [
                InlineKeyboardButton(text=b.text, url=b.url)
                if b.url
                else InlineKeyboardButton(text=b.text, callback_data=b.payload)
                for b in row
            ]
            for row in rows
        ]
    )


class JsonBodySession(AiohttpSession):
    """aiogram's aiohttp session, posting JSON bodies when a call uploads no file.

    aiogram posts every call as a form, JSON-encoding each object field and then percent-
    encoding it byte by byte; a keyboard in Cyrillic triples in size and its encoding was a
    visible share of the bot's CPU per reply. The Bot API takes ``application/json`` for any
    call without files; a call with one (a photo upload) still goes as multipart form data.
    Errors, timeouts and responses are handled exactly as aiogram's own session does.
    """

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[T],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> T:
        files: dict[str, Any] = {}
        # Unset fields are None, and prepare_value drops None anyway: leaving them out of the
        # dump saves walking every empty field of every keyboard button.
        body = self.prepare_value(
            method.model_dump(warnings=False, exclude_none=True),
            bot=bot,
            files=files,
            _dumps_json=False,
        )
        if files:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(
                url,
                data=self.json_dumps(body),
                headers=_JSON_HEADERS,
                timeout=ClientTimeout(total=self.timeout if timeout is None else timeout),
            ) as resp:
                raw_result = await resp.text()
        except TimeoutError as exc:
            raise TelegramNetworkError(method=method, message="Request timeout error") from exc
        except ClientError as exc:
            message = f"{type(exc).__name__}: {exc}"
            raise TelegramNetworkError(method=method, message=message) from exc
        response = self.check_response(
            bot=bot, method=method, status_code=resp.status, content=raw_result
        )
        return cast(T, response.result)


_JSON_HEADERS = {"Content-Type": "application/json"}


def _source_id(chat_id: str, message: Message) -> str:
    # A Bot API message_id is unique only inside its chat; "chat:message" is unique per bot
    # (as storage's unique key on channel + direction + source_id needs) and is what
    # editMessageText / deleteMessage take.
    return f"{chat_id}:{message.message_id}"


def _refusal(exc: TelegramAPIError) -> SendError:
    """What a Bot API error means for the reply: final, or worth another try later."""
    if isinstance(exc, TelegramForbiddenError):
        return SendError("403", exc.message)
    if isinstance(exc, TelegramBadRequest):
        return SendError("400", exc.message)
    if isinstance(exc, (TelegramNetworkError, TelegramServerError)):
        return SendError("unavailable", exc.message, retryable=True)
    if isinstance(exc, TelegramUnauthorizedError):
        # Worth another try: once the token is replaced, the retry job delivers it.
        return SendError("401", exc.message, retryable=True)
    return SendError("error", exc.message)


class TelegramChannel(Channel):
    """A Telegram bot."""

    name: ClassVar[str] = "telegram"

    def __init__(
        self,
        settings: TelegramSettings,
        *,
        clock: Clock | None = None,
        commands: Mapping[str | None, Sequence[tuple[str, str]]] | None = None,
    ) -> None:
        """`commands`: per language (None: every other language), the commands and their
        descriptions that Telegram lists in the chat's menu button."""
        super().__init__()
        self._commands = dict(commands or {})
        if settings.bot_token is None:
            msg = "TELEGRAM_BOT_TOKEN is not set"
            raise ValueError(msg)
        self._settings = settings
        self._token = settings.bot_token.get_secret_value()
        configured = settings.webhook_secret
        self.secret = webhook_secret(
            self._token, configured.get_secret_value() if configured else None
        )
        self._clock = clock or SystemClock()
        self._bot: Bot | None = None
        self._username: str | None = None
        self._polling: asyncio.Task[None] | None = None
        self._problem: str | None = "not started"
        # aiogram parses every answer into Response[<method's result>]; pydantic caches those
        # generic classes only weakly, so each full garbage collection drops them and the next
        # call rebuilds one, which costs tens of milliseconds (seen as latency spikes under
        # load). Holding the ones this channel uses keeps them built.
        self._response_types: tuple[type, ...] = tuple(
            Response[method.__returning__]  # type: ignore[name-defined]
            for method in (
                SendMessage,
                SendPhoto,
                AnswerCallbackQuery,
                GetUpdates,
                GetMe,
                SetWebhook,
                DeleteWebhook,
            )
        )

    @property
    def webhook_mode(self) -> bool:
        """True when Telegram pushes updates to us instead of us polling."""
        return bool(self._settings.webhook_url)

    @property
    def bot(self) -> Bot:
        """The aiogram bot (after :meth:`start`)."""
        if self._bot is None:
            msg = "the Telegram channel is not started"
            raise RuntimeError(msg)
        return self._bot

    def add_routes(self, app: web.Application) -> None:
        if self.webhook_mode:
            app.router.add_post(WEBHOOK_PATH, self._on_webhook)

    async def start(self) -> None:
        api = TelegramAPIServer.from_base(self._settings.api_url.rstrip("/"))
        self._bot = Bot(self._token, session=JsonBodySession(api=api))
        me = await self._bot.get_me()
        self._username = me.username
        log.info("Telegram bot @%s connected", me.username)
        await self._list_commands()
        if self.webhook_mode:
            await self._bot.set_webhook(
                url=str(self._settings.webhook_url),
                secret_token=self.secret,
                allowed_updates=ALLOWED_UPDATES,
            )
            log.info("Telegram webhook set to %s", self._settings.webhook_url)
        else:
            await self._bot.delete_webhook()
            self._polling = asyncio.create_task(self._poll(), name="telegram-polling")
        self._problem = None

    async def _list_commands(self) -> None:
        """Put /start and /help in the menu Telegram shows beside the input field.

        A convenience for shoppers, not something the bot needs to work: when Telegram
        refuses, the bot starts all the same and says why in the log.
        """
        bot = self.bot
        for language, commands in self._commands.items():
            listed = [BotCommand(command=name, description=text) for name, text in commands]
            try:
                await bot.set_my_commands(listed, language_code=language)
            except TelegramAPIError as exc:
                log.warning("Telegram refused the command list (%s): %s", language, exc)
                return

    async def stop(self) -> None:
        self._problem = "stopping"
        await stop_task(self._polling)
        self._polling = None
        await self.stop_background()  # turns taken by polling get a grace period to reply
        if self._bot is not None:
            await self._bot.session.close()
            self._bot = None
        self._problem = "stopped"

    async def health(self) -> str | None:
        if self._polling is not None and self._polling.done():
            return self._problem or "polling stopped"  # the reason it stopped, when known
        return self._problem

    async def send(self, chat_id: str, reply: Reply, *, key: int | None = None) -> SentMessage:
        """Deliver ``reply`` as one or more messages; the id returned is the last one's.

        Until the first message is in the chat, a 429 is raised as :class:`RetryAfter`, so the
        outbox waits and sends the whole reply again. After that the shopper already sees part
        of it, so a 429 is waited out here (up to :data:`RATE_WAITS` times) and sending resumes
        with the message that was refused: no part arrives twice. A refusal after some parts
        got through says which (``SendError.delivered`` / ``undelivered``), so only the rest is
        tried again later.
        """
        parts = _parts(reply)
        done: list[tuple[Reply, SentMessage]] = []
        try:
            for part in parts:
                message = await self._send_part(chat_id, part, len(done), len(parts))
                done.append((part, SentMessage(source_id=_source_id(chat_id, message))))
        except TelegramRetryAfter as exc:  # only before the first part (see _send_part)
            raise RetryAfter(float(exc.retry_after), exc.message) from exc
        except SendError as exc:
            raise refused_after(exc, done, parts) from exc
        except TelegramUnauthorizedError as exc:
            # Nothing more goes out with this token (revoked in @BotFather): /healthz must say
            # so in webhook mode too, where no poll would notice.
            self._problem = REJECTED_TOKEN
            log.error("Telegram: the bot token was rejected while sending")
            raise refused_after(_refusal(exc), done, parts) from exc
        except TelegramAPIError as exc:
            raise refused_after(_refusal(exc), done, parts) from exc
        if self._problem == REJECTED_TOKEN:
            self._problem = None
        return done[-1][1]

    async def _send_part(self, chat_id: str, part: Reply, delivered: int, total: int) -> Message:
        """Send one message of a reply after ``delivered`` others; see :meth:`send` on 429s."""
        waits = 0
        while True:
            try:
                if part.image_url:
                    return await self.bot.send_photo(
                        chat_id,
                        part.image_url,
                        caption=part.text or None,
                        reply_markup=_keyboard(part.buttons),
                    )
                return await self.bot.send_message(
                    chat_id, part.text, reply_markup=_keyboard(part.buttons)
                )
            except TelegramRetryAfter as exc:
                if not delivered:
                    raise
                if waits == RATE_WAITS:
                    # Not RetryAfter: the outbox would send the delivered messages again.
                    msg = f"{exc.message} (after {delivered} of {total} messages were delivered)"
                    raise SendError("429", msg, retryable=True) from exc
                waits += 1
                log.info(
                    "Telegram chat %s: waiting %d s to send message %d of %d",
                    chat_id,
                    exc.retry_after,
                    delivered + 1,
                    total,
                )
                await self._clock.sleep(float(exc.retry_after))

    async def _on_webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not same_secret(given, self.secret):
            log.warning("Telegram webhook: a request without the right secret was refused")
            return web.json_response({"error": "wrong secret token"}, status=401)
        try:
            body = parse_json(await request.read())
        except ValueError:
            log.warning("Telegram webhook: the body is not JSON; refused")
            return web.json_response({"error": "the body must be JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "the body must be a JSON object"}, status=400)
        try:
            update = Update.model_validate(body, context={"bot": self._bot})
        except ValidationError as exc:
            log.warning(
                "Telegram webhook: not a Bot API update (%d errors); refused", exc.error_count()
            )
            return web.json_response({"error": "not a Telegram update"}, status=400)
        await self._handle(update, body)
        return web.json_response({"ok": True})

    def _incoming(
        self, update: Update, raw: dict[str, Any] | None = None
    ) -> IncomingMessage | None:
        """The shopper's message in ``update``, or None (logged) when it holds none for us."""
        message = to_incoming(update, bot_username=self._username, raw=raw)
        if message is None:
            log.info(
                "Telegram update %s has no message or button press for this bot; ignored",
                update.update_id,
            )
        return message

    async def _handle(self, update: Update, raw: dict[str, Any] | None = None) -> None:
        message = self._incoming(update, raw)
        if message is None:
            return
        query = update.callback_query
        if query is not None:
            await self._answer_press(query.id)
        await self.answer(message)

    async def _poll(self) -> None:
        """Long polling: each update is stored, then its turn goes on in the background.

        Waiting only for the store (as the VK long poll does) means one chat's slow reply
        (a 429 waited out) never holds up the other chats, and the offset moves only past
        updates that are kept. Any failure of ``getUpdates`` is retried with a backoff, and
        /healthz says why meanwhile; only a rejected token stops polling.
        """
        bot = self.bot
        backoff = Backoff(BackoffConfig(min_delay=1.0, max_delay=30.0, factor=1.6, jitter=0.1))
        offset: int | None = None
        timeout = self._settings.polling_timeout
        while True:
            updates: Sequence[Update | _Skipped]
            try:
                updates = await bot.get_updates(
                    offset=offset,
                    timeout=timeout,
                    allowed_updates=ALLOWED_UPDATES,
                    request_timeout=timeout + 10,
                )
            except TelegramUnauthorizedError:
                self._problem = REJECTED_TOKEN
                log.error("Telegram: the bot token was rejected; polling stopped")
                return
            except ClientDecodeError as exc:
                batch = _batch_of(exc.data)
                if batch is None:
                    self._problem = "getUpdates answered something that is not the Bot API's JSON"
                    log.warning("Telegram: %s; retrying", self._problem)
                    await self._clock.sleep(next(backoff))
                    continue
                updates = self._each_update(batch)
            except Exception as exc:  # TelegramAPIError (network, 5xx, 409) or anything else
                reason = exc.message if isinstance(exc, TelegramAPIError) else repr(exc)
                self._problem = f"getUpdates failed: {reason}"
                log.warning("Telegram: %s; retrying", self._problem)
                await self._clock.sleep(next(backoff))
                continue
            self._problem = None
            backoff.reset()
            for update in updates:
                await self._take_until_done(update, backoff)
            if updates:
                offset = max(update.update_id for update in updates) + 1

    def _each_update(self, batch: list[Any]) -> list[Update | _Skipped]:
        """A batch aiogram refused as a whole, parsed one update at a time.

        An update it cannot read (a field of a shape it does not know) is skipped with a log
        line, so it does not stop polling nor take the others of its batch down with it.
        """
        updates: list[Update | _Skipped] = []
        for item in batch:
            try:
                updates.append(Update.model_validate(item, context={"bot": self._bot}))
            except ValidationError as exc:
                update_id = item.get("update_id") if isinstance(item, dict) else None
                if not isinstance(update_id, int):
                    continue  # no id to move the offset past; the batch's others still do
                log.error(
                    "Telegram update %s is not a Bot API update (%d errors); skipped",
                    update_id,
                    exc.error_count(),
                )
                updates.append(_Skipped(update_id))
        return updates

    async def _take_until_done(self, update: Update | _Skipped, backoff: Backoff) -> None:
        if isinstance(update, _Skipped):
            return
        message = self._incoming(update)
        if message is None:
            return
        query = update.callback_query
        if query is not None:  # the spinner stops at once, and once however long storing takes
            self.in_background(self._answer_press(query.id))
        # A failure here is storage being down: retry the same update rather than skip it.
        while True:
            try:
                await self.hand_over(message)
            except Exception as exc:
                # Shown by /healthz until the update goes through: no later update is taken
                # meanwhile, so monitoring must not say all is well.
                self._problem = f"storing update {update.update_id} failed ({type(exc).__name__})"
                log.exception("Telegram update %s failed; retrying", update.update_id)
                await self._clock.sleep(next(backoff))
            else:
                self._problem = None
                return

    async def _answer_press(self, query_id: str) -> None:
        try:
            await self.bot.answer_callback_query(query_id)
        except TelegramAPIError as exc:  # the spinner stays, the press is still handled
            log.warning("Telegram: answering callback query failed: %s", exc)


@dataclass(frozen=True, slots=True)
class _Skipped:
    """An update of a polled batch that could not be read: only its id, to move past it."""

    update_id: int


def _batch_of(data: Any) -> list[Any] | None:
    """The raw updates of a ``getUpdates`` answer aiogram could not read whole, if it is one."""
    if isinstance(data, dict) and data.get("ok") is True and isinstance(data.get("result"), list):
        return cast(list[Any], data["result"])
    return None
