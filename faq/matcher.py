"""Match a shopper's message to FAQ entries: answer, suggest, fall back, or small talk.

Two stages score every entry: the lexical stage (`faq.lexical`, typo-tolerant weighted
word overlap) and, when on, the semantic stage (`faq.semantic`, sentence embeddings that
catch paraphrases sharing no word with the FAQ). Their blend decides the outcome: answer
only when the best entry is both good enough and clearly ahead of the next one, because
answering the wrong question confidently is worse than asking.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
from numpy.typing import NDArray

from faq.lexical import LexicalIndex, Phrasing
from faq.lexicon import FILLERS
from faq.model import Faq
from faq.normalizer import Normalizer
from faq.semantic import EmbeddingCache, load_encoder
from faq.settings import MatcherSettings
from faq.smalltalk import split_smalltalk

__all__ = ["FaqMatcher", "Match", "MatchResult", "Outcome", "Scores"]


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
    offer; for FALLBACK they are informational (the CLI prints them).
    """

    outcome: Outcome
    matches: tuple[Match, ...]
    smalltalk: str | None = None


@dataclass(frozen=True)
class Scores:
    """Per-entry stage scores for one message (entry order as in the FAQ)."""

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
        self.lexical = LexicalIndex(phrasings, len(self.ids), self.normalizer)
        self.embeddings: EmbeddingCache | None = None
        self._vectors: NDArray[np.float32] | None = None
        if self.settings.semantic and phrasings:
            self.embeddings = embeddings or EmbeddingCache(
                load_encoder(self.settings.encoder), self.settings.encoder, self.settings.cache_dir
            )
            self._vectors = self.embeddings.embed(texts)

    def match(self, text: str, language: str | None = None) -> MatchResult:
        """Decide what to do with `text`; `language` ("ru"/"en") only breaks ties in layout."""
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
        scores = self.scores(" ".join(w for w, _ in kept), words, lemmas, analysis.language)
        return self._decide(scores.combined)

    def scores(
        self, text: str, words: tuple[str, ...], lemmas: tuple[str, ...], language: str
    ) -> Scores:
        """Both stages' per-entry scores and their blend (exposed for evaluation tools)."""
        lexical = np.maximum.reduceat(self.lexical.scores(words, lemmas, language), self._starts)
        if self._vectors is None or self.embeddings is None:
            return Scores(lexical, None, lexical)
        cosine = self._vectors @ self.embeddings.query(text)
        semantic = np.maximum.reduceat(cosine.astype(np.float64), self._starts)
        s = self.settings
        calibrated = np.clip(
            (semantic - s.semantic_floor) / (s.semantic_ceiling - s.semantic_floor), 0.0, 1.0
        )
        combined = (1 - s.semantic_weight) * lexical + s.semantic_weight * calibrated
        return Scores(lexical, semantic, combined)

    def _decide(self, combined: NDArray[np.float64]) -> MatchResult:
        s = self.settings
        order = np.argsort(-combined, kind="stable")[: max(s.max_suggestions, 2)]
        best = float(combined[order[0]])
        second = float(combined[order[1]]) if len(order) > 1 else 0.0
        matches = tuple(
            Match(self.ids[i], round(float(combined[i]), 4)) for i in order if combined[i] > 0
        )[: s.max_suggestions]
        lead = best - second
        if (best >= s.answer_threshold and lead >= s.answer_margin) or (
            best >= s.clear_threshold and lead >= s.clear_margin
        ):
            return MatchResult(Outcome.ANSWER, matches)
        if best >= s.suggest_threshold:
            close = tuple(m for m in matches if m.score >= s.suggest_threshold)
            return MatchResult(Outcome.SUGGEST, close)
        return MatchResult(Outcome.FALLBACK, matches)


def _content(
    words: tuple[str, ...], lemmas: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    pairs = [(w, lemma) for w, lemma in zip(words, lemmas, strict=True) if w not in FILLERS]
    return tuple(w for w, _ in pairs), tuple(lemma for _, lemma in pairs)
