"""Recognising short commands in what shoppers type («Меню!», "/start", «позовите человека»)."""

from __future__ import annotations

import re

__all__ = ["command_words", "normalized"]

_NOT_WORD = re.compile(r"[^\w/]+", re.UNICODE)


def normalized(text: str) -> str:
    """Lower case, ё→е, punctuation and emoji removed, spaces collapsed."""
    cleaned = _NOT_WORD.sub(" ", text.lower().replace("ё", "е"))
    return " ".join(cleaned.split())


def command_words(text: str, limit: int = 6) -> frozenset[str]:
    """The words of a short message, or nothing for a long one (a long text is not a command)."""
    words = normalized(text).split()
    return frozenset(words) if 0 < len(words) <= limit else frozenset()
