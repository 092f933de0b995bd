"""Turn what shoppers type into comparable words.

`Normalizer.analyse` handles case, ё/е, punctuation and emoji, stretched letters
(«приииивет»), the wrong keyboard layout (`ghbdtn` → «привет»), transliteration
(`skolko stoit`), colloquial words («магаз», «скока») and word forms (pymorphy3 lemmas for
Russian, Snowball stems for English). It is deterministic and caches per word, so one
instance is shared by every matcher the process builds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import tempfile
import unicodedata
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pymorphy3
import snowballstemmer
from wordfreq import get_frequency_dict, zipf_frequency

from faq.lexicon import COLLOQUIAL, EMOJI_WORDS, FILLERS, LATIN_TO_CYRILLIC_KEYS, TRANSLIT

__all__ = ["Analysis", "Normalizer"]

logger = logging.getLogger(__name__)

_CYRILLIC = re.compile(r"[а-яё]", re.IGNORECASE)
_LATIN = re.compile(r"[a-z]", re.IGNORECASE)
_STRETCH = re.compile(r"(\w)\1{2,}")
_WORD = re.compile(r"[0-9a-zа-я]+")
_TO_CYRILLIC = str.maketrans(LATIN_TO_CYRILLIC_KEYS)
_CYRILLIC_TO_LATIN = str.maketrans({v: k for k, v in LATIN_TO_CYRILLIC_KEYS.items()})
# TRANSLIT as a scan would apply it: at each position the first listed spelling that
# matches wins. Every spelling of several letters is listed before the single letters, so
# a regex alternation of them (tried in list order, the text left as is where none
# matches) followed by a per-letter table does the same, with Python called per digraph,
# not per letter. Cyrillic output is not in the table, so it passes the second step as is.
_TRANSLIT_MULTI = re.compile("|".join(re.escape(latin) for latin, _ in TRANSLIT if len(latin) > 1))
_TRANSLIT_TO = dict(TRANSLIT)
_TRANSLIT_SINGLE = str.maketrans({latin: ru for latin, ru in TRANSLIT if len(latin) == 1})
_KNOWN = 1.5  # zipf frequency from which a word counts as a real word of the language
# Words wordfreq's tokenizer leaves whole, so a dictionary lookup gives its exact answer.
_PLAIN_WORD = re.compile(r"[a-zа-я]+")
_MIN_FREQUENCY = 1e-9  # zipf 0, wordfreq's floor for zipf_frequency(minimum=0)
# A letter run with a word break on each side is one token to wordfreq, and one unknown
# token makes the whole word unknown. Breaks: the string's edge, punctuation that Unicode
# word segmentation never joins letters across, and `.` `'` `:` (which join letters only
# when letters stand on both sides) before an edge. Wrong-layout words are full of such
# runs (`ghj,ktvs`, `ltkf.`), and wordfreq's tokenizer costs ~20 µs a word.
_BREAKS = re.escape(',;[]{}<>"`~-?!/()')
_ISOLATED_RUN = re.compile(
    rf"(?:(?<![^{_BREAKS}])|(?<=[.':])(?<![^{_BREAKS}][.':]))"
    r"[a-zа-я]+"
    rf"(?:(?![^{_BREAKS}])|(?=[.':](?![^{_BREAKS}])))"
)


# A Latin token's readings: (the token stripped and lowercased, looked up as English; its
# layout reading; its translit reading; each of those two cleaned for the Russian checks,
# or None when it cannot be a Russian word). A plain tuple, not a NamedTuple: the memo
# holds thousands, and the garbage collector stops scanning tuples of strings.
_Readings = tuple[str, str, str, str | None, str | None]


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


_MEMO_LIMIT = 200_000  # words per memo before it starts over


class Normalizer:
    """Normalize shopper text; heavy dictionaries load on first use, then stay cached."""

    def __init__(self, *, memo_limit: int = _MEMO_LIMIT) -> None:
        self._memo_limit = memo_limit  # per-word memo size before it starts over
        self._morph: Any = None
        self._stemmers: dict[str, Any] = {}
        self._lemmas: dict[str, str] = {}
        self._zipf: dict[str, dict[str, float]] = {"ru": {}, "en": {}}  # language -> word
        self._frequencies: dict[str, dict[str, float]] = {}
        self._known: dict[str, bool] = {}
        self._nouns: dict[str, tuple[bool, bool]] = {}
        self._phrasings: dict[str, Analysis] = {}
        # Per-token memos of the steps below: FAQ phrasings repeat a few thousand words, and
        # the regexes and lookups per token dominated loading. Bounded: messages add typos.
        self._tokens: dict[str, tuple[str, bool]] = {}
        self._layouts: dict[str, tuple[str, bool] | None] = {}
        self._latin: dict[str, _Readings] = {}
        self._scripts: dict[str, int] = {}  # 1: has Cyrillic, 2: has Latin, 3: both
        self._stored: dict[Path, int] = {}  # word files read or written, and their size

    def _remember(self, memo: dict[str, Any], key: str, value: Any) -> None:
        # Shoppers keep typing words nobody typed before (typos, names): a bot that runs for
        # months must not keep every one. Starting over is cheap; every entry can be recomputed.
        if len(memo) >= self._memo_limit:
            memo.clear()
        memo[key] = value

    def warm_up(self) -> None:
        """Load the dictionaries (pymorphy3, wordfreq ru/en: ~0.7 s) now, not on first use."""
        self._analyzer()
        for language in ("ru", "en"):
            self._frequency_table(language)
        self._stemmer("english")

    def fresh(self) -> Normalizer:
        """A normalizer sharing these loaded dictionaries but none of the per-word caches.

        What a new process sees once started: benchmarks use it to time a cold FAQ load.
        """
        other = Normalizer(memo_limit=self._memo_limit)
        other._morph = self._morph
        other._stemmers = dict(self._stemmers)
        other._frequencies = dict(self._frequencies)
        return other

    def load_words(self, directory: Path) -> None:
        """Read word analyses (lemmas, frequencies) saved in `directory`; once per folder.

        Lemmatising each distinct FAQ word is most of a cold load; the file lets a restart
        skip it. It is ignored when the dictionaries or the colloquial list changed.
        """
        path = _words_path(directory)
        if path in self._stored:
            return
        self._stored[path] = 0
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("version") != _words_version():
                return
            self._lemmas.update(data["lemmas"])
            self._known.update(data["known"])
            for language, table in data["zipf"].items():
                self._zipf.setdefault(language, {}).update(table)
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
            logger.warning("ignoring unreadable word cache %s: %s", path, error)
            return
        self._stored[path] = self._word_count()

    def save_words(self, directory: Path) -> None:
        """Write the word analyses to `directory` if any were added since the last read."""
        path = _words_path(directory)
        if self._stored.get(path) == self._word_count():
            return
        zipf = {language: table for language, table in self._zipf.items() if table}
        data = {"version": _words_version(), "lemmas": self._lemmas, "known": self._known}
        directory.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=directory, suffix=".json")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump({**data, "zipf": zipf}, file, ensure_ascii=False, separators=(",", ":"))
        Path(temporary).replace(path)  # atomic: other workers never read half a file
        self._stored[path] = self._word_count()

    def _word_count(self) -> int:
        return len(self._lemmas) + sum(map(len, self._zipf.values())) + len(self._known)

    def analyse(self, text: str, vocabulary: frozenset[str] = frozenset()) -> Analysis:
        """Normalize `text`; `vocabulary` (FAQ words) helps decide layout and translit fixes."""
        raw = text
        for emoji, word in EMOJI_WORDS.items():
            if emoji in raw:
                raw = raw.replace(emoji, word)
        tokens: list[str] = []
        any_latin = False
        for token in raw.split():
            info = self._tokens.get(token)
            if info is None:
                fixed = self._destretch(token)
                info = (fixed, bool(_LATIN.search(fixed)) and not _CYRILLIC.search(fixed))
                self._remember(self._tokens, token, info)
            tokens.append(info[0])
            any_latin = any_latin or info[1]
        if any_latin:
            tokens = self._fix_keyboard(tokens, vocabulary)
        else:
            tokens = [self._fix_cyrillic_layout(t, vocabulary) for t in tokens]
        cleaned = unicodedata.normalize("NFKC", " ".join(tokens)).casefold().replace("ё", "е")
        words: list[str] = []
        for word in _WORD.findall(cleaned):
            replacement = COLLOQUIAL.get(word)
            if replacement is None:
                words.append(word)
            else:
                words.extend(replacement.split())
        lemmas = tuple([self.lemma(word) for word in words])
        cyrillic = latin = 0
        for word in words:
            script = self._scripts.get(word)
            if script is None:
                script = bool(_CYRILLIC.search(word)) + 2 * bool(_LATIN.search(word))
                self._remember(self._scripts, word, script)
            cyrillic += script & 1
            latin += script >> 1
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
            lemma = str(self._analyzer().parse(word)[0][2]).replace("ё", "е")  # normal form
            lemma = COLLOQUIAL.get(lemma, lemma)
        elif _LATIN.search(word):
            lemma = str(self._stemmer("english").stemWord(word))
        else:
            lemma = word
        self._remember(self._lemmas, word, lemma)
        return lemma

    def zipf(self, word: str, language: str) -> float:
        """General frequency of a word on the Zipf scale (0 unknown .. 7 «и»)."""
        memo = self._zipf.get(language)
        if memo is None:
            memo = self._zipf[language] = {}
        cached = memo.get(word)
        if cached is None:
            table = self._frequency_table(language)
            if _PLAIN_WORD.fullmatch(word):
                cached = _zipf_of(table.get(word))
            elif any(run not in table for run in _ISOLATED_RUN.findall(word)):
                cached = _zipf_of(None)  # what wordfreq gives when a token is unknown
            else:
                cached = float(zipf_frequency(word, language))
            self._remember(memo, word, cached)
        return cached

    def _at_least(self, word: str, language: str, floor: float) -> bool:
        """`zipf(word, language) >= floor`, often without wordfreq's tokenizer.

        Several tokens' frequencies combine to less than each one's, so an isolated run
        (always one token) under the floor decides it. Unseen words read on the other
        layout (`сюжрт` → `c.;hn`) mostly end here.
        """
        if not _PLAIN_WORD.fullmatch(word):
            table = self._frequency_table(language)
            if any(_zipf_of(table.get(run)) < floor for run in _ISOLATED_RUN.findall(word)):
                return False
        return self.zipf(word, language) >= floor

    def _frequency_table(self, language: str) -> dict[str, float]:
        table = self._frequencies.get(language)
        if table is None:
            table = self._frequencies[language] = get_frequency_dict(language, "best")
        return table

    def noun_reading(self, word: str) -> tuple[bool, bool]:
        """How a Russian word reads in a noun phrase.

        First: its likeliest parse is a noun with no reading that agrees like an adjective
        («доставка», not «старого»), so it can head a phrase. Second: a noun in the genitive
        or one that does not decline («пиццы», «пианино»), so it can narrow the noun before
        it, by its likeliest parse or by most of its readings together («суши» parses first
        as the verb «сушить», but most of its readings are the dish). Both False for a word
        that is not Cyrillic.
        """
        cached = self._nouns.get(word)
        if cached is None:
            parses = self._analyzer().parse(word) if _CYRILLIC.search(word) else []
            tag = parses[0][1] if parses else None
            narrowing = sum(
                parse.score
                for parse in parses
                if parse[1].POS == "NOUN" and ("gent" in parse[1] or "Fixd" in parse[1])
            )
            if tag is None or (tag.POS != "NOUN" and narrowing < 0.5):
                cached = (False, False)
            else:
                head = tag.POS == "NOUN" and not any(
                    parse[1].POS in ("ADJF", "PRTF") for parse in parses
                )
                cached = (head, narrowing >= 0.5 or "gent" in tag or "Fixd" in tag)
            self._remember(self._nouns, word, cached)
        return cached

    def is_russian_word(self, word: str) -> bool:
        """True for words in the Russian dictionary or in general use."""
        known = self._known.get(word)
        if known is None:
            known = self.zipf(word, "ru") >= _KNOWN or bool(self._analyzer().word_is_known(word))
            self._remember(self._known, word, known)
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
            token, by_layout, by_translit, layout_word, translit_word = self._readings(tokens[i])
            english = max(self.zipf(token, "en"), 4.0 if token in vocabulary else 0.0)
            layout_score = self._russian_score(layout_word, vocabulary)
            translit_score = self._russian_score(translit_word, vocabulary)
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

    def _readings(self, raw: str) -> _Readings:
        """A Latin token's layout and translit readings, memoized per token.

        They depend on the token alone, and converting it character by character was
        most of a wrong-layout message's time; only the FAQ-vocabulary checks stay per call.
        """
        reading = self._latin.get(raw)
        if reading is None:
            token = raw.strip("?!.,;:\"'()«»").lower() or raw.lower()
            by_layout = _layout(raw.rstrip("?!").lower())
            by_translit = _translit(token)
            reading = (
                token,
                by_layout,
                by_translit,
                _russian_form(by_layout),
                _russian_form(by_translit),
            )
            self._remember(self._latin, raw, reading)
        return reading

    def _fix_cyrillic_layout(self, token: str, vocabulary: frozenset[str]) -> str:
        """`руддщ` → `hello`: only when the Russian reading is no word at all."""
        # Memo per token: None (never converted) or the Latin reading and whether it is
        # common English; only the vocabulary check is left per call.
        if token in self._layouts:
            plan = self._layouts[token]
        else:
            plan = None
            word = token.strip("?!.,").lower()
            if len(word) >= 3 and _CYRILLIC.search(word) and not self.is_russian_word(word):
                latin = word.translate(_CYRILLIC_TO_LATIN)
                plan = (latin, self._at_least(latin, "en", 3.0))
            self._remember(self._layouts, token, plan)
        if plan is not None and (plan[1] or plan[0] in vocabulary):
            return plan[0]
        return token

    def _russian_score(self, clean: str | None, vocabulary: frozenset[str]) -> float:
        """How surely a reading (`_russian_form`) is a Russian word: 5 for FAQ words, else zipf."""
        if clean is None:
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
            # Plain tuples, not `Parse` objects: the same analyses in the same order, and
            # an unknown word (a typo) has dozens of candidate parses to build.
            self._morph = pymorphy3.MorphAnalyzer(result_type=None)
        return self._morph

    def _stemmer(self, language: str) -> Any:
        stemmer = self._stemmers.get(language)
        if stemmer is None:
            stemmer = snowballstemmer.stemmer(language)
            self._stemmers[language] = stemmer
        return stemmer


_WORDS_FORMAT = 1


def _words_path(directory: Path) -> Path:
    return directory / "faq-words.json"


def _words_version() -> str:
    """What the saved analyses depend on: the dictionaries' versions and our word lists."""
    parts = [str(_WORDS_FORMAT), repr(sorted(COLLOQUIAL.items()))]
    for package in ("pymorphy3", "pymorphy3-dicts-ru", "wordfreq", "snowballstemmer"):
        try:
            parts.append(f"{package}={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{package}=?")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _zipf_of(frequency: float | None) -> float:
    """`zipf_frequency` of a plain word from its table entry, bit for bit.

    wordfreq tokenizes every word (~50 µs) before the lookup; a plain lowercase word is
    one token, so the lookup and wordfreq's own rounding steps give the same number.
    """
    zipf = _ZIPF_OF.get(frequency)
    if zipf is None:
        unrounded = (
            _MIN_FREQUENCY if frequency is None else max(1 / (1 / frequency), _MIN_FREQUENCY)
        )
        digits = math.floor(-math.log(unrounded, 10)) + 3
        zipf = _ZIPF_OF[frequency] = round(math.log(round(unrounded, digits), 10) + 9, 2)
    return zipf


# wordfreq stores frequencies in centibel steps, so a few hundred values cover every word;
# `round` (twice per word) was the costliest step of looking up a new word.
_ZIPF_OF: dict[float | None, float] = {}


def _layout(token: str) -> str:
    return token.translate(_TO_CYRILLIC).lower()


def _translit(token: str) -> str:
    return _TRANSLIT_MULTI.sub(lambda match: _TRANSLIT_TO[match[0]], token).translate(
        _TRANSLIT_SINGLE
    )


def _russian_form(word: str) -> str | None:
    """A reading cleaned for the Russian checks, or None when it cannot be a Russian word."""
    clean = word.strip("?!.,").replace("ё", "е")
    if not clean or not _CYRILLIC.search(clean) or _LATIN.search(clean):
        return None
    return clean
