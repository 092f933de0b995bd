"""Whether a message sounds like an unhappy shopper («вы ужасные», "your staff was rude").

The FAQ answers questions; a shopper who is angry about a store, a cashier or a delivery
often writes no question at all. When the FAQ has nothing for such a message, «I found no
answer, rephrase it» is the wrong reply: the bot offers to take it down as feedback (or to
call a person) instead. Word beginnings, so any form counts («нахамили», «хамство»).
"""

from __future__ import annotations

from dialogs.words import normalized
from faq.lexicon import UNHAPPY_STEMS

__all__ = ["sounds_unhappy"]


def sounds_unhappy(text: str) -> bool:
    """True when a word of the message begins like displeasure or a complaint."""
    return any(word.startswith(UNHAPPY_STEMS) for word in normalized(text).split())
