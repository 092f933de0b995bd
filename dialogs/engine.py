"""The dialog engine: one incoming message in, the replies out.

Order of work for every message, and why:

1. **Store the message** and wait for its commit — whatever fails later, the shopper's words are
   kept (and a redelivered platform event is recognised and not answered twice). The journal
   commits messages arriving together in one transaction (group commit).
2. **Pick the language** the shopper wrote in; when the words do not tell («ок», a button, a
   number), the one they last wrote in, else the platform's language code (Russian by
   default). The platform's code is the app's or browser's setting, which many Russian
   speakers keep in English.
3. **Lock the conversation, then load its state** — locking after loading lets two quick
   messages both act on the old step (aiogram #1317).
4. **Offer the turn to the flows** in order; the last flow always answers with a reason and an
   alternative. Events the flows emitted are handled before any reply leaves.
5. **Errors become a polite reply**; the state is saved only when the turn succeeded.
6. **Hand the replies to ``deliver`` while the conversation is still locked**, so a chat's
   replies leave in the order of its messages even when one turn's send is slow (a 429
   waited out) and the next message's turn is already waiting.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

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

__all__ = ["LANGUAGE", "Deliver", "Engine", "TurnResult", "WrittenLanguage"]

log = logging.getLogger(__name__)

LANGUAGE = "language"
"""Conversation state key: the language the shopper last wrote in."""

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
        if ref.duplicate:
            log.info(
                "%s event %s was delivered again; ignored", message.channel, message.source_id
            )
            return TurnResult(ref.conversation_id, [], duplicate=True)
        written = self._written(message)
        language = written or self._catalog.pick_language(message.language_code)
        key = StateKey(message.channel, message.chat_id, message.user_id)
        delivering = False
        try:
            async with self._locks.lock(key):
                replies = await self._turn(message, ref.conversation_id, key, written, now)
                result = TurnResult(
                    ref.conversation_id,
                    replies,
                    queue_behind=ref.replies_waiting,
                    asked_at=asked_at,
                )
                if deliver is not None:
                    delivering = True
                    await deliver(result)
                return result
        except Exception:
            if delivering:
                raise
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
    ) -> list[Reply]:
        """The turn's replies, or an apology when it failed (its state is then not saved)."""
        language = written or self._catalog.pick_language(message.language_code)
        try:
            step, data = await self._states.load(key)
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
            await self._run(turn)
            await self._states.save(key, turn.step, turn.data)
        except Exception:
            log.exception("conversation %s: the turn failed", conversation_id)
            return [self._apology(language)]
        return turn.replies

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
