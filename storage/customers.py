"""Customers across channels: one phone number shared in two channels makes one customer."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Customer, Identity

__all__ = ["CustomerRepository", "normalize_phone"]

_DIGITS = re.compile(r"\D+")


def normalize_phone(text: str) -> str | None:
    """``+7 (912) 345-67-89``, ``8 912 345 67 89`` and ``9123456789`` → ``+79123456789``.

    Returns None for anything that is not a plausible phone number (10–15 digits, no letters).
    """
    if any(ch.isalpha() for ch in text):
        return None
    digits = _DIGITS.sub("", text)
    if len(digits) == 11 and digits.startswith("8"):
        digits = "7" + digits[1:]
    elif len(digits) == 10 and digits.startswith("9"):
        digits = "7" + digits
    if not 11 <= len(digits) <= 15:
        return None
    return "+" + digits


class CustomerRepository:
    """Customers and their channel identities."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def link_phone(self, channel: str, user_id: str, phone: str, now: datetime) -> int:
        """Attach ``phone`` to the identity and merge it into the customer who already has it.

        The earliest customer with the phone survives; every identity of the other customer moves
        to it, so operators and reports see one person with all their channels. Returns the
        surviving customer's id.
        """
        identity = await self._session.scalar(
            select(Identity).where(Identity.channel == channel, Identity.user_id == user_id)
        )
        if identity is None:
            msg = f"no {channel} identity {user_id!r} to attach a phone to"
            raise LookupError(msg)
        identity.phone = phone
        current = await self._session.get_one(Customer, identity.customer_id)
        holder = await self._session.scalar(
            select(Customer)
            .where(Customer.phone == phone, Customer.id != current.id)
            .order_by(Customer.id)
            .limit(1)
        )
        if holder is None:
            current.phone = phone
            await self._session.flush()
            return current.id
        survivor, merged = (holder, current) if holder.id < current.id else (current, holder)
        await self._session.execute(
            update(Identity)
            .where(Identity.customer_id == merged.id)
            .values(customer_id=survivor.id)
        )
        survivor.phone = phone
        merged.phone = None
        await self._session.flush()
        return survivor.id

    async def identities_of(self, customer_id: int) -> list[tuple[str, str]]:
        """The (channel, user id) pairs a customer writes from."""
        rows = await self._session.execute(
            select(Identity.channel, Identity.user_id)
            .where(Identity.customer_id == customer_id)
            .order_by(Identity.id)
        )
        return [(channel, user) for channel, user in rows]

    async def customer_of(self, channel: str, user_id: str) -> int | None:
        """The customer behind a channel identity."""
        return await self._session.scalar(
            select(Identity.customer_id).where(
                Identity.channel == channel, Identity.user_id == user_id
            )
        )
