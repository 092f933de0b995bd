"""Quality floors on our own evaluation sets, so a regression fails CI.

The *_dev sets were used to tune the method; the *_holdout sets never were. The floors
sit just under what docs/faq.md reports.
"""

from __future__ import annotations

import pytest

from faq.evaluation import evaluate, load_cases
from faq.matcher import FaqMatcher
from tests.faq.conftest import CASES

FLOORS = {
    # set: (min correct share, max wrong share)
    "ru_dev": (0.94, 0.02),
    "en_dev": (0.93, 0.02),
    "ru_holdout": (0.62, 0.03),
    "en_holdout": (0.46, 0.03),
}


@pytest.mark.parametrize("name", sorted(FLOORS))
def test_quality_floor(matcher: FaqMatcher, name: str) -> None:
    report = evaluate(matcher.match, load_cases([CASES / f"{name}.yaml"]))
    least_correct, most_wrong = FLOORS[name]

    failures = [(r.case.q, r.case.expect, r.result.outcome.value) for r in report.failures]
    assert report.share_correct >= least_correct, failures
    assert report.share_wrong <= most_wrong, failures
