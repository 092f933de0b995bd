"""`faq check` and `faq test`: what content staff run before publishing an edit."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from faq.evaluation import Case, CaseResult, Report, evaluate
from faq.loader import read_faq
from faq.matcher import FaqMatcher, MatchResult, Outcome
from faq.model import Faq, FaqEntry
from faq.problems import Problem, Severity

__all__ = [
    "CheckReport",
    "check_faq",
    "close_entries",
    "describe",
    "requests_nobody_takes",
    "test_examples",
]


@dataclass(frozen=True)
class CheckReport:
    faq: Faq
    problems: tuple[Problem, ...]

    @property
    def errors(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.ERROR)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        return tuple(p for p in self.problems if p.severity is Severity.WARNING)


def check_faq(
    path: Path,
    build: Callable[[Faq], FaqMatcher] | None = None,
    *,
    languages: frozenset[str] | None = None,
) -> CheckReport:
    """Every problem in the folder; closeness warnings need a matcher, so only without errors.

    With ``languages`` (those the bot speaks), an answer or label in any other language is
    warned about: the bot never picks it, so shoppers never see it.
    """
    result = read_faq(path)
    problems = list(result.problems)
    problems.extend(requests_nobody_takes(result.faq))
    if languages is not None:
        problems.extend(unspoken_languages(result.faq, languages))
    if not result.errors and result.faq.entries and build is not None:
        problems.extend(close_entries(result.faq, build(result.faq)))
    return CheckReport(result.faq, tuple(problems))


def close_entries(faq: Faq, matcher: FaqMatcher) -> list[Problem]:
    """Warn about entry pairs the matcher cannot tell apart, naming both (once a pair).

    Each phrasing is run through the matcher twice, as if a shopper typed it. First as it
    is: when it does not confidently land on its own entry, the entries are too close in
    their words. Then as if it were not in the FAQ, since shoppers never type the FAQ's
    exact words: when it would then be answered with another entry, that entry wins as
    soon as a shopper words the question a little differently, and the bot answers the
    wrong question confidently. Measured on six test FAQs, about one phrasing in ten
    trips the second check, mostly true siblings (delivery time and delivery cost, a lost
    loyalty card and a new one).
    """
    warned: set[frozenset[str]] = set()
    problems: list[Problem] = []
    for entry in faq.entries.values():
        for number, question in enumerate(entry.questions):
            result = matcher.match_listed(question)
            if result.outcome is Outcome.SMALLTALK:
                path, line = _split(entry.source)
                problems.append(
                    Problem(
                        path,
                        line,
                        f"entry '{entry.id}': «{question}» reads as small talk",
                        "rephrase it as a question",
                        Severity.WARNING,
                    )
                )
                continue
            confusion = _confusion(matcher, entry, number, question, result)
            if confusion is None:
                continue
            rival, why, fix = confusion
            if frozenset((entry.id, rival)) in warned:
                continue
            warned.add(frozenset((entry.id, rival)))
            path, line = _split(entry.source)
            problems.append(
                Problem(
                    path,
                    line,
                    f"entries '{entry.id}' and '{rival}' ({faq.entries[rival].source}) are "
                    f"too close: {why}",
                    fix,
                    Severity.WARNING,
                )
            )
    return problems


def _confusion(
    matcher: FaqMatcher, entry: FaqEntry, number: int, question: str, result: MatchResult
) -> tuple[str, str, str] | None:
    """The entry a phrasing is confused with, why and how to fix it; None when it is not."""
    if result.outcome is not Outcome.ANSWER or result.matches[0].entry_id != entry.id:
        rival = next((m.entry_id for m in result.matches if m.entry_id != entry.id), None)
        if rival is None:
            return None
        why = f"«{question}» does not clearly match '{entry.id}'"
        return rival, why, "make the questions more specific or merge the entries"
    if len(entry.questions) < 2:
        return None  # nothing would be left to find the entry by its questions
    unlisted = matcher.match_without(entry.id, number, question)
    if unlisted.outcome is not Outcome.ANSWER or unlisted.matches[0].entry_id == entry.id:
        return None
    rival = unlisted.matches[0].entry_id
    why = f"worded a little differently, «{question}» would be answered with '{rival}'"
    fix = (
        f"add questions to '{entry.id}' in shoppers' own words, "
        "or make the two entries' questions more distinct"
    )
    return rival, why, fix


def test_examples(faq: Faq, matcher: FaqMatcher) -> Report:
    """Run every entry's `examples` through the matcher (`faq test`)."""
    cases = [
        Case(example, entry.id, entry.source)
        for entry in faq.entries.values()
        for example in entry.examples
    ]
    return evaluate(matcher.match, cases)


def describe(result: CaseResult) -> str:
    """One line for a failing example: where it landed instead."""
    outcome = result.result.outcome
    top = ", ".join(f"{m.entry_id} {m.score:.2f}" for m in result.result.matches) or "nothing"
    if outcome is Outcome.ANSWER:
        return f"answered '{result.result.matches[0].entry_id}' instead ({top})"
    if outcome is Outcome.SMALLTALK:
        return f"taken as small talk ({result.result.smalltalk})"
    return f"{outcome.value}: {top}"


def unspoken_languages(faq: Faq, languages: frozenset[str]) -> list[Problem]:
    """Answers and button labels in languages the bot does not speak (never shown)."""
    spoken = ", ".join(sorted(languages))
    problems: list[Problem] = []
    for entry in faq.entries.values():
        path, line = _split(entry.source)
        found = set(entry.answers) | {lang for button in entry.buttons for lang in button.texts}
        for language in sorted(found - languages):
            problems.append(
                Problem(
                    path,
                    line,
                    f"entry '{entry.id}': its '{language}' text is never shown: "
                    f"the bot speaks {spoken}",
                    "remove it, or give the bot a message catalog in that language "
                    "(like config/messages/en.yaml)",
                    Severity.WARNING,
                )
            )
    return problems


_ASKS_FOR_A_REPLY = re.compile(
    r"\b(напишите|пришлите|опишите|отправьте|сообщите)\b|"
    r"\b(message us|send us|tell us|describe|write to us)\b",
    re.IGNORECASE,
)
"""An answer that asks the shopper to write or send something here («пришлите фото чека»)."""
_THE_PERSON_WORD = re.compile(
    r"""[^.!?]{0,30}?[«"“']\s*(оператор|operator|человек|person)""", re.I
)
"""«Напишите «оператор»»: the bot does take that reply (it calls a person)."""


def requests_nobody_takes(faq: Faq) -> list[Problem]:
    """Answers that ask the shopper for something no step of the bot then takes.

    After an answer the bot takes the next message for a new question, so «опишите, что
    случилось» with nothing else leaves the description unanswered. The entry needs
    ``handoff: true`` (a person reads it) or a button with ``action: feedback`` (it is kept
    as feedback).
    """
    problems: list[Problem] = []
    for entry in faq.entries.values():
        if entry.handoff or any(button.action for button in entry.buttons):
            continue
        for language, answer in sorted(entry.answers.items()):
            asked = next(
                (
                    found
                    for found in _ASKS_FOR_A_REPLY.finditer(answer)
                    if not _THE_PERSON_WORD.match(answer, found.end())
                ),
                None,
            )
            if asked is None:
                continue
            path, line = _split(entry.source)
            problems.append(
                Problem(
                    path,
                    line,
                    f"entry '{entry.id}': its {language} answer asks the shopper to write "
                    f"(«{asked.group(0)}»), but the bot takes the reply for a new question",
                    "add 'handoff: true' (a person reads it) or a button with "
                    "'action: feedback' (it is kept as feedback)",
                    Severity.WARNING,
                )
            )
            break
    return problems


def _split(source: str) -> tuple[str, int]:
    path, _, line = source.rpartition(":")
    return path, int(line) if line.isdigit() else 0
