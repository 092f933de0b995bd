"""Evaluate a matcher on labelled cases (`otklik faq eval`, `faq test`, the quality tests).

A case is `{q: text, expect: entry-id-or-null}`. It is *correct* when the outcome is answer
with the expected id, or not answer when expect is null; *wrong* when it answers with
another id, or answers at all when expect is null; *unanswered* otherwise — and of those,
*suggested* when the expected id is among the suggestions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml

from faq.matcher import MatchResult, Outcome

__all__ = ["Case", "CaseResult", "Report", "Verdict", "evaluate", "judge", "load_cases"]


class Verdict(StrEnum):
    CORRECT = "correct"
    WRONG = "wrong"
    UNANSWERED = "unanswered"


@dataclass(frozen=True)
class Case:
    """One labelled message; `where` is "file.yaml:LINE"."""

    q: str
    expect: str | None
    where: str = ""


@dataclass(frozen=True)
class CaseResult:
    case: Case
    result: MatchResult
    verdict: Verdict
    suggested: bool


@dataclass
class Report:
    """Totals and the failing cases of one evaluation run."""

    results: list[CaseResult] = field(default_factory=list)

    def count(self, verdict: Verdict) -> int:
        return sum(1 for r in self.results if r.verdict is verdict)

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def correct(self) -> int:
        return self.count(Verdict.CORRECT)

    @property
    def wrong(self) -> int:
        return self.count(Verdict.WRONG)

    @property
    def unanswered(self) -> int:
        return self.count(Verdict.UNANSWERED)

    @property
    def suggested(self) -> int:
        return sum(1 for r in self.results if r.suggested)

    @property
    def failures(self) -> list[CaseResult]:
        return [r for r in self.results if r.verdict is not Verdict.CORRECT]

    def share(self, verdict: Verdict) -> float:
        return self.count(verdict) / self.total if self.total else 0.0

    @property
    def share_correct(self) -> float:
        return self.share(Verdict.CORRECT)

    @property
    def share_wrong(self) -> float:
        return self.share(Verdict.WRONG)

    def to_json(self) -> dict[str, Any]:
        """The `faq eval --json` shape."""
        return {
            "total": self.total,
            "correct": self.correct,
            "wrong": self.wrong,
            "unanswered": self.unanswered,
            "suggested": self.suggested,
            "failures": [
                {
                    "q": r.case.q,
                    "expect": r.case.expect,
                    "outcome": r.result.outcome.value,
                    "verdict": r.verdict.value,
                    "matches": [{"id": m.entry_id, "score": m.score} for m in r.result.matches],
                }
                for r in self.failures
            ],
        }


def judge(case: Case, result: MatchResult) -> CaseResult:
    """Classify one result against its expectation."""
    answered = result.outcome is Outcome.ANSWER
    top = result.matches[0].entry_id if answered and result.matches else None
    if case.expect is None:
        verdict = Verdict.WRONG if answered else Verdict.CORRECT
    elif answered:
        verdict = Verdict.CORRECT if top == case.expect else Verdict.WRONG
    else:
        verdict = Verdict.UNANSWERED
    suggested = (
        verdict is Verdict.UNANSWERED
        and result.outcome is Outcome.SUGGEST
        and any(m.entry_id == case.expect for m in result.matches)
    )
    return CaseResult(case, result, verdict, suggested)


def evaluate(match: Callable[[str], MatchResult], cases: Iterable[Case]) -> Report:
    """Run every case through `match` and classify it."""
    return Report([judge(case, match(case.q)) for case in cases])


def load_cases(paths: Sequence[Path]) -> list[Case]:
    """Read case files: YAML lists of `{q: text, expect: id-or-null}`.

    Raises ValueError naming the file and line of a malformed case.
    """
    cases: list[Case] = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{path}:1: the file is not UTF-8 text; save it as UTF-8") from None
        except OSError as error:
            raise ValueError(f"{path}: cannot read it: {error.strerror}") from None
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as error:
            line = error.problem_mark.line + 1 if error.problem_mark else 1
            raise ValueError(f"{path}:{line}: YAML syntax: {error.problem}") from error
        if root is None:
            continue
        if not isinstance(root, yaml.SequenceNode):
            raise ValueError(f"{path}:1: cases must be a list of {{q: ..., expect: ...}}")
        for node in root.value:
            where = f"{path}:{node.start_mark.line + 1}"
            if not isinstance(node, yaml.MappingNode):
                raise ValueError(f"{where}: a case must be {{q: text, expect: id-or-null}}")
            values = {str(k.value): v for k, v in node.value}
            question, expect = values.get("q"), values.get("expect")
            if not isinstance(question, yaml.ScalarNode) or not str(question.value).strip():
                raise ValueError(f"{where}: the case has no 'q' text")
            expected = None
            if expect is not None and not isinstance(expect, yaml.ScalarNode):
                # A list or mapping would otherwise read as null: "expect nothing", and every
                # refusal would count as correct.
                raise ValueError(f"{where}: 'expect' must be one entry id or null")
            if isinstance(expect, yaml.ScalarNode) and not expect.tag.endswith(":null"):
                expected = str(expect.value)
            cases.append(Case(str(question.value), expected, where))
    return cases
