"""FAQ quality: correct / wrong / unanswered / suggested on our case sets.

Run: python benchmarks/faq_quality.py [--failures]
Compares the full matcher, the lexical stage alone and plain rapidfuzz
(`process.extractOne` with WRatio over all phrasings: answer at ≥ 85, suggest at ≥ 70).
The *_holdout sets were never used for tuning.
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
from faq.settings import MatcherSettings

ROOT = Path(__file__).resolve().parents[1]
SETS = ("ru_dev", "en_dev", "ru_holdout", "en_holdout")


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


def line(name: str, method: str, report: Report) -> str:
    total = max(report.total, 1)
    return (
        f"{name:<11} {method:<16} {report.total:>5} {report.correct / total:>8.1%} "
        f"{report.wrong / total:>7.1%} {report.unanswered / total:>11.1%} "
        f"{report.suggested / total:>10.1%}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--faq", type=Path, default=ROOT / "config" / "faq")
    parser.add_argument("--failures", action="store_true", help="print failing cases")
    args = parser.parse_args()
    faq = load_faq(args.faq)
    normalizer = Normalizer()
    methods: dict[str, Callable[[str], MatchResult]] = {
        "matcher": FaqMatcher(faq, normalizer=normalizer).match,
        "lexical only": FaqMatcher(
            faq, MatcherSettings(semantic=False), normalizer=normalizer
        ).match,
        "plain rapidfuzz": plain_rapidfuzz(faq),
    }
    print(
        f"{'set':<11} {'method':<16} {'cases':>5} {'correct':>8} {'wrong':>7} "
        f"{'unanswered':>11} {'suggested':>10}"
    )
    for name in SETS:
        cases = load_cases([ROOT / "tests" / "faq" / "cases" / f"{name}.yaml"])
        for method, match in methods.items():
            report = evaluate(match, cases)
            print(line(name, method, report))
            if args.failures and method == "matcher":
                for failure in report.failures:
                    top = ", ".join(f"{m.entry_id} {m.score:.2f}" for m in failure.result.matches)
                    print(
                        f"    {failure.verdict.value:<10} «{failure.case.q}» → "
                        f"{failure.result.outcome.value} [{top}] expected {failure.case.expect}"
                    )


if __name__ == "__main__":
    main()
