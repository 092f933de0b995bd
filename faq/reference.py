"""A pronoun in a follow-up, read as the thing the question before it named.

«как получить карту лояльности» is answered, and the shopper asks «а она бесплатная?». Alone,
«она бесплатная» points at nothing in the FAQ; read together with the earlier question, the
earlier question wins and is answered again («сколько стоит доставка» → «а она быстрая?» would
get the price, not the delivery time). Putting the earlier question's noun phrase in the
pronoun's place asks what the shopper asked: «а карту лояльности бесплатная?», «а доставка
быстрая?». The case of the noun may not agree; neither stage minds.

Russian only: English has no morphology here to find the noun phrase ("it" after "how do I
get the loyalty card").
"""

from __future__ import annotations

import re

from faq.normalizer import Normalizer

__all__ = ["PRONOUNS", "with_referent"]

PRONOUNS = frozenset(
    {
        # он / она / оно / они in every case, with and without н-
        "он", "она", "оно", "они", "его", "ее", "их", "ему", "ей", "им", "ним", "ими", "ею",
        "него", "нее", "них", "нему", "ней", "нем", "нею", "ними",
        # это / этот / эта / эти in every case
        "это", "этот", "эта", "эти", "этого", "этой", "этому", "этим", "этих", "эту", "этом",
        "этими",
    }
)  # fmt: skip
"""Words that stand for something named before."""

_WORD = re.compile(r"[а-яёa-z0-9-]+", re.IGNORECASE)


def with_referent(text: str, earlier: str, normalizer: Normalizer) -> str | None:
    """``text`` with its first pronoun replaced by ``earlier``'s noun phrase, or None when it
    has no pronoun or ``earlier`` names nothing (no noun: «до скольки вы работаете»)."""
    found = None
    for match in _WORD.finditer(text):
        if match.group().lower().replace("ё", "е") in PRONOUNS:
            found = match
            break
    if found is None:
        return None
    phrase = _noun_phrase(earlier, normalizer)
    if phrase is None:
        return None
    return f"{text[: found.start()]}{phrase}{text[found.end() :]}"


def _noun_phrase(question: str, normalizer: Normalizer) -> str | None:
    """``question``'s first noun with the genitive nouns right after it («карту лояльности»,
    «доставка», «сроки возврата денег»), or None when it has no noun."""
    words = [match.group() for match in _WORD.finditer(question)]
    phrase: list[str] = []
    for word in words:
        clean = word.lower().replace("ё", "е")
        head, narrowing = normalizer.noun_reading(clean)
        if not phrase:
            if head and len(clean) > 2 and clean not in PRONOUNS:
                phrase.append(word)
        elif narrowing:
            phrase.append(word)
        else:
            break
    return " ".join(phrase) or None
