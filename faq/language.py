"""Which language a shopper wrote in, so replies follow the words and not the app's settings.

A platform's language code is the language of the shopper's app or browser, and many Russian
speakers run Telegram or a browser in English: answering «скока стоит доставка» in English
because of a setting the shopper never thinks about reads as a broken bot. The words decide
when they can:

- A message without a Latin letter is Russian if it has a Cyrillic one: most messages are
  told in under a microsecond, without the normalizer.
- Otherwise Cyrillic wins when it has at least as many words as Latin. Wrong-layout and
  transliterated Russian (`ghbdtn`, `skolko stoit dostavka`) is read as Russian, since the
  normalizer has already turned it into Cyrillic.
- Latin decides for English only when at least half of its words are English words, so a
  product name («iphone»), a typo-ridden translit or a lone «ok» does not switch a Russian
  speaker to English.
- Anything else (numbers, emoji, links, «ok», a phone number) says nothing: the caller keeps the
  language the shopper last wrote in, or the platform's.
"""

from __future__ import annotations

import re

from faq.lexicon import EMOJI_WORDS
from faq.normalizer import Normalizer

__all__ = ["written_language"]

_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_LATIN = re.compile(r"[a-z]", re.IGNORECASE)
_EMOJI = re.compile("|".join(re.escape(emoji) for emoji in EMOJI_WORDS))
_ADDRESS = re.compile(r"\S*(?:://|www\.|@)\S*|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}\b\S*", re.I)
"""Links, e-mail addresses and domains: Latin whatever the shopper speaks."""
_ENGLISH = 2.5
"""Zipf frequency from which a Latin word counts as English («refund» 3.5, «receipt» 3.6)."""
_SAYS_NOTHING = frozenset({"ok", "okay", "lol", "wow", "omg", "xd"})
"""Latin words Russian speakers type as often as English ones."""
_READ_AT_MOST = 300
"""Characters looked at: a language shows in its first sentence, and a long letter is not
analysed twice (the matcher reads the whole of it anyway)."""


def written_language(
    text: str, normalizer: Normalizer, vocabulary: frozenset[str] = frozenset()
) -> str | None:
    """The language ``text`` is written in: "ru", "en", or None when it does not tell.

    ``vocabulary`` (the FAQ's words) helps the normalizer decide layout and translit fixes, as
    it does when matching.
    """
    text = text[:_READ_AT_MOST]
    if not _LATIN.search(text):
        # Most messages: no Latin letter, so no layout, translit or English to read. Russian
        # if there is a Cyrillic letter at all (the engine asks this of every message).
        return "ru" if _CYRILLIC.search(text) else None
    # Emoji stand for Russian words in the normalizer (👍 → «ок»): they say nothing here.
    words = _ADDRESS.sub(" ", _EMOJI.sub(" ", text))
    analysis = normalizer.analyse(words, vocabulary)
    cyrillic = latin = english = 0
    for word in analysis.words:
        if _CYRILLIC.search(word):
            cyrillic += 1
        elif _LATIN.search(word):
            latin += 1
            if word not in _SAYS_NOTHING and normalizer.zipf(word, "en") >= _ENGLISH:
                english += 1
    if cyrillic and cyrillic >= latin:
        return "ru"
    if english and 2 * english >= latin:
        return "en"
    return None
