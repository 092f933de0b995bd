"""The speed-ups are exact: each shortcut gives bit for bit what the plain computation gives."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from wordfreq import zipf_frequency

from faq.matcher import FaqMatcher, _top
from faq.model import Faq
from faq.normalizer import Normalizer
from faq.settings import MatcherSettings

WORDS = [
    "доставка",
    "доставкаа",
    "ghbdtn",
    "и",
    "where",
    "order",
    "zzzxq",
    "ещё",
    "2024",
    "кофе-машина",
    "целиакия",
    "returns",
]


@pytest.mark.parametrize("language", ["ru", "en"])
def test_frequency_lookup_equals_wordfreq(normalizer: Normalizer, language: str) -> None:
    for word in WORDS:
        assert repr(normalizer.zipf(word, language)) == repr(zipf_frequency(word, language))


def test_top_equals_a_stable_full_sort() -> None:
    rng = np.random.default_rng(3)
    for size in (1, 3, 12, 13, 200, 2000):
        for _ in range(20):
            # Few distinct values, many ties and zeros, as real scores have.
            scores = rng.choice([0.0, 0.0, 0.1, 0.25, 0.5, 0.75], size=size)
            for count in (2, 3, 5):
                expected = np.argsort(-scores, kind="stable")[:count]
                assert _top(scores, count).tolist() == expected.tolist()


def test_entry_scores_are_the_best_phrasing_per_entry(lexical_matcher: FaqMatcher) -> None:
    index = lexical_matcher.lexical
    for text in ("сколько стоит доставкаа", "где мой заказ", "how do i return an item", "zzz"):
        analysis = lexical_matcher.normalizer.analyse(text, index.vocabulary)
        args = (analysis.words, analysis.lemmas, analysis.language)
        per_phrasing = np.maximum.reduceat(index.scores(*args), lexical_matcher._starts)
        assert index.entry_scores(*args).tolist() == per_phrasing.tolist()


def test_word_analyses_survive_a_restart_via_cache_dir(
    shipped_faq: Faq, normalizer: Normalizer, tmp_path: Path
) -> None:
    settings = MatcherSettings(semantic=False, cache_dir=tmp_path)
    first = FaqMatcher(shipped_faq, settings, normalizer=normalizer.fresh())
    saved = tmp_path / "faq-words.json"
    assert saved.exists()

    restarted = normalizer.fresh()
    restarted.load_words(tmp_path)
    assert restarted._lemmas  # read from disk, nothing analysed yet
    second = FaqMatcher(shipped_faq, settings, normalizer=restarted)

    rng = random.Random(5)
    questions = [q for e in shipped_faq.entries.values() for q in e.questions]
    for text in rng.sample(questions, 30):
        assert second.match(text) == first.match(text)


def test_a_stale_or_broken_word_cache_is_ignored(
    shipped_faq: Faq, normalizer: Normalizer, tmp_path: Path
) -> None:
    (tmp_path / "faq-words.json").write_text(
        json.dumps({"version": "old", "lemmas": {"доставка": "WRONG"}, "known": {}, "zipf": {}}),
        encoding="utf-8",
    )
    stale = normalizer.fresh()
    stale.load_words(tmp_path)
    assert stale.lemma("доставка") == "доставка"

    (tmp_path / "faq-words.json").write_text("{not json", encoding="utf-8")
    broken = normalizer.fresh()
    FaqMatcher(shipped_faq, MatcherSettings(semantic=False, cache_dir=tmp_path), normalizer=broken)
    assert json.loads((tmp_path / "faq-words.json").read_text(encoding="utf-8"))["lemmas"]
