"""The retry job: replies a platform refused for a passing reason are sent again.

The outbox records a refusal that may pass (a 5xx, a timeout, a 429 that did not end) as
``failed`` and due at once. Every ``outbox.retry_interval`` seconds this job claims the due
replies, rebuilds each :class:`~bots.messages.Reply` from the stored text and buttons and sends
it through the same channel. A reply that got through is marked ``sent`` with the platform's id;
one refused again waits ``backoff`` seconds, doubling up to ``max_backoff``, and after
``max_attempts`` sends in all it stays ``failed`` and is not tried again. A refusal that will not
pass (403 blocked, 400, ``unsubscribed``) is never resent.

Order per chat: only the earliest waiting reply of a conversation is due, and the next one of that
conversation is claimed only after it went through, in the same run. Several workers may run the
job at once: claimed rows are held (and on PostgreSQL claimed with ``FOR UPDATE SKIP LOCKED``), so
each reply is sent by one of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

from bots.channel import Channel, RetryAfter, SendError, part_key
from bots.layout import CONTINUED
from bots.messages import Reply
from config.settings import OutboxSettings
from dialogs.clock import Clock
from storage.records import PendingReply
from storage.uow import UnitOfWork

__all__ = ["CLAIM_HOLD", "RetryJob"]

log = logging.getLogger(__name__)

CLAIM_HOLD = timedelta(minutes=10)
"""How long a claimed reply is kept from other workers: longer than any send takes (a Telegram
reply in parts may wait out a few 429s). A worker that dies mid-send leaves the reply to be
retried after it."""


class RetryJob:
    """Resends refused replies that are due, in order per chat, with exponential backoff."""

    def __init__(
        self,
        uow: Callable[[], UnitOfWork],
        channels: Sequence[Channel],
        clock: Clock,
        settings: OutboxSettings,
        *,
        batch: int = 100,
    ) -> None:
        self._uow = uow
        self._channels = {channel.name: channel for channel in channels}
        self._clock = clock
        self._settings = settings
        self._batch = batch

    async def run(self, stop: asyncio.Event) -> None:
        """Run :meth:`run_once` every ``retry_interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self._settings.retry_interval)
            if stop.is_set():
                return
            try:
                await self.run_once(self._clock.now(), stop)
            except Exception:  # a database blip: the rows stay due, the next run takes them
                log.exception("the reply retry run failed")

    async def run_once(self, now: datetime, stop: asyncio.Event | None = None) -> int:
        """Resend the replies due at ``now``; returns how many got through.

        Once ``stop`` is set no further resend starts; the one under way is finished and
        recorded, so a reply the shopper got is not left claimed and sent again later.
        """
        if not self._channels:
            return 0
        delivered = 0
        tried = 0
        started = self._clock.now()

        def at() -> datetime:
            # Sending a batch takes time (timeouts during an outage): each claim, and each
            # renewal in _resend, is made at the time it happens, not at the start of the run.
            return now + (self._clock.now() - started)

        while tried < self._batch:
            claimed_at = at()
            async with self._uow() as uow:
                claimed = await uow.messages.claim_due_for_retry(
                    claimed_at,
                    channels=self._channels,
                    hold_until=claimed_at + CLAIM_HOLD,
                    limit=self._batch - tried,
                )
                await uow.commit()
            if not claimed:
                break
            tried += len(claimed)
            sent: list[bool] = []
            for number, pending in enumerate(claimed):
                if stop is not None and stop.is_set():
                    await self._release(claimed[number:], at())
                    return delivered + sum(sent)
                sent.append(await self._resend(pending, at()))
            delivered += sum(sent)
            if not any(sent):
                # Nothing went through, so no conversation has a next reply due: done for now.
                break
        return delivered

    async def _release(self, unsent: Sequence[PendingReply], now: datetime) -> None:
        """Give back claims not started: held for ``CLAIM_HOLD``, their chats would count as
        having a reply waiting, and every new reply there would be held behind them."""
        async with self._uow() as uow:
            for pending in unsent:
                await uow.messages.renew_claim(pending.id, pending.held_until, now)
            await uow.commit()

    async def _resend(self, pending: PendingReply, now: datetime) -> bool:
        if pending.attempts >= self._settings.max_attempts:  # max_attempts was lowered
            async with self._uow() as uow:
                await uow.messages.stop_retrying(pending.id)
                await uow.commit()
            return False
        channel = self._channels[pending.channel]
        # The claim holds the whole batch for CLAIM_HOLD; renewed just before each send, so a
        # batch sent slowly is not taken over midway by another worker, and a reply another
        # worker took after our claim ran out is left to it.
        held_until = now + CLAIM_HOLD
        async with self._uow() as uow:
            still_ours = await uow.messages.renew_claim(pending.id, pending.held_until, held_until)
            await uow.commit()
        if not still_ours:
            log.info(
                "%s chat %s: reply %d taken by another worker",
                channel.name,
                pending.chat_id,
                pending.id,
            )
            return False
        wait = 0.0
        try:
            sent = await channel.send(pending.chat_id, pending.reply, key=pending.send_key)
        except RetryAfter as exc:
            error: SendError = exc
            wait = exc.seconds
        except SendError as exc:
            error = exc
            if exc.delivered and exc.undelivered:
                await self._record_parts(pending, exc, held_until, now)
        except Exception as exc:  # a network failure must not stop the other chats' retries
            log.exception("%s chat %s: resend failed", channel.name, pending.chat_id)
            error = SendError("error", repr(exc), retryable=True)
        else:
            async with self._uow() as uow:
                await uow.messages.mark_resent(pending.id, sent.source_id, held_until=held_until)
                await uow.commit()
            log.info("%s chat %s: reply %d resent", channel.name, pending.chat_id, pending.id)
            return True
        next_attempt_at = self._next_attempt(pending.attempts + 1, error, wait, now)
        if next_attempt_at is None:
            log.warning(
                "%s chat %s: reply %d given up after %d attempts: %s",
                channel.name,
                pending.chat_id,
                pending.id,
                pending.attempts + 1,
                error,
            )
        async with self._uow() as uow:
            await uow.messages.mark_resend_failed(
                pending.id,
                error.code,
                error.description,
                next_attempt_at=next_attempt_at,
                held_until=held_until,
            )
            await uow.commit()
        return False

    async def _record_parts(
        self, pending: PendingReply, error: SendError, held_until: datetime, now: datetime
    ) -> None:
        """Refused after some parts got through: those are recorded as sent, and the row is
        narrowed to the rest, so the next resend does not repeat what the shopper has."""
        delivered = error.delivered or ()
        async with self._uow() as uow:
            if not await uow.messages.narrow_to_rest(
                pending.id,
                _rest(error.undelivered or ()),
                held_until=held_until,
                send_key=part_key(pending.send_key, len(delivered)),
            ):
                return  # no longer ours: the worker that took it records what it sends
            for index, (part, sent) in enumerate(delivered):
                await uow.messages.add_outgoing(
                    pending.conversation_id,
                    pending.channel,
                    part,
                    now,
                    source_id=sent.source_id,
                    send_key=part_key(pending.send_key, index),
                )
            await uow.commit()

    def _next_attempt(
        self, attempts: int, error: SendError, wait: float, now: datetime
    ) -> datetime | None:
        """When to try again after ``attempts`` sends, the last refused with ``error``."""
        if not error.retryable or attempts >= self._settings.max_attempts:
            return None
        # The first resend was attempt 2: it waited one run; later ones back off exponentially.
        delay = min(self._settings.backoff * 2 ** max(attempts - 2, 0), self._settings.max_backoff)
        return now + timedelta(seconds=max(delay, wait))


def _rest(parts: Sequence[Reply]) -> Reply:
    """The parts of a reply still to send, as one reply the channel will split again."""
    if len(parts) == 1:
        return parts[0]
    texts = [part.text for part in parts if part.text and part.text != CONTINUED]
    return Reply(
        text="\n".join(texts) or CONTINUED,
        buttons=tuple(row for part in parts for row in part.buttons),
        image_url=parts[0].image_url,
    )
