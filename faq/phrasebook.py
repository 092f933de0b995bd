"""The phrasebook: how shoppers ask about topics every retail chain has, shipped with otklik.

A chain's FAQ gives each entry a handful of phrasings; shoppers ask the same thing in dozens
of ways («режим работы», «вы щас открыты?», "r u open on sunday"). The phrasebook
(`config/phrasebook/*.yaml`) holds such wordings for about thirty common topics (opening
hours, store addresses, jobs, loyalty points, returns, delivery cost …), written for no chain
in particular. The matcher *lends* a topic's wordings to the one entry of the chain's FAQ
that clearly answers that topic, and scores them like the entry's own phrasings.

Which entry that is, is decided by the FAQ itself, with no labels: every wording of the topic
is run through the matcher as it stands, and the topic is lent only when most of its wordings
already rank the same entry first (`phrasebook_share`), clearly more than any other entry,
and enough of them are already answered with it (`phrasebook_answered`). A wording that the
FAQ sends to another entry is not lent: when a chain has a separate entry for holiday hours,
«вы 1 января работаете?» stays with it even though the topic «store hours» went to the
opening-hours entry. A chain that lacks a topic (a pizzeria asked about parking) lends
nothing, because the votes scatter.

The file format, for a chain that adds its own folder (`faq.phrasebook`):

    - topic: store-hours
      phrasings:
        - до скольки вы работаете
        - opening hours

Files are merged by topic; a topic may have phrasings in several files (one per language).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from numpy.typing import NDArray

from faq.loader import FaqError, faq_files
from faq.problems import Problem

__all__ = [
    "Loan",
    "PhrasebookError",
    "Topic",
    "choose_loans",
    "load_phrasebook",
    "phrasebook_files",
]

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Topic:
    """One common topic and the wordings shoppers use for it (any language)."""

    id: str
    phrasings: tuple[str, ...]


@dataclass(frozen=True)
class Loan:
    """A topic lent to an entry: how many of its wordings the entry took, and the evidence.

    `share` is the part of the topic's wordings that ranked the entry first before the loan,
    `answered` the part answered with it; `otklik faq check` shows them.
    """

    topic: str
    entry: str
    phrasings: int
    share: float
    answered: float


class PhrasebookError(FaqError):
    """A phrasebook file that cannot be used; str() is "file.yaml:LINE: what — how to fix".

    A kind of FaqError, so start-up, hot reload and the `faq` commands treat a broken
    phrasebook as they treat a broken FAQ file.
    """


def load_phrasebook(folder: Path) -> tuple[Topic, ...]:
    """Every `*.yaml` file in `folder`, merged by topic in file and topic order.

    Raises PhrasebookError on the first problem, so a broken file stops start-up (or, edited
    while the bot runs, keeps the last good FAQ serving) with its file and line. Read again
    only when a file changed: the matcher asks on every FAQ reload.
    """
    if not folder.is_dir():
        raise PhrasebookError(
            Problem(str(folder), 0, "no such folder", "create it or set faq.matcher.phrasebook")
        )
    stamps: list[tuple[str, int, int]] = []
    for path in phrasebook_files(folder):
        try:
            status = path.stat()
        except OSError as error:  # a link to a file that is gone, no permission
            raise PhrasebookError(
                Problem(str(path), 0, f"cannot read: {error.strerror}", "fix or remove the file")
            ) from error
        stamps.append((str(path), status.st_mtime_ns, status.st_size))
    return _load(tuple(stamps))


def phrasebook_files(folder: Path) -> tuple[Path, ...]:
    """The files `load_phrasebook` reads, in order, chosen as FAQ files are (an editor's
    hidden lock file or backup is not one); the FAQ watcher polls them too, so an edit to
    the phrasebook reloads the FAQ like an edit to the FAQ itself."""
    return tuple(faq_files(folder)) if folder.is_dir() else ()


@functools.lru_cache(maxsize=4)
def _load(stamps: tuple[tuple[str, int, int], ...]) -> tuple[Topic, ...]:
    merged: dict[str, list[str]] = {}
    for name, _, _ in stamps:
        for topic, phrasings in _read(Path(name)):
            merged.setdefault(topic, []).extend(phrasings)
    return tuple(Topic(topic, tuple(dict.fromkeys(texts))) for topic, texts in merged.items())


def _read(path: Path) -> list[tuple[str, list[str]]]:
    name = str(path)

    def fail(line: int, message: str, hint: str) -> PhrasebookError:
        return PhrasebookError(Problem(name, line, message, hint))

    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark
        line = mark.line + 1 if mark is not None else 0
        raise fail(line, f"not valid YAML: {error.problem}", "fix the syntax") from error
    except (OSError, UnicodeDecodeError) as error:
        raise fail(0, f"cannot read: {error}", "save the file as UTF-8") from error
    if root is None:
        return []
    if not isinstance(root, yaml.SequenceNode):
        raise fail(root.start_mark.line + 1, "expected a list of topics", "start items with -")
    topics: list[tuple[str, list[str]]] = []
    for item in root.value:
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            raise fail(line, "a topic must be a mapping", "give it topic: and phrasings:")
        fields = {key.value: value for key, value in item.value}
        topic = fields.get("topic")
        if not isinstance(topic, yaml.ScalarNode) or not str(topic.value).strip():
            raise fail(line, "a topic without its id", "add topic: some-slug")
        phrasings = fields.get("phrasings")
        if not isinstance(phrasings, yaml.SequenceNode) or not phrasings.value:
            raise fail(line, f"topic '{topic.value}' has no phrasings", "list them under it")
        texts: list[str] = []
        for phrasing in phrasings.value:
            if not isinstance(phrasing, yaml.ScalarNode) or not str(phrasing.value).strip():
                raise fail(
                    phrasing.start_mark.line + 1, "an empty or nested phrasing", "write text"
                )
            texts.append(str(phrasing.value).strip())
        topics.append((str(topic.value).strip(), texts))
    return topics


def choose_loans(
    topic_of: Sequence[int],
    scores: Sequence[NDArray[np.float64]],
    answered: Callable[[int], bool],
    *,
    share: float,
    answered_share: float,
    guard: float,
) -> list[tuple[int, int, tuple[int, ...], float, float]]:
    """Decide, from each wording's scores before any loan, which topic goes to which entry.

    `topic_of[i]` is the topic of wording i, `scores[i]` its per-entry scores, and
    `answered(i)` whether the matcher answers wording i with its best entry. A topic goes to
    the entry that most of its wordings rank first when that entry's share is at least
    `share` and leads every other entry's by half of it, and when `answered_share` of the
    wordings are answered with it. Lent are those of its wordings that no other entry beats
    by `guard` or more. Returns (topic number, entry, wordings lent, share, answered share).
    """
    members: dict[int, list[int]] = {}
    for index, topic in enumerate(topic_of):
        members.setdefault(topic, []).append(index)
    loans: list[tuple[int, int, tuple[int, ...], float, float]] = []
    for topic, indices in members.items():
        firsts = np.array([int(np.argmax(scores[i])) for i in indices], dtype=np.intp)
        counts = np.bincount(firsts)
        ranked = np.sort(counts)[::-1]
        winner = int(np.argmax(counts))
        top_share = float(ranked[0]) / len(indices)
        runner = float(ranked[1]) / len(indices) if len(ranked) > 1 else 0.0
        taken = [i for i, first in zip(indices, firsts, strict=True) if first == winner]
        answered_part = sum(1 for i in taken if answered(i)) / len(indices)
        if top_share < share or top_share - runner < share / 2 or answered_part < answered_share:
            continue
        lent = tuple(
            i for i in indices if float(np.max(scores[i]) - scores[i][winner]) < max(guard, 1e-9)
        )
        loans.append((topic, winner, lent, top_share, answered_part))
    return loans
