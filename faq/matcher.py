"""Match a shopper's text to FAQ entries (stub: plain rapidfuzz; the full matcher follows)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from rapidfuzz import fuzz, process

from faq.model import Faq
from faq.settings import MatcherSettings

__all__ = ["FaqMatcher", "Match", "MatchResult", "Outcome"]


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
    """The decision plus the best entries, best first; `smalltalk` names the kind for SMALLTALK."""

    outcome: Outcome
    matches: tuple[Match, ...]
    smalltalk: str | None = None


class FaqMatcher:
    """Synchronous, deterministic matcher built once per FAQ version."""

    def __init__(self, faq: Faq, settings: MatcherSettings | None = None) -> None:
        self.settings = settings or MatcherSettings()
        self._phrasings: list[str] = []
        self._owners: list[str] = []
        for entry in faq.entries.values():
            for question in entry.questions:
                self._phrasings.append(question.lower())
                self._owners.append(entry.id)

    def match(self, text: str, language: str | None = None) -> MatchResult:
        """Score `text` against every phrasing and decide answer / suggest / fallback."""
        hits = process.extract(text.lower(), self._phrasings, scorer=fuzz.WRatio, limit=20)
        best: dict[str, float] = {}
        for _, score, index in hits:
            owner = self._owners[index]
            best[owner] = max(best.get(owner, 0.0), score / 100)
        ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))
        matches = tuple(Match(entry_id, score) for entry_id, score in ranked)
        if matches and matches[0].score >= self.settings.answer_threshold:
            return MatchResult(Outcome.ANSWER, matches[: self.settings.max_suggestions])
        if matches and matches[0].score >= self.settings.suggest_threshold:
            return MatchResult(Outcome.SUGGEST, matches[: self.settings.max_suggestions])
        return MatchResult(Outcome.FALLBACK, matches[: self.settings.max_suggestions])
