"""A stand-in VK API: API methods under ``/method/<name>`` and a Bots Long Poll server.

The shape is opsdroid's ``ExternalAPIMockServer``: every call is recorded per method, answers
can be queued ahead (an API error, an HTTP error, or an answer that never comes), and a test
awaits "the next call of X" instead of sleeping. The adapter reaches it through ``VK_API_URL``;
``groups.getLongPollServer`` hands out this server's own long-poll address, so Long Poll runs
against it too.

Positions (``ts``) are modelled as VK's are: ``ts`` counts the events pushed so far, and the
server keeps them whether or not anyone polls, so a bot that stops and comes back with an older
``ts`` is handed what it missed. ``groups.getLongPollServer`` answers the newest ``ts``. Events
VK no longer keeps (:meth:`VkApiStandIn.lose_history`) are not handed out: a poll from before
them, or from a ``ts`` never handed out, is answered ``{"failed": 1, "ts": <newest>}``.

Like VK, ``messages.send`` remembers each ``random_id`` it has seen per peer and answers a repeat
with the first message's id without delivering it again; :attr:`delivered` lists what a shopper
would actually see.
"""

from __future__ import annotations

import contextlib
import itertools
import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.base import BaseApiStandIn

__all__ = [
    "GROUP_ID",
    "LONG_POLL",
    "TOKEN",
    "VkApiStandIn",
    "message_event",
    "message_new",
    "press",
]

GROUP_ID = 218000001
LONG_POLL = "long-poll"
"""The name under which long-poll requests are recorded (and answers queued)."""
TOKEN = "vk1.a.test-community-token"


@dataclass
class _Answer:
    result: Any = None
    error: tuple[int, str] | None = None
    http_status: int | None = None
    hang: bool = False


class VkApiStandIn(BaseApiStandIn[dict[str, str], _Answer]):
    """The VK API and its long-poll server on one local port."""

    def __init__(self, *, group_id: int = GROUP_ID, token: str = TOKEN) -> None:
        super().__init__()
        self.group_id = group_id
        self.token = token
        self.delivered: list[dict[str, str]] = []
        self._sent: dict[tuple[str, str], int] = {}
        self._message_ids = itertools.count(1001)
        self._updates: list[dict[str, Any]] = []
        self._long_poll_failures: deque[int] = deque()
        self._kept_from = 0  # the oldest ts the server still hands events out from
        self._key = "key-1"
        self._keys = itertools.count(2)

    def app(self) -> web.Application:
        """The API methods and the long-poll server as one aiohttp app."""
        app = web.Application()
        app.router.add_post("/method/{method}", self._method)
        app.router.add_get("/long-poll", self._long_poll)
        return app

    @property
    def calls(self) -> dict[str, list[dict[str, str]]]:
        """The calls so far per method (and :data:`LONG_POLL`), each oldest first."""
        return self._calls

    @property
    def api_url(self) -> str:
        """What ``VK_API_URL`` should be."""
        return f"{self.url}/method"

    def env(self, **extra: str) -> dict[str, str]:
        """Environment variables that point a bot at this stand-in."""
        return {
            "VK_GROUP_TOKEN": self.token,
            "VK_GROUP_ID": str(self.group_id),
            "VK_API_URL": self.api_url,
            **extra,
        }

    # -- arranging answers ---------------------------------------------------------------------

    def answer(
        self,
        method: str,
        *,
        result: Any = None,
        error: tuple[int, str] | None = None,
        http_status: int | None = None,
        hang: bool = False,
    ) -> None:
        """Queue how the next call of ``method`` is answered (else it answers as VK would).

        ``hang`` does what the call asks, then never answers: the client times out as if the
        answer was lost on the way. ``method`` may be :data:`LONG_POLL` (``http_status`` only).
        """
        self._queue(method, _Answer(result, error, http_status, hang))

    async def push(self, *events: dict[str, Any]) -> None:
        """Deliver community events to whoever long-polls."""
        self._updates.extend(events)
        self._notify()

    def lose_history(self) -> None:
        """Forget the events pushed so far, as VK does with old ones: polls from before now
        are answered ``failed: 1`` with the newest ``ts``."""
        self._kept_from = len(self._updates)

    async def fail_long_poll(self, code: int) -> None:
        """Answer the next long-poll request with ``{"failed": code}`` (1, 2 or 3)."""
        self._long_poll_failures.append(code)
        self._notify()

    # -- observing -----------------------------------------------------------------------------

    async def next_call(self, method: str, within: float = 5.0) -> dict[str, str]:
        """The next call of ``method`` not yet returned here; TimeoutError after ``within`` s."""
        return await self._next_call(method, within)

    async def consumed(self, within: float = 5.0) -> None:
        """Wait until the bot long-polls past every event pushed so far (it has handled them)."""
        pushed = len(self._updates)

        def past() -> bool:
            return any(int(poll.get("ts") or 0) >= pushed for poll in self.calls[LONG_POLL])

        await self._wait_for(past, within)

    async def next_message(self, within: float = 5.0) -> dict[str, str]:
        """The next ``messages.send`` call."""
        return await self.next_call("messages.send", within)

    def keyboard(self, call: dict[str, str]) -> list[list[dict[str, Any]]]:
        """The buttons of a ``messages.send`` call (empty without a keyboard)."""
        if "keyboard" not in call:
            return []
        buttons: list[list[dict[str, Any]]] = json.loads(call["keyboard"])["buttons"]
        return buttons

    # -- the server ----------------------------------------------------------------------------

    async def _method(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = {key: str(value) for key, value in (await request.post()).items()}
        self._record(method, params)
        planned = self._planned(method) or _Answer()
        if planned.http_status is not None:
            return web.Response(status=planned.http_status, text="Bad Gateway")
        if params.get("access_token") != self.token:
            return _error(5, "User authorization failed: invalid access_token (4).")
        if planned.error is not None:
            return _error(*planned.error)
        result = planned.result if planned.result is not None else self._perform(method, params)
        if isinstance(result, web.Response):
            return result
        if planned.hang:
            await self._closing.wait()
        return web.json_response({"response": result})

    def _perform(self, method: str, params: dict[str, str]) -> Any:
        if method == "groups.getById":
            group = {"id": self.group_id, "name": "Магазин у дома", "screen_name": "shop"}
            return {"groups": [group], "profiles": []}
        if method == "groups.getLongPollServer":
            if params.get("group_id") != str(self.group_id):
                return _error(100, "One of the parameters specified was missing or invalid")
            server = f"{self.url}/long-poll"
            return {"key": self._key, "server": server, "ts": str(len(self._updates))}
        if method == "messages.send":
            return self._deliver(params)
        if method == "messages.sendMessageEventAnswer":
            return 1
        return _error(3, "Unknown method passed")

    def _deliver(self, params: dict[str, str]) -> int:
        key = (params.get("peer_id", ""), params.get("random_id", ""))
        if key in self._sent:
            return self._sent[key]
        message_id = next(self._message_ids)
        self._sent[key] = message_id
        self.delivered.append(params)
        return message_id

    async def _long_poll(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self._record(LONG_POLL, query)
        planned = self._planned(LONG_POLL) or _Answer()
        if planned.http_status is not None:
            return web.Response(status=planned.http_status, text="Bad Gateway")
        if self._long_poll_failures:
            code = self._long_poll_failures.popleft()
            if code != 1:
                self._key = f"key-{next(self._keys)}"
            return web.json_response({"failed": code, "ts": str(len(self._updates))})
        if query.get("key") != self._key:
            return web.json_response({"failed": 2})
        seen = int(query.get("ts", "0"))
        if not self._kept_from <= seen <= len(self._updates):
            return web.json_response({"failed": 1, "ts": str(len(self._updates))})
        wait = float(query.get("wait", "25"))
        with contextlib.suppress(TimeoutError):
            await self._wait_for(
                lambda: (
                    len(self._updates) > seen
                    or bool(self._long_poll_failures)
                    or self._closing.is_set()
                ),
                wait,
            )
        updates = self._updates[seen:]
        return web.json_response({"ts": str(seen + len(updates)), "updates": updates})


def _error(code: int, message: str) -> web.Response:
    return web.json_response(
        {"error": {"error_code": code, "error_msg": message, "request_params": []}}
    )


_event_ids = itertools.count(1)


def _event(kind: str, body: dict[str, Any], group_id: int, **extra: Any) -> dict[str, Any]:
    return {
        "group_id": group_id,
        "type": kind,
        "event_id": f"{next(_event_ids):040x}",
        "v": "5.199",
        "object": body,
        **extra,
    }


def message_new(
    peer_id: int,
    text: str = "",
    *,
    payload: str | None = None,
    ref: str | None = None,
    attachments: list[dict[str, Any]] | None = None,
    group_id: int = GROUP_ID,
    **extra: Any,
) -> dict[str, Any]:
    """A ``message_new`` event from a private dialog, as API 5.199 sends it."""
    message: dict[str, Any] = {
        "date": 1767268800,
        "from_id": peer_id,
        "id": 0,
        "out": 0,
        "attachments": attachments or [],
        "conversation_message_id": next(_event_ids),
        "fwd_messages": [],
        "important": False,
        "is_hidden": False,
        "peer_id": peer_id,
        "random_id": 0,
        "text": text,
    }
    if payload is not None:
        message["payload"] = payload
    if ref is not None:
        message["ref"] = ref
    client_info = {
        "button_actions": ["text", "vkpay", "open_app", "location", "open_link", "callback"],
        "keyboard": True,
        "inline_keyboard": True,
        "carousel": True,
        "lang_id": 0,
    }
    return _event(
        "message_new", {"message": message, "client_info": client_info}, group_id, **extra
    )


def message_event(
    peer_id: int, payload: dict[str, Any], *, group_id: int = GROUP_ID, **extra: Any
) -> dict[str, Any]:
    """A ``message_event`` (a callback button pressed)."""
    body = {
        "user_id": peer_id,
        "peer_id": peer_id,
        "event_id": f"{next(_event_ids):012x}",
        "payload": payload,
        "conversation_message_id": next(_event_ids),
    }
    return _event("message_event", body, group_id, **extra)


def press(call: dict[str, str], label_part: str) -> str:
    """The payload of the button labelled with ``label_part`` in a ``messages.send`` call."""
    for row in json.loads(call.get("keyboard", '{"buttons": []}'))["buttons"]:
        for button in row:
            action = button["action"]
            if label_part.lower() in action.get("label", "").lower() and "payload" in action:
                return str(action["payload"])
    msg = f"no button with {label_part!r} in {call.get('keyboard')}"
    raise AssertionError(msg)
