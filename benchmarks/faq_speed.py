"""FAQ speed: loading, reload and match latency at 1k / 10k / 50k phrasings.

Run: python benchmarks/faq_speed.py [--sizes 1000,10000,50000] [--queries 300]
Pinned to one BLAS thread to measure "one core". Synthetic FAQs are generated here from
wordfreq's Russian vocabulary (deterministic seed), five phrasings per entry.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import random
import statistics
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rapidfuzz import fuzz, process
from wordfreq import top_n_list

from faq.loader import load_faq
from faq.matcher import FaqMatcher
from faq.normalizer import Normalizer
from faq.semantic import EmbeddingCache, UniversalSentenceEncoder
from faq.settings import MatcherSettings

STARTS = ["как", "где", "когда", "можно ли", "сколько стоит", "почему", "что делать если"]


def synthetic_yaml(phrasings: int, seed: int = 7) -> str:
    rng = random.Random(seed)
    words = [w for w in top_n_list("ru", 6000)[300:] if w.isalpha() and len(w) > 3]
    lines = []
    for entry in range(phrasings // 5):
        topic = rng.sample(words, 3)
        lines.append(f"- id: e{entry}\n  questions:")
        for _ in range(5):
            extra = rng.sample(words, 2)
            phrase = [rng.choice(STARTS), *rng.sample(topic, 2), *extra]
            lines.append(f"    - {' '.join(phrase)}")
        lines.append(f"  answer: ответ {entry}")
    return "\n".join(lines) + "\n"


def typo(text: str, rng: random.Random) -> str:
    chars = list(text)
    i = rng.randrange(len(chars))
    chars[i] = rng.choice("аоеивтнср")
    return "".join(chars)


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return p50 * 1000, p99 * 1000


def timed(function: object, *args: object) -> float:
    start = time.perf_counter()
    function(*args)  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(1)

    start = time.perf_counter()
    normalizer = Normalizer()
    normalizer.analyse("прогрев словарей")
    normalizer.zipf("прогрев", "ru")
    warm_dictionaries = time.perf_counter() - start
    encoder = UniversalSentenceEncoder(threads=1)
    start = time.perf_counter()
    encoder.encode(["прогрев модели"])
    model_load = time.perf_counter() - start
    single = [timed(encoder.encode, [f"сколько стоит доставка {i}"]) for i in range(50)]
    print(
        f"one-time per process: dictionaries {warm_dictionaries:.2f} s, "
        f"sentence encoder load {model_load:.2f} s, encode one message p50 "
        f"{percentiles(single)[0]:.2f} ms"
    )
    print()
    header = (
        f"{'phrasings':>9} | {'load lex':>8} | {'encode all':>10} | {'reload 1 edit':>13} | "
        f"{'lexical p50/p99 ms':>18} | {'whole p50/p99 ms':>16} | {'extractOne p50/p99 ms':>21}"
    )
    print(header)
    print("-" * len(header))
    for size in [int(s) for s in args.sizes.split(",")]:
        folder = Path(tempfile.mkdtemp(prefix="faq-bench-"))
        text = synthetic_yaml(size)
        (folder / "faq.yaml").write_text(text, encoding="utf-8")

        fresh = Normalizer()  # phrasing analyses not cached yet: an honest cold load
        fresh._zipf, fresh._morph = normalizer._zipf, normalizer._analyzer()
        start = time.perf_counter()
        faq = load_faq(folder)
        lexical = FaqMatcher(faq, MatcherSettings(semantic=False), normalizer=fresh)
        load_lexical = time.perf_counter() - start

        cache = EmbeddingCache(encoder, encoder.name)
        start = time.perf_counter()
        whole = FaqMatcher(faq, normalizer=fresh, embeddings=cache)
        encode_all = time.perf_counter() - start

        edited = text.replace("answer: ответ 0\n", "answer: ответ 0\n", 1).replace(
            "  questions:\n", "  questions:\n    - совершенно новый вопрос о доставке\n", 1
        )
        (folder / "faq.yaml").write_text(edited, encoding="utf-8")
        start = time.perf_counter()
        FaqMatcher(load_faq(folder), normalizer=fresh, embeddings=cache)
        reload_one = time.perf_counter() - start

        phrasings = [q for e in faq.entries.values() for q in e.questions]
        queries = [typo(rng.choice(phrasings), rng) for _ in range(args.queries)]
        queries += [" ".join(rng.sample(rng.choice(phrasings).split(), 3)) for _ in range(50)]
        for query in queries[:20]:  # warm the per-word caches as a running bot would be
            lexical.match(query)
            whole.match(query)
        lex = percentiles([timed(lexical.match, q) for q in queries])
        full = percentiles([timed(whole.match, q) for q in queries])
        plain = percentiles(
            [
                timed(partial(process.extractOne, choices=phrasings, scorer=fuzz.WRatio), q)
                for q in queries[:100]
            ]
        )
        print(
            f"{size:>9} | {load_lexical:>6.2f} s | {encode_all:>8.2f} s | {reload_one:>11.2f} s | "
            f"{lex[0]:>8.2f} / {lex[1]:<7.2f} | {full[0]:>7.2f} / {full[1]:<6.2f} | "
            f"{plain[0]:>9.2f} / {plain[1]:<9.2f}"
        )


if __name__ == "__main__":
    main()
