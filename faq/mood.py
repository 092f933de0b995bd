"""Whether a message sounds like an unhappy shopper («ужасная доставка», "your staff was rude").

Used twice: the matcher answers such a message only with an entry that takes complaints
(«ужасная доставка» is not a question about the delivery price), and the question flow
offers feedback instead of «no answer found» when the FAQ has nothing for it. Word
beginnings, so any form counts («нахамили», «хамство»).
"""

from __future__ import annotations

import re

__all__ = ["sounds_unhappy"]

_UNHAPPY_STEMS = (
    # Russian
    "ужас", "отвратит", "мерзк", "ненавиж", "ненавид", "позор", "безобраз", "хамств", "хамит",
    "хамк", "хамл", "нахам", "груб", "нагруб", "наглост", "кошмар", "обман", "обсчит",
    "возмут", "недовол", "разочаров", "отстой", "бесит", "бесят", "жалоб", "пожаловат",
    "претензи",
    # English
    "terribl", "awful", "disgust", "hate", "rude", "worst", "horribl", "unacceptabl", "scam",
    "cheat", "disappoint", "complain", "pathetic",
)  # fmt: skip
"""Displeasure and complaints, by word beginning."""

_WORD = re.compile(r"\w+")


def sounds_unhappy(text: str) -> bool:
    """True when a word of the message begins like displeasure or a complaint."""
    words = _WORD.findall(text.lower().replace("ё", "е"))
    return any(word.startswith(_UNHAPPY_STEMS) for word in words)
