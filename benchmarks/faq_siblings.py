"""Sibling entries: how the answer's sibling button and `faq check`'s reworded test perform.

Run: python benchmarks/faq_siblings.py [--chain NAME] [--rebuild]

1. The sibling button (`faq.matcher.also_offer_margin`): for margins around the default, on
   the dev and held-out sets of the ten test chains (`benchmarks/faq_quality.py`), how many
   wrong answers to questions the FAQ covers get the right entry as the button under the
   answer, and how many right answers carry a button they did not need.
2. With `--rebuild`: how often `FaqMatcher.match_without` (a phrasing scored as if it were
   not in the FAQ, which `faq check` uses) decides as a matcher rebuilt without that phrasing
   does, and which pairs each would flag. The rebuild is one matcher per phrasing (O(N²)),
   so this takes a minute.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from faq_quality import CHAINS, SETS

from faq.evaluation import load_cases
from faq.loader import load_faq
from faq.matcher import FaqMatcher, MatchResult, Outcome
from faq.model import Faq
from faq.normalizer import Normalizer
from faq.semantic import EmbeddingCache, load_encoder
from faq.settings import MatcherSettings

MARGINS = (0.12, 0.15, 0.18, 0.20, 0.25)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--chain", choices=sorted(CHAINS), action="append")
    parser.add_argument("--rebuild", action="store_true", help="compare match_without")
    args = parser.parse_args()
    settings = MatcherSettings()
    normalizer = Normalizer()
    encoder = load_encoder(settings.encoder)
    # (kind, margin) -> [wrong answers to covered questions, of them offered, right, with button]
    counts: dict[tuple[str, float], list[int]] = {}
    same = total = rebuild_only = leave_out_only = 0
    for chain in args.chain or CHAINS:
        faq_dir, cases_dir = CHAINS[chain]
        faq = load_faq(faq_dir)
        cache = EmbeddingCache(encoder, settings.encoder)
        matcher = FaqMatcher(faq, settings, normalizer=normalizer, embeddings=cache)
        for name in SETS:
            kind = name.split("_")[1]
            for case in load_cases([cases_dir / f"{name}.yaml"]):
                result = matcher.match(case.q)
                if result.outcome is not Outcome.ANSWER:
                    continue
                for margin in MARGINS:
                    tally = counts.setdefault((kind, margin), [0, 0, 0, 0])
                    sibling = _sibling(result, margin, settings.suggest_threshold)
                    if result.matches[0].entry_id == case.expect:
                        tally[2] += 1
                        tally[3] += sibling is not None
                    elif case.expect is not None:
                        tally[0] += 1
                        tally[1] += sibling == case.expect
        if not args.rebuild:
            continue
        for entry in faq.entries.values():
            if len(entry.questions) < 2:
                continue
            for number, question in enumerate(entry.questions):
                rest = entry.questions[:number] + entry.questions[number + 1 :]
                reduced = dataclasses.replace(entry, questions=rest)
                others = faq.entries.values()
                without = Faq.of([reduced if e.id == entry.id else e for e in others])
                rebuilt = FaqMatcher(without, settings, normalizer=normalizer, embeddings=cache)
                slow = rebuilt.match(question)
                fast = matcher.match_without(entry.id, number, question)
                total += 1
                same += _decision(slow) == _decision(fast)
                slow_flags, fast_flags = _elsewhere(slow, entry.id), _elsewhere(fast, entry.id)
                rebuild_only += slow_flags and not fast_flags
                leave_out_only += fast_flags and not slow_flags
    print(
        "margin  set       wrong answers (covered)  right entry offered  right answers  "
        "with a button"
    )
    for (kind, margin), (wrong, offered, right, shown) in sorted(counts.items()):
        print(
            f"{margin:>6.2f}  {kind:<8} {wrong:>24} {offered:>20} {right:>14} "
            f"{shown:>6} ({shown / max(right, 1):.0%})"
        )
    if args.rebuild:
        print(
            f"\nmatch_without vs a rebuild: {same} of {total} phrasings decided alike; "
            f"flagged only by a rebuild {rebuild_only}, only by match_without {leave_out_only}"
        )


def _sibling(result: MatchResult, margin: float, floor: float) -> str | None:
    """The entry an answer would offer under it at `margin` (scores as rounded in matches)."""
    if len(result.matches) < 2:
        return None
    best, second = result.matches[0], result.matches[1]
    if best.score - second.score < margin and second.score >= floor:
        return second.entry_id
    return None


def _decision(result: MatchResult) -> tuple[Outcome, str | None]:
    return result.outcome, result.matches[0].entry_id if result.matches else None


def _elsewhere(result: MatchResult, entry_id: str) -> bool:
    return result.outcome is Outcome.ANSWER and result.matches[0].entry_id != entry_id


if __name__ == "__main__":
    main()
