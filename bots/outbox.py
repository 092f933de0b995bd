"""The one guarded path every reply takes to a platform.

Each reply is sent through its channel and recorded with the platform's message id, or with the
error when the platform refused it (status ``failed``). A 429 is waited out (``retry_after``) and
the send retried a few times rather than dropped. A refusal that may pass (a 5xx, a timeout, a
429 that did not end) is left to :class:`~bots.retry.RetryJob`; the replies after it in the same
turn are held back unsent for the job too, and so are later turns' replies while it waits, so the
shopper still reads them in order.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass

from bots.channel import Channel, RetryAfter, SendError, part_key
from bots.messages import Reply, SentMessage
from dialogs.clock import Clock
from storage.journal import MessageJournal
from storage.records import OutgoingRecord

__all__ = ["Delivery", "Outbox", "new_send_key"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Delivery:
    """The fate of one reply: sent (with the platform's id) or failed (with the reason).

    ``attempted`` is False for a reply held back behind an earlier one that failed.
    """

    reply: Reply
    sent: SentMessage | None
    error: SendError | None
    attempted: bool = True
    key: int | None = None
    """The reply's send key (see :meth:`Channel.send`), kept with its record for resends."""


class Outbox:
    """Sends replies and keeps a record of each."""

    def __init__(
        self, journal: MessageJournal, clock: Clock, *, max_rate_retries: int = 3
    ) -> None:
        self._journal = journal
        self._clock = clock
        self._max_rate_retries = max_rate_retries
        # Conversations whose replies this process left for the retry job, and when
        # (time.monotonic()). A turn whose message was stored before that was told nothing
        # waits, and would overtake them.
        self._left_waiting: dict[int, float] = {}

    async def deliver(
        self,
        channel: Channel,
        conversation_id: int,
        chat_id: str,
        replies: Sequence[Reply],
        *,
        author: str = "bot",
        queue_behind: bool = False,
        as_of: float | None = None,
    ) -> list[Delivery]:
        """Send ``replies`` in order to ``chat_id`` and record every outcome.

        With ``queue_behind`` (an earlier reply in this conversation awaits a retry) nothing is
        sent now: the replies are recorded as held and the retry job sends them after it.
        ``as_of`` is when ``queue_behind`` was learnt (``time.monotonic()``): replies this
        outbox left waiting since then count too.
        """
        queue_behind = self._behind(conversation_id, queue_behind, as_of)
        deliveries: list[Delivery] = []
        pending: list[tuple[Reply, int | None]] = [(reply, new_send_key()) for reply in replies]
        while pending:
            reply, key = pending.pop(0)
            before = deliveries[-1].error if deliveries else None
            if queue_behind or (before is not None and before.retryable):
                held = SendError(
                    "held", "not sent: an earlier reply awaits a retry", retryable=True
                )
                deliveries.append(Delivery(reply, None, held, attempted=False, key=key))
            else:
                done, rest = await self._send(channel, chat_id, reply, key)
                deliveries.extend(done)
                pending[:0] = rest  # the parts of a reply refused midway, as replies of their own
        now = self._clock.now()
        await self._journal.record_outgoing(
            [
                OutgoingRecord(
                    conversation_id,
                    channel.name,
                    delivery.reply,
                    now,
                    delivery.sent.source_id if delivery.sent else None,
                    error_code=delivery.error.code if delivery.error else None,
                    error_description=delivery.error.description if delivery.error else None,
                    retryable=delivery.error.retryable if delivery.error else False,
                    attempted=delivery.attempted,
                    author=author,
                    send_key=delivery.key,
                )
                for delivery in deliveries
            ]
        )
        if any(d.error is not None and d.error.retryable for d in deliveries):
            self._left_waiting.pop(conversation_id, None)  # the newest last
            self._left_waiting[conversation_id] = time.monotonic()
            if len(self._left_waiting) > _LEFT_WAITING_KEPT:
                del self._left_waiting[next(iter(self._left_waiting))]
        return deliveries

    def _behind(self, conversation_id: int, queue_behind: bool, as_of: float | None) -> bool:
        """Whether the replies must wait, with what this process knows since ``as_of``."""
        left = self._left_waiting.get(conversation_id)
        if left is None:
            return queue_behind
        if as_of is not None and as_of > left:
            # The database was asked after those replies were recorded: its answer holds.
            if not queue_behind:
                del self._left_waiting[conversation_id]
            return queue_behind
        return True

    async def _send(
        self, channel: Channel, chat_id: str, reply: Reply, key: int | None
    ) -> tuple[list[Delivery], list[tuple[Reply, int | None]]]:
        """The deliveries of ``reply``, and the parts of it still to send if refused midway."""
        retries = 0
        while True:
            try:
                sent = await channel.send(chat_id, reply, key=key)
                return [Delivery(reply, sent, None, key=key)], []
            except RetryAfter as exc:
                if retries >= self._max_rate_retries:
                    log.warning(
                        "%s chat %s: still rate-limited, kept as failed", channel.name, chat_id
                    )
                    return [Delivery(reply, None, exc, key=key)], []
                retries += 1
                log.info("%s asked to wait %.1f s before sending", channel.name, exc.seconds)
                await self._clock.sleep(exc.seconds)
            except SendError as exc:
                log.warning("%s chat %s: send refused: %s", channel.name, chat_id, exc)
                return _split(reply, exc, key)
            except Exception as exc:  # a network failure must not lose the reply's record
                log.exception("%s chat %s: send failed", channel.name, chat_id)
                error = SendError("error", repr(exc), retryable=True)
                return [Delivery(reply, None, error, key=key)], []


_LEFT_WAITING_KEPT = 10_000
"""Conversations with replies left waiting that an outbox remembers (the oldest are dropped)."""

_PART_ROOM = 2**16
"""Keys leave this much room below 2**31 for ``part_key`` (a reply has far fewer parts)."""


def new_send_key() -> int:
    """A fresh send key, never 0, that stays a 32-bit integer with any part's offset
    (:func:`~bots.channel.part_key`)."""
    return secrets.randbelow(2**31 - _PART_ROOM) + 1


def _split(
    reply: Reply, error: SendError, key: int | None
) -> tuple[list[Delivery], list[tuple[Reply, int | None]]]:
    """One record per message when a reply was refused after part of it got through.

    The parts the shopper already has are recorded as sent and the refused part carries the
    error; the parts after it go back to :meth:`Outbox.deliver` like later replies, so they
    wait behind a refusal that may pass and a retry sends only what is missing.
    """
    if not error.delivered:
        return [Delivery(reply, None, error, key=key)], []
    refused, *rest = error.undelivered or (reply,)
    done = len(error.delivered)
    sent = [
        Delivery(part, message, None, key=part_key(key, index))
        for index, (part, message) in enumerate(error.delivered)
    ]
    later = [(part, part_key(key, done + 1 + index)) for index, part in enumerate(rest)]
    return [*sent, Delivery(refused, None, error, key=part_key(key, done))], later
