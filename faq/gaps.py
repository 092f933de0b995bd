"""Learning from gaps: group the questions the bot could not answer, most asked first.

`cluster_questions` is a pure function; the storage layer supplies the questions (every
suggest/fallback, and every close call, with text, channel and time), the suggested
entries shoppers tapped, and the 👍/👎 counts per entry through a `GapsSource` the
`otklik faq gaps` command receives.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from faq.lexical import word_weight
from faq.lexicon import FILLERS
from faq.normalizer import Analysis, Normalizer

__all__ = [
    "CLOSE_CALL",
    "UNHELPFUL",
    "Cluster",
    "EntryFeedback",
    "GapsData",
    "GapsSource",
    "PickedSuggestion",
    "UnansweredQuestion",
    "close_call_pairs",
    "cluster_questions",
    "offered_entries",
]


CLOSE_CALL = "close"
"""The outcome of an answer given with a sibling entry nearly as close offered under it."""
UNHELPFUL = "unhelpful"
"""The outcome of an answer rated 👎, after which the other entries close to it were offered."""


@dataclass(frozen=True)
class UnansweredQuestion:
    """One stored message the bot was unsure of: a suggest, a fallback, a close call, or an
    answer rated 👎 with other entries offered after it.

    `suggestions` are, for a suggest, the entries offered; for a close call or a 👎, the
    entry answered and then the entries offered.
    """

    text: str
    channel: str = ""
    at: datetime | None = None
    outcome: str = ""
    suggestions: tuple[str, ...] = ()

    @property
    def close_call(self) -> tuple[str, str] | None:
        """(entry answered, first entry offered) for a close call or a 👎, else None."""
        if self.outcome not in (CLOSE_CALL, UNHELPFUL) or len(self.suggestions) < 2:
            return None
        return self.suggestions[0], self.suggestions[1]


@dataclass(frozen=True)
class EntryFeedback:
    """«Помогло? 👍 / 👎» counts for one entry."""

    entry_id: str
    helpful: int
    unhelpful: int


@dataclass(frozen=True)
class PickedSuggestion:
    """A suggested entry a shopper tapped for an unanswered question."""

    question: str
    entry_id: str


@dataclass(frozen=True)
class GapsData:
    questions: Sequence[UnansweredQuestion]
    feedback: Sequence[EntryFeedback] = ()
    picks: Sequence[PickedSuggestion] = ()


_MIN_SHARED_WEIGHT = 0.5
_FAMILY = 6  # «доставка», «доставлять» share a word family: compare the first 6 letters

# What storage provides: everything since a moment (None = all time).
GapsSource = Callable[[datetime | None], Coroutine[Any, Any, GapsData]]


@dataclass(frozen=True)
class Cluster:
    """Similar questions: `label` is the most frequent wording, `texts` distinct wordings.

    `picked` counts the suggested entries shoppers tapped for these questions, most first:
    the entry whose `questions` these wordings belong in.
    """

    label: str
    count: int
    texts: tuple[str, ...]
    channels: Mapping[str, int] = field(default_factory=dict)
    picked: Mapping[str, int] = field(default_factory=dict)


def cluster_questions(
    texts: Sequence[str],
    *,
    channels: Sequence[str] | None = None,
    picks: Sequence[PickedSuggestion] = (),
    normalizer: Normalizer | None = None,
    embed: Callable[[Sequence[str]], NDArray[np.float32]] | None = None,
    threshold: float = 0.6,
    semantic_threshold: float = 0.75,
) -> list[Cluster]:
    """Group similar texts, largest cluster first (ties: earliest label).

    Two wordings join when their informative words overlap (weighted by rarity, relative to
    the shorter wording, ≥ `threshold`) or, with `embed` (unit vectors), when their cosine
    reaches `semantic_threshold`. A pick joins the cluster of the question it was made for.
    Deterministic: the same input gives the same clusters.
    """
    normalizer = normalizer or Normalizer()
    counts: Counter[str] = Counter()
    wordings: dict[str, Counter[str]] = {}
    seen_channels: dict[str, Counter[str]] = {}
    bags: dict[str, dict[str, float]] = {}
    for index, text in enumerate(texts):
        analysis = normalizer.analyse(text)
        key = _key(analysis)
        if not key:
            continue
        counts[key] += 1
        wordings.setdefault(key, Counter())[text.strip()] += 1
        if channels is not None:
            seen_channels.setdefault(key, Counter())[channels[index]] += 1
        if key not in bags:
            bags[key] = {
                lemma[:_FAMILY]: word_weight(normalizer.zipf(word, analysis.language))
                for word, lemma in zip(analysis.words, analysis.lemmas, strict=True)
                if word not in FILLERS
            }
    keys = sorted(counts, key=lambda k: (-counts[k], k))
    vectors = None
    if embed is not None and keys:
        vectors = embed([wordings[k].most_common(1)[0][0] for k in keys])
    leaders: list[int] = []
    members: list[list[int]] = []
    for i, key in enumerate(keys):
        for c, leader in enumerate(leaders):
            close = _overlap(bags[key], bags[keys[leader]]) >= threshold
            if not close and vectors is not None:
                close = float(vectors[i] @ vectors[leader]) >= semantic_threshold
            if close:
                members[c].append(i)
                break
        else:
            leaders.append(i)
            members.append([i])
    picked_by_key: dict[str, Counter[str]] = {}
    for pick in picks:
        picked_by_key.setdefault(_key(normalizer.analyse(pick.question)), Counter())[
            pick.entry_id
        ] += 1
    clusters: list[Cluster] = []
    for group in members:
        wording: Counter[str] = Counter()
        channel: Counter[str] = Counter()
        picked: Counter[str] = Counter()
        for i in group:
            wording.update(wordings[keys[i]])
            channel.update(seen_channels.get(keys[i], Counter()))
            picked.update(picked_by_key.get(keys[i], Counter()))
        ordered = tuple(text for text, _ in sorted(wording.items(), key=lambda t: (-t[1], t[0])))
        clusters.append(
            Cluster(
                ordered[0],
                sum(counts[keys[i]] for i in group),
                ordered,
                dict(channel),
                dict(sorted(picked.items(), key=lambda item: (-item[1], item[0]))),
            )
        )
    clusters.sort(key=lambda c: (-c.count, c.label))
    return clusters


def close_call_pairs(
    close: list[UnansweredQuestion], clusters: list[Cluster]
) -> list[list[tuple[tuple[str, str], int]]]:
    """Per cluster of close calls: (entry answered, sibling offered) pairs, most first."""
    by_text: dict[str, Counter[tuple[str, str]]] = {}
    for question in close:
        if question.close_call is not None:
            by_text.setdefault(question.text.strip(), Counter())[question.close_call] += 1
    result = []
    for cluster in clusters:
        counts: Counter[tuple[str, str]] = Counter()
        for text in cluster.texts:
            counts.update(by_text.get(text, Counter()))
        result.append(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
    return result


def offered_entries(
    questions: Sequence[UnansweredQuestion], clusters: Sequence[Cluster]
) -> list[dict[str, int]]:
    """Per cluster: the entries the bot offered as buttons for its questions, most first.

    Where shoppers tapped none, this is still the bot's best guess at where the wordings
    belong, or a sign that none of the entries fits and a new one is due.
    """
    by_text: dict[str, Counter[str]] = {}
    for question in questions:
        if question.close_call is None and question.suggestions:
            by_text.setdefault(question.text.strip(), Counter()).update(question.suggestions)
    result = []
    for cluster in clusters:
        counts: Counter[str] = Counter()
        for text in cluster.texts:
            counts.update(by_text.get(text, Counter()))
        result.append(dict(sorted(counts.items(), key=lambda item: (-item[1], item[0]))))
    return result


def _key(analysis: Analysis) -> str:
    """One question however it is typed: its content words, in any order."""
    return " ".join(sorted(set(analysis.content))) or analysis.text


def _overlap(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Weighted overlap relative to the shorter wording; 0 unless an informative word is shared."""
    if not a or not b:
        return 0.0
    shared = sum(min(a[t], b[t]) for t in a.keys() & b.keys())
    if shared < _MIN_SHARED_WEIGHT:
        return 0.0
    return shared / min(sum(a.values()), sum(b.values()))
