"""What every stand-in platform server shares (opsdroid's ``ExternalAPIMockServer`` shape).

A stand-in is an aiohttp app on a :class:`~aiohttp.test_utils.TestServer` at 127.0.0.1 that

* starts and stops as an async context manager (or with :meth:`BaseApiStandIn.start` and
  :meth:`BaseApiStandIn.close`);
* records each call under its route (a Bot API method, a VK method, a Viber endpoint), and in
  arrival order;
* answers a route from a queue of planned answers before falling back to its default;
* lets a test await the next call of a route, or any condition on what it recorded, with a
  deadline instead of a sleep.

What a call and a planned answer look like is the platform's business: subclasses choose both
types, route their requests, and wrap the protected helpers below in their own public API.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections import defaultdict, deque
from collections.abc import Callable
from types import TracebackType
from typing import Generic, Self, TypeVar

from aiohttp import web
from aiohttp.test_utils import TestServer

__all__ = ["BaseApiStandIn"]

CallT = TypeVar("CallT")
AnswerT = TypeVar("AnswerT")


class BaseApiStandIn(ABC, Generic[CallT, AnswerT]):
    """A local platform API that records ``CallT`` calls and replays queued ``AnswerT``s."""

    def __init__(self, *, host: str = "127.0.0.1") -> None:
        self.host = host
        self._calls: defaultdict[str, list[CallT]] = defaultdict(list)
        self._log: list[CallT] = []
        self._read: defaultdict[str, int] = defaultdict(int)
        self._answers: defaultdict[str, deque[AnswerT]] = defaultdict(deque)
        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._server: TestServer | None = None
        self._port: int | None = None

    @abstractmethod
    def app(self) -> web.Application:
        """The aiohttp application with the platform's routes (for mounting it elsewhere)."""

    # lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The server's base URL, ``http://127.0.0.1:<port>``."""
        if self._port is None:
            msg = "the stand-in is not started"
            raise RuntimeError(msg)
        return f"http://{self.host}:{self._port}"

    async def start(self, port: int = 0) -> None:
        """Listen on ``host`` and ``port`` (0: a free one)."""
        self._server = TestServer(self.app(), host=self.host, port=port)
        await self._server.start_server(access_log=None, shutdown_timeout=1.0)
        self._port = self._server.port

    async def close(self) -> None:
        """Release every waiting request (long polls, hung answers), then stop listening."""
        self._closing.set()
        self._notify()
        if self._server is not None:
            await self._server.close()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # recording and answering -------------------------------------------------------------

    def _record(self, route: str, call: CallT) -> None:
        """Keep ``call`` under ``route`` and in arrival order, and wake whoever waits."""
        self._calls[route].append(call)
        self._log.append(call)
        self._notify()

    def _queue(self, route: str, *answers: AnswerT) -> None:
        """Plan how the next calls of ``route`` are answered, in order."""
        self._answers[route].extend(answers)

    def _planned(self, route: str) -> AnswerT | None:
        """The next planned answer for ``route`` (used up), or None: answer by default."""
        queued = self._answers[route]
        return queued.popleft() if queued else None

    # waiting -----------------------------------------------------------------------------

    async def _wait_for(self, predicate: Callable[[], bool], within: float) -> None:
        """Return once ``predicate()`` holds; TimeoutError after ``within`` seconds."""
        async with asyncio.timeout(within):
            # No await between the check and taking the event, so no change can slip in between.
            while not predicate():
                await self._changed.wait()

    async def _next_call(self, route: str, within: float) -> CallT:
        """The first call of ``route`` not yet returned here, waiting up to ``within`` s."""
        await self._wait_for(lambda: len(self._calls[route]) > self._read[route], within)
        call = self._calls[route][self._read[route]]
        self._read[route] += 1
        return call

    def _notify(self) -> None:
        """Wake everything waiting for a change (a call, queued events, closing)."""
        self._changed.set()
        self._changed = asyncio.Event()
