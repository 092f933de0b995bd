"""FAQ quality: correct / wrong / unanswered / suggested per chain and case set.

Run: python benchmarks/faq_quality.py [--failures] [--chain NAME]
Twenty FAQs: the shipped supermarket (`config/faq`, cases in `tests/faq/cases`) and nineteen
other chains written only for testing (`tests/faq/chains/<chain>/{faq,cases}`: pizza, home
goods, and pharmacy, the last written after the method of the others was settled, then
electronics and fashion, written on 2026-12-04, and a pet store, cosmetics, a bookstore and
sporting goods, written on 2026-12-05, then optics, children's goods and auto parts, written
after the thresholds of 2026-12-05 were chosen, flowers, jewellery and a bakery-café,
written after the phrasebook's thresholds were chosen, and furniture, a garden centre,
stationery and a wine shop, written for the phrasebook-default trial
(`docs/phrasebook-default-trial.md`), all by writers who never saw the
matcher), so the numbers say whether the method generalises rather than fits one FAQ.
Compares the full matcher (with the shipped phrasebook, `config/phrasebook`, on by default
since the phrasebook-default trial), the same without the phrasebook and with the thresholds
chosen without it (how the bot ran before), the lexical stage alone and plain rapidfuzz
(`process.extractOne` with WRatio over all phrasings: answer at ≥ 85, suggest at ≥ 70). The
*_holdout sets were never used for tuning, and `--failures` lists failing cases of the *_dev
sets only.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rapidfuzz import fuzz, process

from faq.evaluation import Report, evaluate, load_cases
from faq.loader import load_faq
from faq.matcher import FaqMatcher, Match, MatchResult, Outcome
from faq.model import Faq
from faq.normalizer import Normalizer
from faq.semantic import EmbeddingCache, load_encoder
from faq.settings import SHIPPED_PHRASEBOOK, MatcherSettings

ROOT = Path(__file__).resolve().parents[1]
CHAINS_DIR = ROOT / "tests" / "faq" / "chains"
CHAINS = {"supermarket": (ROOT / "config" / "faq", ROOT / "tests" / "faq" / "cases")} | {
    folder.name: (folder / "faq", folder / "cases")
    for folder in sorted(CHAINS_DIR.iterdir())
    if folder.is_dir()
}
"""Every test FAQ with its case sets: the shipped one, then each folder of
`tests/faq/chains/` (a chain added there is measured with no edit here)."""
SETS = ("ru_dev", "en_dev", "ru_holdout", "en_holdout")
TUNED = ("supermarket", "pizza", "homegoods")
"""The chains whose *_dev sets chose the stage weights; the others arrived later and were
measured once as unseen chains before anything changed. (Since 2026-12-05 the thresholds are
chosen on the dev sets of all ten, and the dev sets of pharmacy, electronics and fashion
helped choose the «доставка пиццы» rule; no held-out set chose anything.)"""


def plain_rapidfuzz(faq: Faq) -> Callable[[str], MatchResult]:
    phrasings = [(q, e.id) for e in faq.entries.values() for q in e.questions]
    texts = [q for q, _ in phrasings]

    def match(text: str) -> MatchResult:
        found = process.extractOne(text, texts, scorer=fuzz.WRatio)
        if found is None:
            return MatchResult(Outcome.FALLBACK, ())
        _, score, index = found
        top = (Match(phrasings[index][1], score / 100),)
        if score >= 85:
            return MatchResult(Outcome.ANSWER, top)
        return MatchResult(Outcome.SUGGEST if score >= 70 else Outcome.FALLBACK, top)

    return match


def line(chain: str, name: str, method: str, report: Report) -> str:
    total = max(report.total, 1)
    return (
        f"{chain:<12} {name:<11} {method:<16} {report.total:>5} "
        f"{report.correct / total:>8.1%} {report.wrong / total:>7.1%} "
        f"{report.unanswered / total:>11.1%} {report.suggested / total:>10.1%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chain", choices=sorted(CHAINS), action="append")
    parser.add_argument("--failures", action="store_true", help="print failing dev cases")
    parser.add_argument(
        "--phrasebook",
        type=Path,
        default=SHIPPED_PHRASEBOOK,
        help="the phrasebook folder of the 'matcher' rows (default: the shipped one)",
    )
    args = parser.parse_args()
    # What `otklik run` uses, with --phrasebook in place of the shipped phrasebook.
    settings = MatcherSettings().with_changes(phrasebook=args.phrasebook)
    normalizer = Normalizer()
    encoder = load_encoder(settings.encoder)
    cache = EmbeddingCache(encoder, settings.encoder)  # the phrasebook's wordings, once
    print(
        f"{'chain':<12} {'set':<11} {'method':<16} {'cases':>5} {'correct':>8} {'wrong':>7} "
        f"{'unanswered':>11} {'suggested':>10}"
    )
    overall: dict[tuple[str, str, str], Report] = {}
    for chain in args.chain or CHAINS:
        faq_dir, cases_dir = CHAINS[chain]
        faq = load_faq(faq_dir)
        methods: dict[str, Callable[[str], MatchResult]] = {
            "matcher": FaqMatcher(faq, settings, normalizer=normalizer, embeddings=cache).match,
            "no phrasebook": FaqMatcher(
                faq,
                settings.with_changes(phrasebook=None),
                normalizer=normalizer,
                embeddings=cache,
            ).match,
            "lexical only": FaqMatcher(
                faq, MatcherSettings(semantic=False), normalizer=normalizer
            ).match,
            "plain rapidfuzz": plain_rapidfuzz(faq),
        }
        for name in SETS:
            cases = load_cases([cases_dir / f"{name}.yaml"])
            for method, match in methods.items():
                report = evaluate(match, cases)
                print(line(chain, name, method, report))
                group = "tuned" if chain in TUNED else "unseen"
                for pool in ("all", group):
                    key = (pool, name.split("_")[1], method)
                    overall.setdefault(key, Report()).results.extend(report.results)
                if args.failures and method == "matcher" and name.endswith("_dev"):
                    for failure in report.failures:
                        top = ", ".join(
                            f"{m.entry_id} {m.score:.2f}" for m in failure.result.matches
                        )
                        print(
                            f"    {failure.verdict.value:<10} «{failure.case.q}» → "
                            f"{failure.result.outcome.value} [{top}] "
                            f"expected {failure.case.expect}"
                        )
    for (pool, kind, method), report in sorted(overall.items(), key=lambda item: item[0][:2]):
        print(line(pool, kind, method, report))


if __name__ == "__main__":
    main()
