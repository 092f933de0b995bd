"""Sharing a phone number, so every channel the shopper writes from becomes one customer.

    shopper: [📱 contact button] (Telegram, Viber) | «+7 912 345-67-89» typed on its own
    bot:     «Спасибо, номер +79123456789 сохранён…» + menu

Only the shopper's own contact counts: a contact card of someone else is not linked.
"""

from __future__ import annotations

from bots.messages import SharedContact
from dialogs.events import PhoneShared
from dialogs.flows.base import Flow
from dialogs.flows.menu import show_menu
from dialogs.turn import Turn
from storage.customers import normalize_phone

__all__ = ["PhoneFlow"]


class PhoneFlow(Flow):
    """Links a shared or typed phone number to the customer."""

    async def handle(self, turn: Turn) -> bool:
        phone = self._own_phone(turn)
        if phone is None:
            return False
        message = turn.message
        turn.emit(PhoneShared(message.channel, message.user_id, phone, turn.now))
        if turn.step is None:
            show_menu(turn, turn.t("phone.saved", phone=phone))
        else:  # e.g. waiting for an operator: the number is kept, the place in the queue too
            turn.say(turn.t("phone.saved", phone=phone))
        return True

    @staticmethod
    def _own_phone(turn: Turn) -> str | None:
        for attachment in turn.message.attachments:
            if isinstance(attachment, SharedContact):
                if attachment.user_id not in (None, turn.message.user_id):
                    return None
                return normalize_phone(attachment.phone)
        text = turn.text
        if text and len(text) <= 24:
            return normalize_phone(text)
        return None
