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
from typing import cast

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
        surfaces: dict[str, int] = {}
        forms: list[set[str]] = []  # the surface forms of each term
        languages: list[str] = []  # by the form that introduced the term
        pair_terms: list[int] = []  # one (term, phrasing) pair per word occurrence
        pair_phrasings: list[int] = []
        for index, phrasing in enumerate(phrasings):
            for word, lemma in zip(phrasing.words, phrasing.lemmas, strict=True):
                term = term_ids.get(lemma)
                if term is None:
                    term = term_ids[lemma] = len(forms)
                    forms.append(set())
                    languages.append("en" if word.isascii() else "ru")
                forms[term].add(word)
                pair_terms.append(term)
                pair_phrasings.append(index)
                surfaces.setdefault(word, term)
        term_count = len(forms)
        # Unique (term, phrasing) pairs sorted by term, then phrasing: the postings lists.
        keys = np.unique(
            np.array(pair_terms, dtype=np.int64) * max(self.size, 1)
            + np.array(pair_phrasings, dtype=np.int64)
        )
        terms_of_pairs, members = np.divmod(keys, max(self.size, 1))
        bounds = np.searchsorted(terms_of_pairs, np.arange(term_count + 1))
        self._postings = [
            members[bounds[t] : bounds[t + 1]].astype(np.int32) for t in range(term_count)
        ]
        entry_pairs = np.unique(terms_of_pairs * max(entry_count, 1) + self.entry_of[members])
        entries_per_term = np.bincount(entry_pairs // max(entry_count, 1), minlength=term_count)
        self._terms = term_ids
        self._surfaces = surfaces
        self.vocabulary = frozenset(surfaces) | frozenset(term_ids)
        scale = math.log(1 + max(entry_count, 1))
        self.weights = np.empty(term_count, dtype=np.float64)
        self._entry_count = entry_count
        for lemma, term in term_ids.items():
            # The commonest form decides: an English stem («doe» of "does») is no rare word.
            language = languages[term]
            commonest = max(
                0.0,
                normalizer.zipf(lemma, language),
                *(normalizer.zipf(word, language) for word in forms[term]),
            )
            general = word_weight(commonest)
            specific = math.log(1 + entry_count / int(entries_per_term[term])) / scale
            self.weights[term] = general * (0.25 + 0.75 * specific)
        # Summed in term order per phrasing, as adding term by term would.
        self.phrase_totals = np.bincount(
            members, weights=self.weights[terms_of_pairs], minlength=self.size
        ).astype(np.float64)
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
        # Keyed by "word\0lemma" (words never hold a NUL): a string key is not one more
        # object for the garbage collector to scan per message word.
        self._resolved: dict[str, dict[int, float]] = {}
        self._weights: list[float] = self.weights.tolist()  # scalar reads, no numpy boxing

    def resolve(self, word: str, lemma: str) -> dict[int, float]:
        """Terms a message word stands for, with match strength 0..1 (cached per word)."""
        key = f"{word}\0{lemma}"
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
        hit, values = self._sparse_scores(words, lemmas, language)
        result[hit] = values
        return result

    def entry_scores(
        self, words: Sequence[str], lemmas: Sequence[str], language: str
    ) -> NDArray[np.float64]:
        """Per entry: its best phrasing's `scores()` value (0 for entries with no hit)."""
        result = np.zeros(self._entry_count, dtype=np.float64)
        hit, values = self._sparse_scores(words, lemmas, language)
        np.maximum.at(result, self.entry_of[hit], values)
        return result

    def _sparse_scores(
        self, words: Sequence[str], lemmas: Sequence[str], language: str
    ) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """`scores()` for the phrasings that share a term with the message (all others are 0).

        Hot path: the postings of all message terms are concatenated and summed with one
        `bincount` per side, in message-word order, so every float equals what adding the
        postings one by one gives, with a handful of numpy calls instead of dozens.
        """
        if not words or not self.size:
            return _NO_HITS
        # The message's total weight, summed in word order at the end: an unknown word's
        # weight needs a frequency lookup, wasted when no word matches (most messages
        # against the answers index).
        query_parts: list[float | str] = []
        query_members: list[NDArray[np.int32]] = []
        # Weights per member: runs of (value, repeat count), turned into arrays only where a
        # word's phrasings need a weight each (a word standing for several terms).
        query_weights: list[NDArray[np.float64]] = []
        query_values: list[float] = []
        query_lengths: list[int] = []
        strengths: dict[int, float] = {}
        # While every word stands for one term of its own, the phrasing side adds the same
        # postings with the same weights in the same order: one `bincount` serves both.
        same_sides = True
        seen: set[str] = set()
        for word, lemma in zip(words, lemmas, strict=True):
            if lemma in seen:
                continue
            seen.add(lemma)
            terms = self.resolve(word, lemma)
            if not terms:
                query_parts.append(word)
                continue
            if len(terms) == 1:
                ((term, strength),) = terms.items()
                weight = self._weights[term]
                query_parts.append(weight)
                members = self._postings[term]
                query_members.append(members)
                query_values.append(weight * strength)
                query_lengths.append(len(members))
                if term in strengths:
                    same_sides = False
                    strengths[term] = max(strengths[term], strength)
                else:
                    strengths[term] = strength
                continue
            weight = max(self._weights[t] for t in terms)
            query_parts.append(weight)
            same_sides = False
            if query_values:
                query_weights.append(np.repeat(query_values, query_lengths))
                query_values, query_lengths = [], []
            members, best = self._best_strengths(terms)
            query_members.append(members)
            query_weights.append(weight * best)
            for term, strength in terms.items():
                strengths[term] = max(strengths.get(term, 0.0), strength)
        if not strengths:
            return _NO_HITS
        query_total = self._total(query_parts, language)
        if query_total <= 0:
            return _NO_HITS
        if query_values:
            query_weights.append(np.repeat(query_values, query_lengths))
        query = _sums(
            np.concatenate(query_members),
            query_weights[0] if len(query_weights) == 1 else np.concatenate(query_weights),
            self.size,
        )
        phrase = query if same_sides else self._phrase_sums(strengths)
        return self._covers(query, phrase, query_total)

    def _covers(
        self, query: NDArray[np.float64], phrase: NDArray[np.float64], query_total: float
    ) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """Harmonic mean of message and phrasing coverage, for the phrasings hit.

        In place, with the operations and their order of the plain expression
        q = query / total, p = min(phrase / phrase_total, 1), 2 * q * p / (q + p).
        """
        hit = (query != 0).nonzero()[0]  # flatnonzero, 3x faster via a boolean mask
        query_cover = query[hit]
        query_cover /= query_total
        phrase_cover = phrase[hit]
        phrase_cover /= self.phrase_totals[hit]
        np.minimum(phrase_cover, 1.0, out=phrase_cover)
        values = query_cover * 2
        values *= phrase_cover
        values /= np.add(query_cover, phrase_cover, out=phrase_cover)
        return hit, values

    def _total(self, parts: list[float | str], language: str) -> float:
        """The message's weight: matched words' weights, unknown words' rarity, in order."""
        total = 0.0
        for part in parts:
            if isinstance(part, str):
                total += word_weight(self._normalizer.zipf(part, language))
            else:
                total += part
        return total

    def _phrase_sums(self, strengths: dict[int, float]) -> NDArray[np.float64]:
        """Per phrasing: the weight of the message's terms it holds, each at its strength."""
        terms = list(strengths)
        return _sums(
            np.concatenate([self._postings[t] for t in terms]),
            np.repeat(
                [self._weights[t] * strengths[t] for t in terms],
                [len(self._postings[t]) for t in terms],
            ),
            self.size,
        )

    def _best_strengths(
        self, terms: dict[int, float]
    ) -> tuple[NDArray[np.int32], NDArray[np.float64]]:
        """For a word that stands for several terms: each phrasing's strongest of them."""
        members = np.concatenate([self._postings[t] for t in terms])
        strength = np.repeat(list(terms.values()), [len(self._postings[t]) for t in terms])
        order = np.argsort(members, kind="stable")
        members, strength = members[order], strength[order]
        # Sorted: each phrasing's run starts where the member changes (terms have postings),
        # which finds the runs in half the time `np.unique` takes to sort them again.
        first = np.empty(len(members), dtype=bool)
        first[0] = True
        np.not_equal(members[1:], members[:-1], out=first[1:])
        starts = first.nonzero()[0]
        return members[starts], np.maximum.reduceat(strength, starts)


def _sums(
    members: NDArray[np.int32], weights: NDArray[np.float64], size: int
) -> NDArray[np.float64]:
    """Per phrasing, its members' weights added in the given order (`np.bincount`)."""
    sums = np.bincount(members, weights=weights, minlength=size)
    return cast("NDArray[np.float64]", sums)  # float64 with weights; numpy's stub says int


# What `_sparse_scores` returns when nothing matches; read-only, so sharing it is safe.
_NO_HITS = (np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.float64))
for _empty in _NO_HITS:
    _empty.flags.writeable = False


def _deletes(word: str) -> list[str]:
    return [word[:i] + word[i + 1 :] for i in range(len(word))]
