"""Problems found in FAQ files, each pointing at a file and line with a fix."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Problem", "Severity"]


class Severity(StrEnum):
    """An error stops the FAQ from loading; a warning is shown by `faq check` only."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the FAQ: where, what, and how to fix it."""

    path: str
    line: int
    message: str
    hint: str = ""
    severity: Severity = Severity.ERROR

    @property
    def location(self) -> str:
        """ "file.yaml:LINE" (lines count from 1)."""
        return f"{self.path}:{self.line}"

    def __str__(self) -> str:
        text = f"{self.location}: {self.message}"
        return f"{text} — {self.hint}" if self.hint else text
