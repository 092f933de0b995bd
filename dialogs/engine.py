"""The dialog engine: one incoming message in, the replies out.

Order of work for every message, and why:

1. **Store the message** and wait for its commit — whatever fails later, the shopper's words are
   kept (a redelivered platform event is recognised and not stored twice). The journal
   commits messages arriving together in one transaction (group commit).
2. **Pick the language** the shopper wrote in; when the words do not tell («ок», a button, a
   number), the one they last wrote in, else the platform's language code (Russian by
   default). The platform's code is the app's or browser's setting, which many Russian
   speakers keep in English.
3. **Lock the conversation, then load its state** — locking after loading lets two quick
   messages both act on the old step (aiogram #1317).
4. **Offer the turn to the flows** in order; the last flow always answers with a reason and an
   alternative. Events the flows emitted are handled before any reply leaves.
5. **Errors become a polite reply**; the flows' changes to the state are kept only when the
   turn succeeded.
6. **Hand the replies to ``deliver`` while the conversation is still locked**, so a chat's
   replies leave in the order of its messages even when one turn's send is slow (a 429
   waited out) and the next message's turn is already waiting.
7. **Save the state once the replies are sent**, with the platform's id of the event among
   the chat's run events. A redelivered event whose turn ran is ignored; one whose worker
   died before that point (stored, but the turn or its sending cut short) is answered when
   the platform delivers it again. The check is made under the lock, so two workers handed
   the same event run it once, whichever gets there first.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bots.messages import Button, IncomingMessage, Reply
from config.catalog import Catalog
from dialogs.bus import EventBus
from dialogs.clock import Clock
from dialogs.flows import Flow
from dialogs.flows.menu import HANDOFF, MENU
from dialogs.turn import Turn
from storage.journal import MessageJournal
from storage.locks import ConversationLock
from storage.state import StateKey, StateStore

__all__ = ["LANGUAGE", "TURNS", "Deliver", "Engine", "TurnResult", "WrittenLanguage"]

log = logging.getLogger(__name__)

LANGUAGE = "language"
"""Conversation state key: the language the shopper last wrote in."""

TURNS = "turns"
"""Conversation state key: the platform ids of the chat's latest events whose turns ran."""
TURNS_KEPT = 16
"""Platforms redeliver an event soon after it failed, not after dozens of newer ones."""

WrittenLanguage = Callable[[str], str | None]
"""Tells the language a text is written in ("ru", "en"), or None when it does not tell."""


@dataclass(frozen=True, slots=True)
class TurnResult:
    """What the engine decided: the conversation the message went to and the replies to send."""

    conversation_id: int
    replies: list[Reply]
    duplicate: bool = False
    queue_behind: bool = False
    """An earlier reply awaits a retry: these must queue behind it, not overtake it."""
    asked_at: float = 0.0
    """When storing the message asked whether replies wait (``time.monotonic()``): the
    outbox knows of replies it left waiting since then, which that answer could not."""


@dataclass(frozen=True, slots=True)
class _Ran:
    """A turn that ran: its replies, and the state to save once they are sent (None: keep
    what is saved)."""

    replies: list[Reply]
    state: tuple[str | None, dict[str, Any]] | None


Deliver = Callable[[TurnResult], Awaitable[object]]
"""Sends a turn's replies (the pipeline's outbox); the engine awaits it inside the lock."""


class Engine:
    """Routes each message through the flows; knows no platform and no channel."""

    def __init__(
        self,
        *,
        journal: MessageJournal,
        states: StateStore,
        locks: ConversationLock,
        catalog: Catalog,
        flows: Sequence[Flow],
        bus: EventBus,
        clock: Clock,
        written_language: WrittenLanguage | None = None,
    ) -> None:
        self._journal = journal
        self._states = states
        self._locks = locks
        self._catalog = catalog
        self._flows = tuple(flows)
        self._bus = bus
        self._clock = clock
        self._written_language = written_language
        self._languages = catalog.languages

    async def handle(
        self,
        message: IncomingMessage,
        *,
        on_stored: Callable[[], object] | None = None,
        deliver: Deliver | None = None,
    ) -> TurnResult:
        """Store ``message``, run it through the flows and return the replies to send.

        ``on_stored`` is called once the message is committed (or known as a redelivery), for a
        channel that acknowledges the platform at that point rather than after the replies.
        ``deliver`` is awaited with the result before the conversation is unlocked; an error
        it raises is the caller's, not the turn's.
        """
        now = self._clock.now()
        asked_at = time.monotonic()
        ref = await self._journal.file_incoming(message, now)
        if on_stored is not None:
            on_stored()
        written = self._written(message)
        language = written or self._catalog.pick_language(message.language_code)
        key = StateKey(message.channel, message.chat_id, message.user_id)
        delivering = False
        try:
            async with self._locks.lock(key):
                ran = await self._turn(message, ref.conversation_id, key, written, now)
                if ran is None:
                    log.info(
                        "%s event %s was delivered again; ignored",
                        message.channel,
                        message.source_id,
                    )
                    return TurnResult(ref.conversation_id, [], duplicate=True)
                if ref.duplicate:
                    log.warning(
                        "%s event %s was stored, but its turn never ended (a worker stopped "
                        "mid-turn?): answered now",
                        message.channel,
                        message.source_id,
                    )
                result = TurnResult(
                    ref.conversation_id,
                    ran.replies,
                    queue_behind=ref.replies_waiting,
                    asked_at=asked_at,
                )
                if deliver is not None:
                    delivering = True
                    try:
                        await deliver(result)
                    except Exception:
                        await self._keep(key, ran)  # some replies may have left: it ran
                        raise
                await self._keep(key, ran)
                return result
        except Exception:
            if delivering:
                raise
            if ref.duplicate:
                # Whether its turn ran cannot be told: most redeliveries' turns did.
                log.exception("%s event %s: delivered again", message.channel, message.source_id)
                return TurnResult(ref.conversation_id, [], duplicate=True)
            # The lock itself failed (a Redis that cannot be reached): still answer.
            log.exception("conversation %s: the turn failed", ref.conversation_id)
            result = TurnResult(
                ref.conversation_id,
                [self._apology(language)],
                queue_behind=ref.replies_waiting,
                asked_at=asked_at,
            )
            if deliver is not None:
                await deliver(result)
            return result

    async def _turn(
        self,
        message: IncomingMessage,
        conversation_id: int,
        key: StateKey,
        written: str | None,
        now: datetime,
    ) -> _Ran | None:
        """Run the flows; None when this platform event's turn ran before.

        The state to keep comes back with the replies, for :meth:`_keep` once they are sent.
        A failed turn answers with an apology and keeps the state as it was loaded, plus the
        event's mark: the flows' half-done changes are dropped, but the event is not run again.
        """
        language = written or self._catalog.pick_language(message.language_code)
        try:
            step, data = await self._states.load(key)
        except Exception:
            log.exception("conversation %s: the turn failed", conversation_id)
            return _Ran([self._apology(language)], None)
        ran: list[str] = [str(event) for event in data.get(TURNS, ())]
        if message.source_id is not None:
            if message.source_id in ran:
                return None
            ran = [*ran, message.source_id][-TURNS_KEPT:]
        if written is not None:
            data[LANGUAGE] = written
        elif data.get(LANGUAGE) in self._languages:
            language = data[LANGUAGE]
        turn = Turn(
            message=message,
            conversation_id=conversation_id,
            language=language,
            step=step,
            data=data,
            now=now,
            catalog=self._catalog,
        )
        try:
            await self._run(turn)
        except Exception:
            log.exception("conversation %s: the turn failed", conversation_id)
            # The state as it was (the flows may have changed some of it), marked as run.
            return _Ran([self._apology(language)], await self._marked(key, ran))
        turn.data[TURNS] = ran
        return _Ran(turn.replies, (turn.step, turn.data))

    async def _marked(
        self, key: StateKey, ran: list[str]
    ) -> tuple[str | None, dict[str, Any]] | None:
        """The saved state with ``ran`` as its run events; None when it cannot be read."""
        try:
            step, data = await self._states.load(key)
        except Exception:
            log.exception("the state of %s could not be read", key)
            return None
        return step, {**data, TURNS: ran}

    async def _keep(self, key: StateKey, ran: _Ran) -> None:
        """Save the state a turn left, once its replies are sent.

        Saved after sending, not before: a worker that dies while the replies are on their way
        has not marked the event as run, so the platform's redelivery is answered (again, for
        replies that did get through) rather than never. Replies already sent stay sent when
        saving fails; the failure is logged.
        """
        if ran.state is None:
            return
        step, data = ran.state
        try:
            await self._states.save(key, step, data)
        except Exception:
            log.exception("the state of %s could not be saved", key)

    def _written(self, message: IncomingMessage) -> str | None:
        """The catalog language the message's own words are in, or None when they do not tell.

        A button's or a deep link's text is the bot's own label, and ``/start`` is a command:
        none of them says what the shopper speaks.
        """
        text = message.text.strip()
        if (
            self._written_language is None
            or not text
            or text.startswith("/")
            or message.button_payload is not None
            or message.deeplink_payload is not None
        ):
            return None
        try:
            written = self._written_language(text)
        except Exception:  # a nicety: the platform's language still answers
            log.exception("the language of a %s message could not be told", message.channel)
            return None
        return written if written in self._languages else None

    async def _run(self, turn: Turn) -> None:
        for flow in self._flows:
            if await flow.handle(turn):
                break
        for event in turn.events:
            await self._bus.publish(event)

    def _apology(self, language: str) -> Reply:
        text = self._catalog.text
        return Reply(
            text=text(language, "error.internal"),
            buttons=(
                (Button(text(language, "menu.handoff"), payload=HANDOFF),),
                (Button(text(language, "menu.back"), payload=MENU),),
            ),
        )
