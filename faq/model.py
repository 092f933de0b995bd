"""The FAQ knowledge base as frozen, typed values.

Everything here is plain data: the loader builds it from YAML, the matcher reads it,
the engine renders it. Nothing in this module touches the disk or the network.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["ACTIONS", "DEFAULT_LANGUAGE", "Faq", "FaqButton", "FaqEntry"]

DEFAULT_LANGUAGE = "ru"
ACTIONS = ("feedback", "handoff")
"""What an `action` button starts: the bot's own feedback step, or a request for a person."""


@dataclass(frozen=True)
class FaqButton:
    """A button under an answer: a link (`url`), a follow-up FAQ entry (`faq` is its id), or
    one of the bot's own `ACTIONS` (`action`: «Нажмите и опишите, что случилось» leads into
    the feedback step, so an answer that asks for details can take them).

    `text` is the label in the default language (or the only one given); `texts` holds the
    label per language when the file gives a mapping, as answers may.
    """

    text: str
    url: str | None = None
    faq: str | None = None
    action: str | None = None
    texts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def text_for(self, language: str) -> str:
        """The label in `language`, else the default one."""
        return self.texts.get(language, self.text)


@dataclass(frozen=True)
class FaqEntry:
    """One FAQ entry: the phrasings shoppers use and the answer per language.

    A plain string answer in the file is stored under `DEFAULT_LANGUAGE` ("ru").
    `source` is "file.yaml:LINE" so every message about the entry can point at it.
    """

    id: str
    questions: tuple[str, ...]
    answers: Mapping[str, str]
    tags: tuple[str, ...] = ()
    buttons: tuple[FaqButton, ...] = ()
    handoff: bool = False
    examples: tuple[str, ...] = ()
    source: str = ""

    @property
    def answer_rows(self) -> int:
        """Button rows under the answer: its buttons, the operator button, then 👍/👎."""
        return len(self.buttons) + (1 if self.handoff else 0) + 1

    def answer_for(self, language: str) -> str:
        """The answer in `language`, else in Russian, else in the first language given."""
        if language in self.answers:
            return self.answers[language]
        if DEFAULT_LANGUAGE in self.answers:
            return self.answers[DEFAULT_LANGUAGE]
        return next(iter(self.answers.values()), "")


@dataclass(frozen=True)
class Faq:
    """A whole knowledge base: entries by id, in file order."""

    entries: Mapping[str, FaqEntry] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def of(cls, entries: list[FaqEntry] | tuple[FaqEntry, ...]) -> Faq:
        """Build from entries in order; later duplicates are the loader's problem to reject."""
        return cls(MappingProxyType({entry.id: entry for entry in entries}))

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, entry_id: str) -> FaqEntry | None:
        """The entry with this id, or None."""
        return self.entries.get(entry_id)

    @property
    def phrasing_count(self) -> int:
        """How many question phrasings the whole FAQ has."""
        return sum(len(entry.questions) for entry in self.entries.values())
