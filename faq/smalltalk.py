"""Small talk («привет», «спасибо», "thanks"): answered as such, never matched to an entry."""

from __future__ import annotations

import re

from faq.lexicon import FILLERS, SMALLTALK

__all__ = ["split_smalltalk"]

_PHRASES = {phrase: kind for kind, phrases in SMALLTALK.items() for phrase in phrases}
_LONGEST = max(len(phrase.split()) for phrase in _PHRASES)
# Kinds that may stand next to a real question («привет, где мой заказ») and are dropped.
_DETACHABLE = frozenset({"greeting", "thanks", "bye"})
_LAUGH = re.compile(r"^(?:[ах]{4,}|(?:ha){2,}h?|(?:хе){2,}|l+o+l+|л+о+л+)$")


def split_smalltalk(words: tuple[str, ...]) -> tuple[str | None, tuple[bool, ...]]:
    """Find small talk in normalized words.

    Returns the kind of the first small-talk phrase (or None) and, per word, whether it is
    part of a question rather than small talk. A message is pure small talk when the kind
    is set and no word is part of a question.
    """
    keep = [True] * len(words)
    kinds: list[str] = []
    i = 0
    while i < len(words):
        for size in range(min(_LONGEST, len(words) - i), 0, -1):
            kind = _PHRASES.get(" ".join(words[i : i + size]))
            if kind is None and size == 1 and _LAUGH.match(words[i]):
                kind = "laugh"
            if kind is not None:
                kinds.append(kind)
                keep[i : i + size] = [False] * size
                i += size
                break
        else:
            i += 1
    if not kinds:
        return None, tuple(keep)
    question = [k and w not in FILLERS for k, w in zip(keep, words, strict=True)]
    if not any(question):
        return kinds[0], tuple(False for _ in words)
    # A real question is present: drop only greetings, thanks and goodbyes around it, not
    # inside it, where «пока» means "while" («остыло всё, пока везли»).
    detachable = _detachable_mask(words)
    edge = [False] * len(words)
    for order in (range(len(words)), range(len(words) - 1, -1, -1)):
        for i in order:
            if not (detachable[i] or words[i] in FILLERS):
                break
            edge[i] = detachable[i]
    return None, tuple(not d for d in edge)


def _detachable_mask(words: tuple[str, ...]) -> list[bool]:
    mask = [False] * len(words)
    i = 0
    while i < len(words):
        for size in range(min(_LONGEST, len(words) - i), 0, -1):
            if _PHRASES.get(" ".join(words[i : i + size])) in _DETACHABLE:
                mask[i : i + size] = [True] * size
                i += size
                break
        else:
            i += 1
    return mask
