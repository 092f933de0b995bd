"""The lexical stage: weighted, typo-tolerant word overlap between a message and phrasings.

Each FAQ word (lemma) is a *term* with a weight: general rarity (wordfreq) times how few
entries use it (the FAQ's own statistics), so «доставка» outweighs «как». A message word
finds its terms by lemma, surface form, a shared 6-letter prefix (word families:
«доставить» ~ «доставка») or one edit either side (typos, via a symmetric-delete
index so lookups stay O(word length) however big the FAQ is). Scores are computed for all
phrasings at once with numpy over postings lists.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from rapidfuzz.distance import DamerauLevenshtein

from faq.normalizer import Normalizer

__all__ = ["LexicalIndex", "Phrasing"]

_FUZZY_MIN_LENGTH = 5
_FUZZY_MIN_SIMILARITY = 0.75
_PREFIX_LENGTH = 6
_PREFIX_STRENGTH = 0.75
_CACHE_LIMIT = 50_000


@dataclass(frozen=True)
class Phrasing:
    """One question phrasing: which entry it belongs to and its normalized words."""

    entry: int
    words: tuple[str, ...]
    lemmas: tuple[str, ...]


def word_weight(zipf: float) -> float:
    """General informativeness from a Zipf frequency: «и» (7) → 0.05, rare words → 1."""
    return min(1.0, max(0.05, (7.0 - zipf) / 3.5))


class LexicalIndex:
    """Postings over FAQ terms; `scores()` rates every phrasing against one message."""

    def __init__(
        self, phrasings: Sequence[Phrasing], entry_count: int, normalizer: Normalizer
    ) -> None:
        self._normalizer = normalizer
        self.size = len(phrasings)
        self.entry_of = np.fromiter((p.entry for p in phrasings), dtype=np.int32, count=self.size)
        term_ids: dict[str, int] = {}
        postings: list[set[int]] = []
        entries_of_term: list[set[int]] = []
        surfaces: dict[str, int] = {}
        languages: list[str] = []
        commonest: list[float] = []
        for index, phrasing in enumerate(phrasings):
            for word, lemma in zip(phrasing.words, phrasing.lemmas, strict=True):
                term = term_ids.get(lemma)
                if term is None:
                    term = term_ids[lemma] = len(postings)
                    postings.append(set())
                    entries_of_term.append(set())
                    languages.append("en" if word.isascii() else "ru")
                    commonest.append(0.0)
                language = languages[term]
                commonest[term] = max(
                    commonest[term],
                    normalizer.zipf(word, language),
                    normalizer.zipf(lemma, language),
                )
                postings[term].add(index)
                entries_of_term[term].add(phrasing.entry)
                surfaces.setdefault(word, term)
        self._terms = term_ids
        self._surfaces = surfaces
        self._postings = [np.fromiter(sorted(p), dtype=np.int32, count=len(p)) for p in postings]
        self.vocabulary = frozenset(surfaces) | frozenset(term_ids)
        scale = math.log(1 + max(entry_count, 1))
        self.weights = np.empty(len(postings), dtype=np.float64)
        for term in term_ids.values():
            # The commonest form decides: an English stem («doe» of "does») is no rare word.
            general = word_weight(commonest[term])
            specific = math.log(1 + entry_count / len(entries_of_term[term])) / scale
            self.weights[term] = general * (0.25 + 0.75 * specific)
        self.phrase_totals = np.zeros(self.size, dtype=np.float64)
        for term, members in enumerate(self._postings):
            self.phrase_totals[members] += self.weights[term]
        self.phrase_totals[self.phrase_totals == 0] = 1.0
        self._prefixes: dict[str, set[int]] = defaultdict(set)
        self._deletes: dict[str, set[str]] = defaultdict(set)
        # Lemmas only: a typo in any word form is within reach of its lemma's deletes, and
        # indexing every surface form would double the build time for little gain.
        for key, term in term_ids.items():
            if len(key) >= _PREFIX_LENGTH + 1:
                self._prefixes[key[:_PREFIX_LENGTH]].add(term)
            if len(key) >= _FUZZY_MIN_LENGTH:
                for variant in _deletes(key):
                    self._deletes[variant].add(key)
        self._resolved: dict[tuple[str, str], dict[int, float]] = {}

    def resolve(self, word: str, lemma: str) -> dict[int, float]:
        """Terms a message word stands for, with match strength 0..1 (cached per word)."""
        key = (word, lemma)
        cached = self._resolved.get(key)
        if cached is not None:
            return cached
        found = self._resolve(word, lemma)
        if len(self._resolved) >= _CACHE_LIMIT:
            self._resolved.clear()
        self._resolved[key] = found
        return found

    def _resolve(self, word: str, lemma: str) -> dict[int, float]:
        exact = {t for t in (self._terms.get(lemma), self._surfaces.get(word)) if t is not None}
        if exact:
            return dict.fromkeys(exact, 1.0)
        found: dict[int, float] = {}
        for candidate in {word, lemma}:
            if len(candidate) < _FUZZY_MIN_LENGTH:
                continue
            for variant in (candidate, *_deletes(candidate)):
                for key in self._deletes.get(variant, ()):
                    similarity = DamerauLevenshtein.normalized_similarity(candidate, key)
                    if similarity >= _FUZZY_MIN_SIMILARITY:
                        match = self._terms.get(key)
                        if match is None:
                            match = self._surfaces.get(key)
                        if match is not None and found.get(match, 0.0) < similarity:
                            found[match] = similarity
        if not found and len(lemma) > _PREFIX_LENGTH:
            for term in self._prefixes.get(lemma[:_PREFIX_LENGTH], ()):
                found[term] = _PREFIX_STRENGTH
        return found

    def scores(
        self, words: Sequence[str], lemmas: Sequence[str], language: str
    ) -> NDArray[np.float64]:
        """Per phrasing: the harmonic-like mean of message coverage and phrasing coverage."""
        result = np.zeros(self.size, dtype=np.float64)
        if not words or not self.size:
            return result
        query = np.zeros(self.size, dtype=np.float64)
        query_total = 0.0
        strengths: dict[int, float] = {}
        seen: set[str] = set()
        for word, lemma in zip(words, lemmas, strict=True):
            if lemma in seen:
                continue
            seen.add(lemma)
            terms = self.resolve(word, lemma)
            if not terms:
                query_total += word_weight(self._normalizer.zipf(word, language))
                continue
            weight = max(self.weights[t] for t in terms)
            query_total += weight
            if len(terms) == 1:
                ((term, strength),) = terms.items()
                query[self._postings[term]] += weight * strength
            else:
                best = np.zeros(self.size, dtype=np.float64)
                for term, strength in terms.items():
                    members = self._postings[term]
                    best[members] = np.maximum(best[members], strength)
                query += weight * best
            for term, strength in terms.items():
                strengths[term] = max(strengths.get(term, 0.0), strength)
        if not strengths or query_total <= 0:
            return result
        phrase = np.zeros(self.size, dtype=np.float64)
        for term, strength in strengths.items():
            phrase[self._postings[term]] += self.weights[term] * strength
        hit = np.flatnonzero(query)
        query_cover = query[hit] / query_total
        phrase_cover = np.minimum(phrase[hit] / self.phrase_totals[hit], 1.0)
        result[hit] = 2 * query_cover * phrase_cover / (query_cover + phrase_cover)
        return result


def _deletes(word: str) -> list[str]:
    return [word[:i] + word[i + 1 :] for i in range(len(word))]
