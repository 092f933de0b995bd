"""The one interface every channel adapter implements.

A channel turns platform updates into :class:`~bots.messages.IncomingMessage` and hands them to
the runner's dispatch function; it turns :class:`~bots.messages.Reply` into platform calls in
:meth:`Channel.send`. Its lifecycle is ``attach`` (add webhook routes) → ``start`` (begin polling
or register the webhook) → ``stop``. Capability fallbacks live here, so an adapter overrides only
what its platform does natively.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Iterator, Sequence
from types import TracebackType
from typing import Any, ClassVar, Protocol, Self, TypeVar

from aiohttp import web

from bots.messages import IncomingMessage, Reply, SentMessage

__all__ = [
    "Channel",
    "Dispatch",
    "RetryAfter",
    "SendError",
    "backoff_delays",
    "parse_json",
    "part_key",
    "same_secret",
    "stop_task",
]


T = TypeVar("T")


class Dispatch(Protocol):
    """What a channel calls with each incoming message; returns the replies already sent.

    ``on_stored`` is called as soon as the message is committed, before the turn runs.
    """

    def __call__(
        self, message: IncomingMessage, *, on_stored: Callable[[], object] | None = None
    ) -> Awaitable[list[Reply]]: ...


log = logging.getLogger(__name__)


def same_secret(given: str, expected: str) -> bool:
    """Compare a secret from a request with ours in constant time.

    Anyone can put anything in a header or a JSON field (a lone surrogate, header bytes that
    are not UTF-8); that is a wrong secret, answered 401/403, never a 500.
    """
    return hmac.compare_digest(
        given.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass")
    )


def parse_json(data: str | bytes) -> Any:
    """``json.loads`` that reports every unreadable body as ``ValueError``.

    Webhooks answer a body that is not JSON with a 4xx; one nested thousands of levels deep
    makes ``json.loads`` raise ``RecursionError`` instead, which would otherwise end as a 500.
    """
    try:
        return json.loads(data)
    except RecursionError as exc:
        msg = "the JSON is nested too deeply"
        raise ValueError(msg) from exc


def part_key(key: int | None, index: int) -> int | None:
    """The send key of part ``index`` of a reply sent with ``key`` (see :meth:`Channel.send`).

    A channel takes part ``i``'s own id from ``key + i``; a part kept and resent on its own
    (as its only part) with this key gets the id it was first sent with. None stays None.
    """
    return None if key is None else key + index


class SendError(Exception):
    """The platform refused a reply. ``retryable`` says whether sending again may succeed.

    A reply the channel sends as several messages may fail after some got through: then
    ``delivered`` holds those parts with their platform ids and ``undelivered`` the parts still
    to send (the first of them was refused), so nothing the shopper already sees is sent again.
    """

    def __init__(
        self,
        code: str,
        description: str,
        *,
        retryable: bool = False,
        delivered: tuple[tuple[Reply, SentMessage], ...] = (),
        undelivered: tuple[Reply, ...] = (),
    ) -> None:
        super().__init__(f"{code}: {description}")
        self.code = code
        self.description = description
        self.retryable = retryable
        self.delivered = delivered
        self.undelivered = undelivered


def refused_after(
    error: SendError, delivered: Sequence[tuple[Reply, SentMessage]], parts: Sequence[Reply]
) -> SendError:
    """``error`` for a reply sent as ``parts``, saying which got through before the refusal."""
    if not delivered:
        return error
    return SendError(
        error.code,
        error.description,
        retryable=error.retryable,
        delivered=tuple(delivered),
        undelivered=tuple(parts[len(delivered) :]),
    )


class RetryAfter(SendError):
    """The platform asked us to slow down and try again after ``seconds`` (HTTP 429)."""

    def __init__(self, seconds: float, description: str = "too many requests") -> None:
        super().__init__("429", description, retryable=True)
        self.seconds = seconds


class Channel(ABC):
    """A messaging platform seen from the engine's side: messages in, replies out."""

    name: ClassVar[str]

    def __init__(self) -> None:
        self._dispatch: Dispatch | None = None
        self._background: set[asyncio.Task[Any]] = set()

    def attach(self, app: web.Application, dispatch: Dispatch) -> None:
        """Remember where incoming messages go and add this channel's HTTP routes to ``app``."""
        self._dispatch = dispatch
        self.add_routes(app)

    def add_routes(self, app: web.Application) -> None:  # noqa: B027 - optional hook
        """Add webhook or page routes; channels that only poll add none."""

    async def dispatch(
        self, message: IncomingMessage, *, on_stored: Callable[[], object] | None = None
    ) -> list[Reply]:
        """Hand one normalized message to the engine and return the replies it sent."""
        if self._dispatch is None:
            msg = f"channel {self.name} received a message before it was attached"
            raise RuntimeError(msg)
        return await self._dispatch(message, on_stored=on_stored)

    async def answer(self, message: IncomingMessage) -> None:
        """Run ``message``'s turn and send its replies, for a webhook that answers the platform
        afterwards. A failure once the message is stored (recording the replies, say) is
        logged, not raised: the platform would only send the message again, and the engine
        takes a stored message whose turn ran for a redelivery and does not answer it twice.
        A failure before it is stored is raised, so the platform does send it again.
        """
        stored = False

        def kept() -> None:
            nonlocal stored
            stored = True

        try:
            await self.dispatch(message, on_stored=kept)
        except Exception:
            if not stored:
                raise
            log.exception(
                "%s chat %s: the message is stored, but its turn failed after that",
                self.name,
                message.chat_id,
            )

    async def hand_over(self, message: IncomingMessage) -> None:
        """Return once ``message`` is stored; its turn and replies go on in the background.

        For platforms that want a quick acknowledgement (VK's Callback API stops sending to a
        server that answers slowly) while a reply may take long (timeouts, a 429 waited out):
        the message is kept before the platform hears "ok", so nothing is lost. A failure
        before it is stored is raised here, as from :meth:`dispatch`.
        """
        stored = asyncio.Event()
        turn = self.in_background(self.dispatch(message, on_stored=stored.set))
        waiting = asyncio.create_task(stored.wait())
        try:
            await asyncio.wait({turn, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
        if not stored.is_set():
            await turn  # it ended before the message was stored: its error is the answer

    def in_background(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run ``work`` as a task this channel keeps (and cancels in :meth:`stop_background`)."""
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s: background work failed", self.name, exc_info=task.exception())

    async def finish_background(self) -> None:
        """Wait until the background work started so far is done."""
        if self._background:
            await asyncio.wait(set(self._background))

    async def stop_background(self, grace: float = 5.0) -> None:
        """At shutdown: let background turns finish for ``grace`` s, then cancel the rest.

        A cancelled turn's message is kept all the same, but its reply is not sent (nor
        recorded for the retry job): the shopper can write again, and a platform that sends
        the message again gets it answered then.
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.finish_background(), grace)
        for task in list(self._background):
            with contextlib.suppress(Exception):  # already logged by _finished
                await stop_task(task)

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect to the platform: start polling or register the webhook."""

    async def stop(self) -> None:  # noqa: B027 - optional hook
        """Stop polling and close platform sessions; safe to call twice."""

    async def health(self) -> str | None:
        """``None`` when the channel works, else a short description of what is wrong."""
        return None

    @abstractmethod
    async def send(self, chat_id: str, reply: Reply, *, key: int | None = None) -> SentMessage:
        """Deliver one reply; raise :class:`SendError` (or :class:`RetryAfter`) when refused.

        ``key`` is the same each time this reply is sent (the first time and every resend by
        the retry job): a platform that drops repeated sends by an id of the caller's (VK's
        ``random_id``) derives it from the key, so a resend of a message that did arrive
        although its answer was lost is not shown twice. Others ignore it.
        """

    @staticmethod
    def numbered_buttons(reply: Reply) -> str:
        """Text fallback for platforms without buttons: options become numbered lines."""
        buttons = reply.flat_buttons
        if not buttons:
            return reply.text
        lines = [reply.text, ""]
        for number, button in enumerate(buttons, start=1):
            suffix = f" — {button.url}" if button.url else ""
            lines.append(f"{number}. {button.text}{suffix}")
        return "\n".join(lines)

    async def __aenter__(self) -> Self:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


def backoff_delays(start: float = 1.0, limit: float = 30.0) -> Iterator[float]:
    """Waits between attempts to reach a platform: doubling from ``start`` up to ``limit``."""
    delay = start
    while True:
        yield delay
        delay = min(delay * 2, limit)


async def stop_task(task: asyncio.Task[Any] | None) -> None:
    """Cancel a channel's background task (polling, registration) and wait until it ended."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
