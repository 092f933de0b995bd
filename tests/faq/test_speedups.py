"""The speed-ups are exact: each shortcut gives bit for bit what the plain computation gives."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from wordfreq import zipf_frequency

from faq.lexical import LexicalIndex, word_weight
from faq.lexicon import TRANSLIT
from faq.matcher import FaqMatcher, Outcome, _top
from faq.model import Faq
from faq.normalizer import Normalizer, _translit
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
    # Wrong-layout and translit readings: letter runs between punctuation.
    "ghj,ktvs",
    "vj;yj",
    "c.;hn",
    "ltkf.",
    "'rjyjvhrb",
    "k.yk.",
    "[jxe",
    "nj,hq",
    "гхй,ктвс",
    "вй;ый",
    "x-y",
    "i;v",
    "и;в",
    "don't",
    "u.s.",
    "a:b",
]


@pytest.mark.parametrize("language", ["ru", "en"])
def test_frequency_lookup_equals_wordfreq(normalizer: Normalizer, language: str) -> None:
    fresh = normalizer.fresh()  # nothing memoized: every word takes the shortcut it would
    for word in WORDS:
        assert repr(fresh.zipf(word, language)) == repr(zipf_frequency(word, language))


@pytest.mark.parametrize("language", ["ru", "en"])
@pytest.mark.parametrize("floor", [1.0, 1.5, 3.0, 3.5])
def test_frequency_floor_check_equals_wordfreq(
    normalizer: Normalizer, language: str, floor: float
) -> None:
    fresh = normalizer.fresh()
    for word in WORDS:
        assert fresh._at_least(word, language, floor) == (
            zipf_frequency(word, language) >= floor
        ), word


def _scanned_translit(token: str) -> str:
    """TRANSLIT applied by trying every spelling in list order at each position."""
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


def test_translit_equals_a_scan_in_list_order() -> None:
    lengths = [len(latin) for latin, _ in TRANSLIT]
    assert lengths == sorted(lengths, reverse=True)  # what the two-step version relies on
    rng = random.Random(2)
    letters = "abcdefghijklmnopqrstuvwxyz'ьй;.,1"
    tokens = ["shchuka", "yozhik", "skolko", "dostavka", "iyi", "yiy", "kashsh", "tsch"]
    tokens += [
        "".join(rng.choice(letters) for _ in range(rng.randint(1, 12))) for _ in range(2000)
    ]
    for token in tokens:
        assert _translit(token) == _scanned_translit(token), token


@pytest.mark.parametrize(
    ("text", "entry"),
    [
        ("сколько стоит доствка", "delivery-cost"),  # a typo no dictionary knows
        ("сколько стоит доставкой", "delivery-cost"),  # a word form
        ("как оплотить картой", "payment-methods"),
        ("vj;yj kb jgkfnbnm rfhnjq", "payment-methods"),  # wrong layout, `ж` typed as `;`
        ("vj;yj kb dthyenm njdfh", "return-product"),
        ("ult vjq pfrfp?", "order-status"),
        ("ckjvfkcz ghjvjrjl", "promo-code"),
    ],
)
def test_typos_and_wrong_layout_find_the_entry_by_words_alone(
    lexical_matcher: FaqMatcher, text: str, entry: str
) -> None:
    result = lexical_matcher.match(text)

    assert result.outcome is Outcome.ANSWER
    assert result.matches[0].entry_id == entry


def test_a_latin_token_is_read_against_each_faq_vocabulary(normalizer: Normalizer) -> None:
    # The readings of a token are remembered, its FAQ-vocabulary checks are not: the same
    # word is left alone for an FAQ that uses it and converted for one that does not.
    fresh = normalizer.fresh()
    assert fresh.analyse("cnjbvjcnm", frozenset({"cnjbvjcnm"})).words == ("cnjbvjcnm",)
    assert fresh.analyse("cnjbvjcnm").words == ("стоимость",)
    assert fresh.analyse("cnjbvjcnm", frozenset({"cnjbvjcnm"})).words == ("cnjbvjcnm",)


def _plain_scores(
    index: LexicalIndex, words: tuple[str, ...], lemmas: tuple[str, ...], language: str
) -> NDArray[np.float64]:
    """`scores()` computed term by term and phrasing by phrasing, with no shortcut."""
    query = np.zeros(index.size)
    phrase = np.zeros(index.size)
    total = 0.0
    strengths: dict[int, float] = {}
    seen: set[str] = set()
    for word, lemma in zip(words, lemmas, strict=True):
        if lemma in seen:
            continue
        seen.add(lemma)
        terms = index.resolve(word, lemma)
        if not terms:
            total += word_weight(index._normalizer.zipf(word, language))
            continue
        weight = max(index._weights[t] for t in terms)
        total += weight
        best: dict[int, float] = {}
        for term, strength in terms.items():
            for member in index._postings[term].tolist():
                best[member] = max(best.get(member, 0.0), strength)
            strengths[term] = max(strengths.get(term, 0.0), strength)
        for member in sorted(best):
            query[member] += weight * best[member]
    for term, strength in strengths.items():
        for member in index._postings[term].tolist():
            phrase[member] += index._weights[term] * strength
    result = np.zeros(index.size)
    if not strengths or total <= 0:
        return result
    for member in np.flatnonzero(query).tolist():
        q = query[member] / total
        p = min(phrase[member] / index.phrase_totals[member], 1.0)
        result[member] = 2 * q * p / (q + p)
    return result


@pytest.mark.parametrize(
    "text",
    [
        "сколько стоит доставка",
        "сколько стоит доставкаа",  # a typo standing for several terms
        "доставка доставку доставкой",  # forms of one lemma, counted once
        "доставить доставка",  # a word family next to its word
        "доставкк доставка",  # one term from two words, the stronger second
        "vj;yj kb jgkfnbnm rfhnjq",
        "how do i return an item",
        "zzz",
    ],
)
def test_lexical_scores_equal_a_term_by_term_sum(lexical_matcher: FaqMatcher, text: str) -> None:
    for index in (lexical_matcher.lexical, lexical_matcher.answers):
        analysis = lexical_matcher.normalizer.analyse(text, lexical_matcher.lexical.vocabulary)
        args = (analysis.words, analysis.lemmas, analysis.language)
        assert index.scores(*args).tolist() == _plain_scores(index, *args).tolist()


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


def test_word_memos_stay_bounded_however_many_new_words_arrive() -> None:
    # A bot running for months sees endless new words (typos, names, order numbers); the
    # per-word memos start over at their limit instead of growing with them.
    normalizer = Normalizer(memo_limit=500)
    for number in range(2_000):
        word = f"zq{number}x"
        normalizer.analyse(f"{word} доставка")
        normalizer.zipf(word, "en")

    assert normalizer._word_count() <= 3 * 500
    assert normalizer.lemma("доставкой") == "доставка"  # still right after starting over
