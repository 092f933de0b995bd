"""FAQ speed on one core: start-up, loading, reload and match latency at 1k / 10k / 50k phrasings.

Run: python benchmarks/faq_speed.py [--sizes 1000,10000,50000] [--queries 1000] [--rounds 3]
                                    [--core N] [--no-phrasebook]

The process pins itself to one CPU core (`--core`, default the last one) and to one BLAS
thread (environment variables set before numpy is imported, plus threadpoolctl when it is
installed), so every number is "one core". Synthetic FAQs are generated from wordfreq's
Russian vocabulary (fixed seed), five phrasings per entry, a short answer per entry.

What is timed:
- start-up, once per process: dictionaries (pymorphy3, wordfreq ru/en) and the sentence
  encoder's weights; then encoding one message.
- load: FAQ folder → ready matcher (YAML parse and checks, word analysis, indexes), with
  the dictionaries already loaded but no word analysed yet (a freshly started process).
  "lexical" is the matcher without the semantic stage; "encode all" is the semantic
  matcher's first start with no embedding cache; "warm" loads with `cache_dir` filled by
  an earlier run (word analyses and embeddings read from disk).
- reload: rebuilding after one entry gained a phrasing, in the same process (what the
  service's watcher does), lexical only and with the semantic stage (which, as in the
  defaults, lends the shipped phrasebook's wordings anew; `--no-phrasebook` leaves it out).
- latency: `match()` per message, lexical only and whole (normalization, both stages,
  decision), and plain `rapidfuzz.process.extractOne` (WRatio) over all phrasings. The
  messages mix typos, the wrong keyboard layout, paraphrases and verbatim phrasings; each
  round uses new messages (nothing measured was seen in the warm-up), the best round is
  reported with the spread of p99 over rounds. A second table gives the process's CPU
  time for the same calls: on a core shared with other jobs, the wall clock also counts
  the time they took, and the gap between the two tables shows how much.
"""

from __future__ import annotations

import os

# One BLAS thread, set before numpy loads its BLAS.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["MKL_NUM_THREADS"] = "1"

import argparse
import contextlib
import gc
import importlib
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rapidfuzz import fuzz, process
from wordfreq import top_n_list

from faq.lexicon import LATIN_TO_CYRILLIC_KEYS
from faq.loader import load_faq
from faq.matcher import FaqMatcher
from faq.normalizer import Normalizer
from faq.semantic import EmbeddingCache, UniversalSentenceEncoder
from faq.settings import MatcherSettings

STARTS = ["как", "где", "когда", "можно ли", "сколько стоит", "почему", "что делать если"]
CYRILLIC_TO_LATIN = {c: latin for latin, c in LATIN_TO_CYRILLIC_KEYS.items()}
LEXICAL = MatcherSettings(semantic=False)


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


def wrong_layout(text: str) -> str:
    """Typed with the Latin layout on: `доставка` → `lfcnfdrf`."""
    return "".join(CYRILLIC_TO_LATIN.get(c, c) for c in text)


def paraphrase(text: str, rng: random.Random) -> str:
    """Another question word, one word dropped, the rest reordered."""
    words = text.split()
    for start in sorted(STARTS, key=len, reverse=True):
        if text.startswith(start + " "):
            words = words[len(start.split()) :]
            break
    if len(words) > 2:
        words.pop(rng.randrange(len(words)))
    rng.shuffle(words)
    return " ".join([rng.choice(STARTS), *words])


def messages(phrasings: list[str], count: int, rng: random.Random) -> list[str]:
    """40% typos, 20% wrong layout, 30% paraphrases, 10% verbatim."""
    out = []
    for _ in range(count):
        phrasing, kind = rng.choice(phrasings), rng.random()
        if kind < 0.4:
            out.append(typo(phrasing, rng))
        elif kind < 0.6:
            out.append(wrong_layout(phrasing))
        elif kind < 0.9:
            out.append(paraphrase(phrasing, rng))
        else:
            out.append(phrasing)
    return out


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds (p99: the value 99% of samples do not exceed)."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered) * 1000, p99 * 1000


def latencies(
    function: Callable[[str], object], queries: list[str]
) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds per call.

    CPU time is what this process ran; on a core shared with other jobs the wall clock
    also holds the time they took, so the two together show contention.
    """
    gc.collect()
    wall, cpu = [], []
    for query in queries:
        start, start_cpu = time.perf_counter(), time.process_time()
        function(query)
        cpu.append(time.process_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return wall, cpu


def timed(function: Callable[[], object]) -> tuple[float, object]:
    gc.collect()
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


@contextlib.contextmanager
def one_blas_thread() -> Iterator[str]:
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        yield "BLAS threads: 1 via environment variables (threadpoolctl not installed)"
        return
    with threadpoolctl.threadpool_limits(limits=1):
        yield "BLAS threads: 1 via environment variables and threadpoolctl"


class Round:
    """Best round and spread of p99 over rounds, for one method."""

    def __init__(self) -> None:
        self.rounds: list[tuple[float, float]] = []
        self.cpu_rounds: list[tuple[float, float]] = []

    def add(self, samples: tuple[list[float], list[float]]) -> None:
        self.rounds.append(percentiles(samples[0]))
        self.cpu_rounds.append(percentiles(samples[1]))

    def __str__(self) -> str:
        return self.summary(self.rounds)

    def cpu(self) -> str:
        return self.summary(self.cpu_rounds)

    @staticmethod
    def summary(rounds: list[tuple[float, float]]) -> str:
        p50, p99 = min(rounds, key=lambda r: r[1])
        spread = f" ({min(r[1] for r in rounds):.2f}–{max(r[1] for r in rounds):.2f})"
        return f"{p50:.2f} / {p99:.2f}{spread if len(rounds) > 1 else ''}"


def spread(values: list[float]) -> str:
    return f"{min(values):.2f} s ({min(values):.2f}–{max(values):.2f})"


def bench_size(
    size: int, args: argparse.Namespace, normalizer: Normalizer, encoder: UniversalSentenceEncoder
) -> str:
    """Print the size's row of the main table; return its row of the CPU-time table."""
    root = Path(tempfile.mkdtemp(prefix="faq-bench-"))
    folder, cache_dir = root / "faq", root / "cache"
    folder.mkdir()
    text = synthetic_yaml(size)
    (folder / "faq.yaml").write_text(text, encoding="utf-8")
    cached = MatcherSettings(cache_dir=cache_dir)  # the defaults: the shipped phrasebook on
    if args.no_phrasebook:
        cached = cached.with_changes(phrasebook=None)
    cached_lexical = MatcherSettings(semantic=False, cache_dir=cache_dir)

    def load_lexical(settings: MatcherSettings) -> FaqMatcher:
        return FaqMatcher(load_faq(folder), settings, normalizer=normalizer.fresh())

    cold = [timed(lambda: load_lexical(LEXICAL))[0] for _ in range(args.rounds)]
    load_lexical(cached_lexical)  # fills cache_dir with the word analyses
    warm = [timed(lambda: load_lexical(cached_lexical))[0] for _ in range(args.rounds)]

    shared = normalizer.fresh()
    faq = load_faq(folder)
    lexical = FaqMatcher(faq, LEXICAL, normalizer=shared)
    embeddings = EmbeddingCache(encoder, encoder.name, cache_dir)
    encode_all, whole = timed(
        lambda: FaqMatcher(faq, cached, normalizer=shared, embeddings=embeddings)
    )
    assert isinstance(whole, FaqMatcher)
    warm_whole = [
        timed(
            lambda: FaqMatcher(
                load_faq(folder),
                cached,
                normalizer=normalizer.fresh(),
                embeddings=EmbeddingCache(encoder, encoder.name, cache_dir),
            )
        )[0]
        for _ in range(args.rounds)
    ]

    reload_lexical, reload_whole = [], []
    for edit in range(args.rounds):
        edited = text.replace(
            "  questions:\n", f"  questions:\n    - новый вопрос номер {edit} о доставке\n", 1
        )
        (folder / "faq.yaml").write_text(edited, encoding="utf-8")
        reload_lexical.append(
            timed(lambda: FaqMatcher(load_faq(folder), LEXICAL, normalizer=shared))[0]
        )
        (folder / "faq.yaml").write_text(edited.replace("новый", "другой", 1), encoding="utf-8")
        reload_whole.append(
            timed(
                lambda: FaqMatcher(
                    load_faq(folder), cached, normalizer=shared, embeddings=embeddings
                )
            )[0]
        )

    phrasings = [q for e in faq.entries.values() for q in e.questions]
    rng = random.Random(size)
    for query in messages(phrasings, args.warmup, rng):  # a running bot's steady state
        lexical.match(query)
        whole.match(query)
    lexical_rounds, whole_rounds, plain_rounds = Round(), Round(), Round()
    for _ in range(args.rounds):
        queries = messages(phrasings, args.queries, rng)
        lexical_rounds.add(latencies(lexical.match, queries))
        whole_rounds.add(latencies(whole.match, queries))
        plain_rounds.add(
            latencies(
                lambda q: process.extractOne(q, phrasings, scorer=fuzz.WRatio),
                queries[: args.plain_queries],
            )
        )
    print(
        f"| {size:,} | {spread(cold)} | {spread(warm)} | {encode_all:.2f} s | "
        f"{spread(warm_whole)} | {spread(reload_lexical)} | {spread(reload_whole)} | "
        f"{lexical_rounds} | {whole_rounds} | {plain_rounds} |",
        flush=True,
    )
    shutil.rmtree(root, ignore_errors=True)
    return f"| {size:,} | {lexical_rounds.cpu()} | {whole_rounds.cpu()} | {plain_rounds.cpu()} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--queries", type=int, default=1000, help="measured messages per round")
    parser.add_argument("--plain-queries", type=int, default=200, help="of those, for extractOne")
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--core", type=int, default=max(os.sched_getaffinity(0)))
    parser.add_argument(
        "--no-phrasebook", action="store_true", help="the semantic matcher without the phrasebook"
    )
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.core})
    with one_blas_thread() as blas:
        print(f"pinned to core {args.core} of {os.cpu_count()}; {blas}")
        print(f"load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
        normalizer = Normalizer()
        dictionaries, _ = timed(normalizer.warm_up)
        encoder = UniversalSentenceEncoder(threads=1)
        weights, _ = timed(lambda: encoder.encode(["прогрев модели"]))
        single, _ = latencies(lambda q: encoder.encode([q]), [f"доставка {i}" for i in range(100)])
        print(
            f"start-up, once per process: dictionaries {dictionaries:.2f} s, sentence-encoder "
            f"weights {weights:.2f} s; encoding one message p50/p99 "
            f"{percentiles(single)[0]:.2f} / {percentiles(single)[1]:.2f} ms"
        )
        print(
            f"latency: {args.rounds} rounds x {args.queries} new messages "
            f"({args.plain_queries} for extractOne), after {args.warmup} warm-up messages; "
            "best round's p50 / p99 ms (p99 range over rounds); loads: best (range)"
        )
        print()
        print(
            "| phrasings | load, lexical, cold | load, lexical, warm cache_dir "
            "| encode all (first start) | load, whole, warm cache_dir "
            "| reload after one-entry edit, lexical | same, semantic on "
            "| lexical stage p50 / p99 | whole match p50 / p99 | plain extractOne p50 / p99 |"
        )
        print("|---:" * 10 + "|")
        cpu_rows = [
            bench_size(int(size), args, normalizer, encoder) for size in args.sizes.split(",")
        ]
        print()
        print("CPU time of this process for the same messages (wall clock minus waiting):")
        print()
        print(
            "| phrasings | lexical stage CPU p50 / p99 | whole match CPU p50 / p99 "
            "| plain extractOne CPU p50 / p99 |"
        )
        print("|---:" * 4 + "|")
        print("\n".join(cpu_rows))
        print(f"load average {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
