"""The last flow: whatever nobody claimed gets a reason and an alternative, never a shrug.

shopper: a voice message | a sticker | a photo outside feedback | an empty message
bot:     «Голосовые сообщения я пока не умею слушать. Напишите текстом — или…»
         [👤 Позвать оператора] [↩️ В меню]
"""

from __future__ import annotations

from bots.messages import OtherAttachment, Photo
from dialogs.flows.base import Flow
from dialogs.flows.menu import HANDOFF, MENU
from dialogs.turn import Turn

__all__ = ["FallbackFlow", "unhandled_reason"]

_KNOWN_KINDS = frozenset({"voice", "sticker"})


def unhandled_reason(turn: Turn) -> str:
    """The catalog key that explains why this message could not be handled."""
    for attachment in turn.message.attachments:
        if isinstance(attachment, OtherAttachment):
            return f"unsupported.{attachment.kind if attachment.kind in _KNOWN_KINDS else 'other'}"
        if isinstance(attachment, Photo):
            return "unsupported.photo"
    if not turn.text and turn.message.button_payload:
        return "unsupported.button"  # a press on a button from an old message or version
    if not turn.text:
        return "unsupported.empty" if not turn.message.attachments else "unsupported.other"
    return "question.not_found"


class FallbackFlow(Flow):
    """Claims every turn: says why the bot cannot help and what the shopper can do instead."""

    async def handle(self, turn: Turn) -> bool:
        turn.say(
            turn.t(unhandled_reason(turn)),
            [turn.button("menu.handoff", HANDOFF)],
            [turn.button("menu.back", MENU)],
        )
        return True
