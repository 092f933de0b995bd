"""Match a shopper's message to FAQ entries: answer, suggest, fall back, or small talk.

Two stages score every entry: the lexical stage (`faq.lexical`, typo-tolerant weighted
word overlap) and, when on, the semantic stage (`faq.semantic`, sentence embeddings that
catch paraphrases sharing no word with the FAQ). Each stage looks at an entry three ways:
its best question phrasing, (semantic only) the centroid of all its phrasings, which is
steadier than one lucky phrasing, and its answer sentences, which often hold the words
shoppers use («сдача», «лифт», «целиакия») that no question does. The blend decides the
outcome: answer only when the best entry is both good enough and clearly ahead of the
next one, because answering the wrong question confidently is worse than asking.
With `phrasebook` set, an entry also scores by the common retail wordings lent to it
(`faq.phrasebook`), as if they were its own phrasings.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from faq.language import written_language
from faq.lexical import LexicalIndex, Phrasing
from faq.lexicon import FILLERS
from faq.model import Faq
from faq.mood import sounds_unhappy
from faq.normalizer import Normalizer
from faq.phrasebook import Loan, Topic, choose_loans, load_phrasebook
from faq.semantic import EmbeddingCache, load_encoder
from faq.settings import MatcherSettings
from faq.smalltalk import split_smalltalk

__all__ = ["REMEMBERED_WORDS", "FaqMatcher", "Match", "MatchResult", "Outcome", "Scores"]

REMEMBERED_WORDS = 12
"""Decisions are remembered for questions of at most this many words (bounds the memory)."""
_TOPIC_ZIPF = (1.5, 5.0)
"""A word this frequent in general use (Zipf) is a real word and not a function word."""


class Outcome(StrEnum):
    """What the bot should do with a message."""

    ANSWER = "answer"
    SUGGEST = "suggest"
    FALLBACK = "fallback"
    SMALLTALK = "smalltalk"


@dataclass(frozen=True)
class Match:
    """One candidate entry with a 0..1 score."""

    entry_id: str
    score: float


@dataclass(frozen=True)
class MatchResult:
    """The decision plus the best entries, best first; `smalltalk` names the kind for SMALLTALK.

    For ANSWER the first match is the answer; for SUGGEST the matches are the buttons to
    offer; for FALLBACK they are informational (the CLI prints them). `also` is, for ANSWER,
    the runner-up when it scores so close to the answer that it may be what the shopper
    meant: the bot offers it under the answer. `others` is, for ANSWER, every other entry
    that scores at least the suggestion floor: what the bot offers when the shopper says
    the answer did not help.
    """

    outcome: Outcome
    matches: tuple[Match, ...]
    smalltalk: str | None = None
    also: tuple[Match, ...] = ()
    others: tuple[Match, ...] = ()


@dataclass(frozen=True)
class Scores:
    """Per-entry stage scores for one message (entry order as in the FAQ).

    `lexical` and `semantic` are each stage's 0..1 blend of questions and answer (the
    semantic one calibrated from cosines); `combined` is what the decision reads.
    """

    lexical: NDArray[np.float64]
    semantic: NDArray[np.float64] | None
    combined: NDArray[np.float64]


class FaqMatcher:
    """Synchronous, deterministic matcher built once per FAQ version.

    Build it with a shared `Normalizer` and `EmbeddingCache` so rebuilding after an edit
    re-analyses and re-encodes only the phrasings that changed.
    """

    def __init__(
        self,
        faq: Faq,
        settings: MatcherSettings | None = None,
        *,
        normalizer: Normalizer | None = None,
        embeddings: EmbeddingCache | None = None,
    ) -> None:
        self.settings = settings or MatcherSettings()
        self.normalizer = normalizer or Normalizer()
        self.ids = tuple(faq.entries)
        self._takes_complaints = frozenset(
            number
            for number, entry in enumerate(faq.entries.values())
            if any(sounds_unhappy(question) for question in entry.questions)
        )
        # Shoppers ask the same few things over and over («доставка», «режим работы»), and a
        # decision depends only on the message's normalized words: «Доставка?!» and
        # «доставка» are one question here. Scoring (the sentence encoder most of all) is
        # nearly all of a match's CPU, so recent decisions are kept for this FAQ version.
        self._decide_words = functools.lru_cache(maxsize=self.settings.recent_questions)(
            self._decide_uncached
        )
        cache_dir = self.settings.cache_dir
        if cache_dir is not None:
            self.normalizer.load_words(cache_dir)
        phrasings: list[Phrasing] = []
        texts: list[str] = []
        starts: list[int] = []
        for number, entry in enumerate(faq.entries.values()):
            starts.append(len(phrasings))
            for question in entry.questions:
                analysis = self.normalizer.analyse_phrasing(question)
                words, lemmas = _content(analysis.words, analysis.lemmas)
                phrasings.append(Phrasing(number, words, lemmas))
                texts.append(analysis.text)
        self._starts = np.array(starts, dtype=np.intp)
        self._numbers = {entry_id: number for number, entry_id in enumerate(self.ids)}
        self.lexical = LexicalIndex(phrasings, len(self.ids), self.normalizer)
        sentences, answer_texts, answer_starts = self._answer_sentences(faq)
        self._answer_starts = np.array(answer_starts, dtype=np.intp)
        self.answers = LexicalIndex(sentences, len(self.ids), self.normalizer)
        if cache_dir is not None:
            self.normalizer.save_words(cache_dir)
        self.embeddings: EmbeddingCache | None = None
        self._vectors: NDArray[np.float32] | None = None
        self._sums: NDArray[np.float32] | None = None
        self._centroids: NDArray[np.float32] | None = None
        self._answer_vectors: NDArray[np.float32] | None = None
        if self.settings.semantic and phrasings:
            self.embeddings = embeddings or EmbeddingCache(
                load_encoder(self.settings.encoder), self.settings.encoder, self.settings.cache_dir
            )
            self._vectors = self.embeddings.embed(texts)
            self._sums = np.add.reduceat(self._vectors, self._starts, axis=0)
            self._centroids = _unit_rows(self._sums)
            if answer_texts:
                self._answer_vectors = self.embeddings.embed(answer_texts)
        # The phrasebook's wordings lent to entries, grouped by entry: `_lent_owners[k]`
        # owns the rows from `_lent_starts[k]` on.
        self._lent_vectors: NDArray[np.float32] | None = None
        self._lent_owners: NDArray[np.intp] = np.zeros(0, dtype=np.intp)
        self._lent_starts: NDArray[np.intp] | None = None
        self.loans: tuple[Loan, ...] = ()
        if self.settings.phrasebook is not None and self._vectors is not None:
            self._borrow(load_phrasebook(self.settings.phrasebook), phrasings)

    def _borrow(self, topics: Sequence[Topic], own: list[Phrasing]) -> None:
        """Take the phrasebook's wordings of the topics this FAQ clearly answers (see
        `faq.phrasebook`): scored like the entry's own phrasings by the semantic stage and,
        with `phrasebook_words`, by the lexical one. Decided on the FAQ as it stands."""
        assert self.embeddings is not None
        s = self.settings
        wordings: list[tuple[int, str, tuple[str, ...], tuple[str, ...], str]] = []
        for number, topic in enumerate(topics):
            for text in topic.phrasings:
                analysis = self.normalizer.analyse_phrasing(text)
                words, lemmas = _content(analysis.words, analysis.lemmas)
                if words:
                    wordings.append((number, analysis.text, words, lemmas, analysis.language))
        if not wordings:
            return
        vectors = self.embeddings.embed([text for _, text, _, _, _ in wordings])
        semantic = np.concatenate(
            [self._semantic(vectors[i : i + 256]) for i in range(0, len(wordings), 256)]
        )
        scores = [
            (1 - s.semantic_weight) * self._lexical(words, lemmas, language)
            + s.semantic_weight * semantic[i]
            for i, (_, _, words, lemmas, language) in enumerate(wordings)
        ]

        def answered(index: int) -> bool:
            _, text, _, _, language = wordings[index]
            return self._decide(scores[index], text, language).outcome is Outcome.ANSWER

        chosen = choose_loans(
            [topic for topic, *_ in wordings],
            scores,
            answered,
            share=s.phrasebook_share,
            answered_share=s.phrasebook_answered,
            guard=s.phrasebook_guard,
        )
        self.loans = tuple(
            Loan(topics[topic].id, self.ids[entry], len(indices), share, part)
            for topic, entry, indices, share, part in chosen
        )
        lent = sorted((entry, index) for _, entry, indices, _, _ in chosen for index in indices)
        if not lent:
            return
        entries = np.array([entry for entry, _ in lent], dtype=np.intp)
        self._lent_owners, self._lent_starts = np.unique(entries, return_index=True)
        self._lent_vectors = vectors[[index for _, index in lent]]
        if s.phrasebook_words:
            extra = [Phrasing(entry, wordings[i][2], wordings[i][3]) for entry, i in lent]
            self.lexical = LexicalIndex(own + extra, len(self.ids), self.normalizer)

    def _answer_sentences(self, faq: Faq) -> tuple[list[Phrasing], list[str], list[int]]:
        """Every answer (all languages) split into sentences, grouped by entry in order."""
        sentences: list[Phrasing] = []
        texts: list[str] = []
        starts: list[int] = []
        for number, entry in enumerate(faq.entries.values()):
            starts.append(len(sentences))
            for answer in entry.answers.values():
                for sentence in _SENTENCE.split(answer):
                    analysis = self.normalizer.analyse_phrasing(sentence)
                    if analysis.words:
                        words, lemmas = _content(analysis.words, analysis.lemmas)
                        sentences.append(Phrasing(number, words, lemmas))
                        texts.append(analysis.text)
            if len(sentences) == starts[-1]:  # reduceat needs a member per entry
                sentences.append(Phrasing(number, (), ()))
                texts.append(entry.questions[0] if entry.questions else entry.id)
        return sentences, texts, starts

    def match(self, text: str, language: str | None = None) -> MatchResult:
        """Decide what to do with `text`; `language` ("ru"/"en") only breaks ties in layout."""
        read = self._read(text)
        if isinstance(read, MatchResult):
            return read
        if read.length > REMEMBERED_WORDS:  # long messages are rarely asked twice: not kept
            return self._decide_uncached(read.text, read.words, read.lemmas, read.language)
        result: MatchResult = self._decide_words(read.text, read.words, read.lemmas, read.language)
        return result

    def written_language(self, text: str) -> str | None:
        """The language ``text`` is written in ("ru", "en"), or None when it does not tell.

        Read with this FAQ's words, as :meth:`match` reads it (see :mod:`faq.language`).
        """
        return written_language(text, self.normalizer, self.lexical.vocabulary)

    def match_listed(self, text: str) -> MatchResult:
        """Decide on one of the FAQ's own phrasings as `match` would, without encoding it again.

        `faq check` runs every phrasing through the matcher; their embeddings are cached
        already (batch-encoded, so they may differ from a fresh encoding in the 7th digit),
        which spares the check the encoder's milliseconds per phrasing. Not remembered.
        """
        read = self._read(text)
        if isinstance(read, MatchResult):
            return read
        scores = self.scores(read.text, read.words, read.lemmas, read.language, cached=True)
        return self._decide(scores.combined, read.text, read.language)

    def match_without(self, entry_id: str, question: int, text: str) -> MatchResult:
        """Decide on `text` as if the entry's `question`-th phrasing were not in the FAQ.

        `faq check` asks this of every phrasing: a shopper's wording is never exactly the
        FAQ's, and a phrasing that would be answered with another entry once it is out of
        the FAQ shows two entries the matcher tells apart only by that phrasing's own
        words. The phrasing leaves its entry's best-phrasing and centroid scores, lexical
        and semantic; word weights still count it (they come from the whole FAQ). An
        unknown entry is a KeyError, a question number it does not have an IndexError.
        """
        number = self._numbers.get(entry_id)
        if number is None:
            raise KeyError(f"no entry '{entry_id}'")
        phrasing = int(self._starts[number]) + question
        end = self._starts[number + 1] if number + 1 < len(self._starts) else self.lexical.size
        if question < 0 or phrasing >= end:
            raise IndexError(f"entry '{entry_id}' has no question {question}")
        read = self._read(text)
        if isinstance(read, MatchResult):
            return read
        scores = self.scores(
            read.text, read.words, read.lemmas, read.language, without=(number, phrasing)
        )
        return self._decide(scores.combined, read.text, read.language)

    def _read(self, text: str) -> MatchResult | _Read:
        """The message's content words, or the decision when there is nothing to score."""
        analysis = self.normalizer.analyse(text, self.lexical.vocabulary)
        kind, keep = split_smalltalk(analysis.words)
        if kind is not None:
            return MatchResult(Outcome.SMALLTALK, (), smalltalk=kind)
        kept = [
            (w, lemma)
            for w, lemma, k in zip(analysis.words, analysis.lemmas, keep, strict=True)
            if k
        ]
        words, lemmas = _content(tuple(w for w, _ in kept), tuple(lemma for _, lemma in kept))
        if not words or not self.ids:
            return MatchResult(Outcome.FALLBACK, ())
        text = " ".join(w for w, _ in kept)
        return _Read(text, words, lemmas, analysis.language, len(kept))

    def _decide_uncached(
        self, text: str, words: tuple[str, ...], lemmas: tuple[str, ...], language: str
    ) -> MatchResult:
        return self._decide(self.scores(text, words, lemmas, language).combined, text, language)

    def scores(
        self,
        text: str,
        words: tuple[str, ...],
        lemmas: tuple[str, ...],
        language: str,
        *,
        without: tuple[int, int] | None = None,
        cached: bool = False,
    ) -> Scores:
        """Both stages' per-entry scores and their blend (exposed for evaluation tools).

        `without` is (entry number, phrasing number): that phrasing is left out of its
        entry's scores (`match_without`). With `cached` (and with `without`), the text's
        embedding comes from the phrasing cache when it is there (`match_listed`).
        """
        s = self.settings
        lexical = self._lexical(words, lemmas, language, None if without is None else without[1])
        if (
            self._vectors is None
            or self._sums is None
            or self._centroids is None
            or self.embeddings is None
        ):
            return Scores(lexical, None, lexical)
        # A FAQ phrasing's own text (`match_listed`, `match_without`) is cached already.
        cached = cached or without is not None
        query = self.embeddings.lookup(text) if cached else self.embeddings.query(text)
        semantic = self._semantic(query[np.newaxis], without)[0]
        combined = (1 - s.semantic_weight) * lexical + s.semantic_weight * semantic
        return Scores(lexical, semantic, combined)

    def _lexical(
        self,
        words: tuple[str, ...],
        lemmas: tuple[str, ...],
        language: str,
        without: int | None = None,
    ) -> NDArray[np.float64]:
        """The lexical stage's per-entry scores; `without` is a phrasing left out."""
        s = self.settings
        if without is None:
            questions = self.lexical.entry_scores(words, lemmas, language)
        else:
            per_phrasing = self.lexical.scores(words, lemmas, language)
            per_phrasing[without] = 0.0
            questions = np.zeros(len(self.ids), dtype=np.float64)
            np.maximum.at(questions, self.lexical.entry_of, per_phrasing)
        answers = self.answers.entry_scores(words, lemmas, language)
        lexical: NDArray[np.float64] = (
            1 - s.lexical_answer_weight
        ) * questions + s.lexical_answer_weight * answers
        return lexical

    def _semantic(
        self, queries: NDArray[np.float32], without: tuple[int, int] | None = None
    ) -> NDArray[np.float64]:
        """The semantic stage's per-entry scores, one row per query embedding.

        Many queries at once (the phrasebook's wordings) are one matrix product, which
        reads the FAQ's embeddings once instead of once per query.
        """
        assert self._vectors is not None
        assert self._sums is not None
        assert self._centroids is not None
        s = self.settings
        cosines = queries @ self._vectors.T
        centroid = queries @ self._centroids.T
        if without is not None:  # one query: `match_without`
            cosines[0, without[1]] = -1.0
            rest = self._sums[without[0]] - self._vectors[without[1]]
            centroid[0, without[0]] = float(_unit_rows(rest[np.newaxis])[0] @ queries[0])
        best = np.maximum.reduceat(cosines, self._starts, axis=1)
        if self._lent_vectors is not None and self._lent_starts is not None:
            lent = np.maximum.reduceat(queries @ self._lent_vectors.T, self._lent_starts, axis=1)
            owners = self._lent_owners
            best[:, owners] = np.maximum(best[:, owners], lent)
        similar = (1 - s.centroid_weight) * self._calibrate(best) + s.centroid_weight * (
            self._calibrate(centroid)
        )
        if self._answer_vectors is None:
            return similar
        answer = np.maximum.reduceat(queries @ self._answer_vectors.T, self._answer_starts, axis=1)
        semantic: NDArray[np.float64] = (1 - s.semantic_answer_weight) * similar + (
            s.semantic_answer_weight * self._calibrate(answer)
        )
        return semantic

    def _narrowed_beyond_faq(self, text: str, language: str) -> bool:
        """«доставка пиццы» at a pharmacy: an FAQ noun narrowed by one the FAQ never uses.

        The entry answers about delivery in general; the shopper asks about delivering
        something the chain may not sell at all («подъём пианино», «доставка продуктов»),
        and the entry's words score high all the same. Such a message gets suggestions, not
        an answer: a noun the FAQ's questions know, followed straight away by a real noun in
        the genitive (or one that does not decline) that no question or answer holds.
        Russian only: English noun compounds («sushi delivery») could not be told from
        wordings the FAQ lacks («delivery fee») without losing right answers.
        """
        if language != "ru":
            return False
        low, high = _TOPIC_ZIPF
        normalizer = self.normalizer
        previous, previous_known = "", False
        for word in text.split():
            lemma = normalizer.lemma(word)
            known = bool(self.lexical.resolve(word, lemma))
            # Cheapest tests first: a word the FAQ's questions hold narrows nothing, and most
            # messages have no unknown real word after a known one; the parses come last.
            if (
                previous_known
                and not known
                and len(word) >= 3
                and not word.isdigit()
                and low <= normalizer.zipf(word, language) <= high
                and not self.answers.resolve(word, lemma)
                and normalizer.noun_reading(word)[1]
                and normalizer.noun_reading(previous)[0]
            ):
                return True
            previous, previous_known = word, known
        return False

    def _complaint_elsewhere(self, text: str, best: int) -> bool:
        """«ужасная доставка»: a complaint about delivery, not a question about its price.

        A message with words of displeasure («ужас», «нахамили», "rude") is answered only by
        an entry whose own questions sound like a complaint («Хочу пожаловаться на
        кассира»); for any other entry it gets suggestions (and the bot offers feedback).
        """
        return best not in self._takes_complaints and sounds_unhappy(text)

    def _calibrate(self, cosine: NDArray[np.float32]) -> NDArray[np.float64]:
        """Map cosines onto 0..1: `semantic_floor` counts as 0, `semantic_ceiling` as 1."""
        s = self.settings
        scaled = (cosine.astype(np.float64) - s.semantic_floor) / (
            s.semantic_ceiling - s.semantic_floor
        )
        return np.clip(scaled, 0.0, 1.0)

    def _decide(self, combined: NDArray[np.float64], text: str, language: str) -> MatchResult:
        s = self.settings
        order = _top(combined, max(s.max_suggestions, 2))
        best = float(combined[order[0]])
        second = float(combined[order[1]]) if len(order) > 1 else 0.0
        matches = tuple(
            Match(self.ids[i], round(float(combined[i]), 4)) for i in order if combined[i] > 0
        )[: s.max_suggestions]
        lead = best - second
        if (
            (best >= s.answer_threshold and lead >= s.answer_margin)
            or (best >= s.clear_threshold and lead >= s.clear_margin)
        ) and not (
            self._narrowed_beyond_faq(text, language)
            or self._complaint_elsewhere(text, int(order[0]))
        ):
            sibling = (
                len(order) > 1
                and second > 0
                and second >= s.suggest_threshold
                and lead < s.also_offer_margin
            )
            also = (Match(self.ids[order[1]], round(second, 4)),) if sibling else ()
            others = tuple(m for m in matches[1:] if m.score >= s.suggest_threshold)
            return MatchResult(Outcome.ANSWER, matches, also=also, others=others)
        if best >= s.suggest_threshold:
            close = tuple(m for m in matches if m.score >= s.suggest_threshold)
            return MatchResult(Outcome.SUGGEST, close)
        return MatchResult(Outcome.FALLBACK, matches)


@dataclass(frozen=True)
class _Read:
    """A message as the stages score it: kept words joined, content words and lemmas.

    `length` counts every kept word, fillers too (it bounds which decisions are remembered).
    """

    text: str
    words: tuple[str, ...]
    lemmas: tuple[str, ...]
    language: str
    length: int


_SENTENCE = re.compile(r"(?<=[.!?])\s+|\s+—\s+")


def _unit_rows(rows: NDArray[np.float32]) -> NDArray[np.float32]:
    """Rows scaled to unit length (a zero row stays zero)."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    unit: NDArray[np.float32] = (rows / np.maximum(norms, 1e-12)).astype(np.float32)
    return unit


def _top(scores: NDArray[np.float64], count: int) -> NDArray[np.intp]:
    """Indices of the `count` best scores, best first, ties by FAQ order.

    The same as `np.argsort(-scores, kind="stable")[:count]`, without sorting every entry:
    only those scoring at least the `count`-th best value are sorted.
    """
    if len(scores) <= 4 * count:
        return np.argsort(-scores, kind="stable")[:count]
    kth = np.partition(scores, len(scores) - count)[len(scores) - count]
    candidates = np.flatnonzero(scores >= kth)
    return candidates[np.argsort(-scores[candidates], kind="stable")[:count]]


def _content(
    words: tuple[str, ...], lemmas: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    pairs = [(w, lemma) for w, lemma in zip(words, lemmas, strict=True) if w not in FILLERS]
    return tuple(w for w, _ in pairs), tuple(lemma for _, lemma in pairs)
