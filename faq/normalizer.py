"""Turn what shoppers type into comparable words.

`Normalizer.analyse` handles case, ё/е, punctuation and emoji, stretched letters
(«приииивет»), the wrong keyboard layout (`ghbdtn` → «привет»), transliteration
(`skolko stoit`), colloquial words («магаз», «скока») and word forms (pymorphy3 lemmas for
Russian, Snowball stems for English). It is deterministic and caches per word, so one
instance is shared by every matcher the process builds.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import pymorphy3
import snowballstemmer
from wordfreq import zipf_frequency

from faq.lexicon import COLLOQUIAL, EMOJI_WORDS, FILLERS, LATIN_TO_CYRILLIC_KEYS, TRANSLIT

__all__ = ["Analysis", "Normalizer"]

_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_LATIN = re.compile(r"[a-z]", re.IGNORECASE)
_STRETCH = re.compile(r"(\w)\1{2,}")
_WORD = re.compile(r"[0-9a-zа-я]+")
_KEY_CHARS = set(LATIN_TO_CYRILLIC_KEYS)
_CYRILLIC_TO_LATIN_KEYS = {v: k for k, v in LATIN_TO_CYRILLIC_KEYS.items()}
_KNOWN = 1.5  # zipf frequency from which a word counts as a real word of the language


@dataclass(frozen=True)
class Analysis:
    """A normalized text: `text` for the sentence encoder, `words` and `lemmas` for matching.

    `words[i]` and `lemmas[i]` are aligned; `language` is "ru" or "en" by script majority.
    """

    text: str
    words: tuple[str, ...]
    lemmas: tuple[str, ...]
    language: str

    @property
    def content(self) -> tuple[str, ...]:
        """Lemmas without politeness fillers."""
        return tuple(
            lemma
            for word, lemma in zip(self.words, self.lemmas, strict=True)
            if word not in FILLERS
        )


class Normalizer:
    """Normalize shopper text; heavy dictionaries load on first use, then stay cached."""

    def __init__(self) -> None:
        self._morph: Any = None
        self._stemmers: dict[str, Any] = {}
        self._lemmas: dict[str, str] = {}
        self._zipf: dict[tuple[str, str], float] = {}
        self._known: dict[str, bool] = {}
        self._phrasings: dict[str, Analysis] = {}

    def analyse(self, text: str, vocabulary: frozenset[str] = frozenset()) -> Analysis:
        """Normalize `text`; `vocabulary` (FAQ words) helps decide layout and translit fixes."""
        raw = text
        for emoji, word in EMOJI_WORDS.items():
            raw = raw.replace(emoji, word)
        tokens = [self._destretch(t) for t in raw.split()]
        tokens = self._fix_keyboard(tokens, vocabulary)
        cleaned = unicodedata.normalize("NFKC", " ".join(tokens)).casefold().replace("ё", "е")
        words: list[str] = []
        for word in _WORD.findall(cleaned):
            replacement = COLLOQUIAL.get(word)
            if replacement is None:
                words.append(word)
            else:
                words.extend(replacement.split())
        lemmas = tuple(self.lemma(word) for word in words)
        cyrillic = sum(1 for w in words if _CYRILLIC.search(w))
        latin = sum(1 for w in words if _LATIN.search(w))
        language = "en" if latin > cyrillic else "ru"
        return Analysis(" ".join(words), tuple(words), lemmas, language)

    def analyse_phrasing(self, text: str) -> Analysis:
        """Analyse a FAQ phrasing; cached by text so a reload re-analyses only edits."""
        cached = self._phrasings.get(text)
        if cached is None:
            cached = self._phrasings[text] = self.analyse(text)
        return cached

    def lemma(self, word: str) -> str:
        """The dictionary form of a Russian word, the Snowball stem of an English one."""
        cached = self._lemmas.get(word)
        if cached is not None:
            return cached
        if _CYRILLIC.search(word):
            lemma = str(self._analyzer().parse(word)[0].normal_form).replace("ё", "е")
            lemma = COLLOQUIAL.get(lemma, lemma)
        elif _LATIN.search(word):
            lemma = str(self._stemmer("english").stemWord(word))
        else:
            lemma = word
        self._lemmas[word] = lemma
        return lemma

    def zipf(self, word: str, language: str) -> float:
        """General frequency of a word on the Zipf scale (0 unknown .. 7 «и»)."""
        key = (word, language)
        cached = self._zipf.get(key)
        if cached is None:
            cached = float(zipf_frequency(word, language))
            self._zipf[key] = cached
        return cached

    def is_russian_word(self, word: str) -> bool:
        """True for words in the Russian dictionary or in general use."""
        known = self._known.get(word)
        if known is None:
            known = self.zipf(word, "ru") >= _KNOWN or bool(self._analyzer().word_is_known(word))
            self._known[word] = known
        return known

    # -- keyboard layout and transliteration ---------------------------------------------

    def _fix_keyboard(self, tokens: list[str], vocabulary: frozenset[str]) -> list[str]:
        """Fix Latin tokens typed on the wrong layout or in translit, and the reverse.

        The whole message votes: a token that reads as a Russian word after conversion
        and not as an English one counts for conversion; if most Latin tokens vote so,
        every Latin token that is not a common English word is converted.
        """
        latin = [i for i, t in enumerate(tokens) if _LATIN.search(t) and not _CYRILLIC.search(t)]
        if not latin:
            return [self._fix_cyrillic_layout(t, vocabulary) for t in tokens]
        layout_votes = translit_votes = english_votes = 0
        plans: dict[int, tuple[str, str, float, float, float]] = {}
        for i in latin:
            token = tokens[i].strip("?!.,;:\"'()«»").lower() or tokens[i].lower()
            core = tokens[i].rstrip("?!").lower()
            english = max(self.zipf(token, "en"), 4.0 if token in vocabulary else 0.0)
            by_layout = _layout(core)
            by_translit = _translit(token)
            layout_score = self._russian_score(by_layout, vocabulary)
            translit_score = self._russian_score(by_translit, vocabulary)
            plans[i] = (by_layout, by_translit, english, layout_score, translit_score)
            best = max(layout_score, translit_score)
            if english >= _KNOWN and english >= best:
                english_votes += 1
            elif layout_score > english and layout_score >= translit_score:
                layout_votes += 1
            elif translit_score > english:
                translit_votes += 1
        fixed = list(tokens)
        mode = ""
        if layout_votes > english_votes and layout_votes >= translit_votes:
            mode = "layout"
        elif translit_votes > english_votes:
            mode = "translit"
        for i, (by_layout, by_translit, english, layout_score, translit_score) in plans.items():
            if mode == "layout" and english < 3.5:
                fixed[i] = by_layout
            elif mode == "translit" and english < 3.5:
                fixed[i] = by_translit
            elif layout_score >= 3.0 and english < 1.0:
                fixed[i] = by_layout
            elif translit_score >= 3.0 and english < 1.0:
                fixed[i] = by_translit
        return fixed

    def _fix_cyrillic_layout(self, token: str, vocabulary: frozenset[str]) -> str:
        """`руддщ` → `hello`: only when the Russian reading is no word at all."""
        word = token.strip("?!.,").lower()
        if len(word) < 3 or not _CYRILLIC.search(word) or self.is_russian_word(word):
            return token
        latin = "".join(_CYRILLIC_TO_LATIN_KEYS.get(c, c) for c in word)
        if self.zipf(latin, "en") >= 3.0 or latin in vocabulary:
            return latin
        return token

    def _russian_score(self, word: str, vocabulary: frozenset[str]) -> float:
        clean = word.strip("?!.,").replace("ё", "е")
        if not clean or not _CYRILLIC.search(clean) or _LATIN.search(clean):
            return 0.0
        if clean in vocabulary:
            return 5.0
        score = self.zipf(clean, "ru")
        if score < _KNOWN and self._analyzer().word_is_known(clean):
            score = _KNOWN
        return score

    # -- helpers ----------------------------------------------------------------------------

    @staticmethod
    def _destretch(token: str) -> str:
        """«приииивет» → «привет», «дааа» → «да»: three or more repeats become one."""
        return _STRETCH.sub(r"\1", token)

    def _analyzer(self) -> Any:
        if self._morph is None:
            self._morph = pymorphy3.MorphAnalyzer()
        return self._morph

    def _stemmer(self, language: str) -> Any:
        stemmer = self._stemmers.get(language)
        if stemmer is None:
            stemmer = snowballstemmer.stemmer(language)
            self._stemmers[language] = stemmer
        return stemmer


def _layout(token: str) -> str:
    return "".join(LATIN_TO_CYRILLIC_KEYS.get(c, c) for c in token).lower()


def _translit(token: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(token):
        for latin, cyrillic in TRANSLIT:
            if token.startswith(latin, i):
                out.append(cyrillic)
                i += len(latin)
                break
        else:
            out.append(token[i])
            i += 1
    return "".join(out)
