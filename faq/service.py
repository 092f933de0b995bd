"""What the app holds: the current FAQ and its matcher, reloaded when the files change."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from pathlib import Path

from faq.loader import FaqError, load_faq
from faq.matcher import FaqMatcher, MatchResult
from faq.model import Faq, FaqEntry
from faq.settings import MatcherSettings

__all__ = ["FaqService"]

logger = logging.getLogger(__name__)


class FaqService:
    """Serve one FAQ folder; `watch()` polls it and swaps in a new version when it changes.

    A broken edit never takes the bot down: the last good FAQ keeps serving and the error
    is logged with file and line.
    """

    def __init__(self, path: Path, settings: MatcherSettings | None = None) -> None:
        self.path = path
        self.settings = settings or MatcherSettings()
        self._faq: Faq | None = None
        self._matcher: FaqMatcher | None = None
        self._fingerprint = ""

    def load(self) -> None:
        """Load the FAQ for the first time; raise FaqError if it is broken."""
        fingerprint = self._scan()
        faq = load_faq(self.path)
        self._matcher = FaqMatcher(faq, self.settings)
        self._faq = faq
        self._fingerprint = fingerprint

    @property
    def faq(self) -> Faq:
        """The FAQ currently served."""
        if self._faq is None:
            raise RuntimeError("FaqService.load() has not been called")
        return self._faq

    def match(self, text: str, language: str | None = None) -> MatchResult:
        """Match with the current matcher."""
        if self._matcher is None:
            raise RuntimeError("FaqService.load() has not been called")
        return self._matcher.match(text, language)

    def entry(self, entry_id: str) -> FaqEntry | None:
        """The current entry with this id, or None."""
        return self.faq.get(entry_id)

    def reload_if_changed(self) -> bool:
        """Reload when the files changed; True if a new version is now served."""
        fingerprint = self._scan()
        if fingerprint == self._fingerprint:
            return False
        try:
            faq = load_faq(self.path)
            matcher = FaqMatcher(faq, self.settings)
        except FaqError as error:
            logger.error("FAQ not reloaded, still serving the last good version: %s", error)
            self._fingerprint = fingerprint
            return False
        self._faq, self._matcher, self._fingerprint = faq, matcher, fingerprint
        logger.info("FAQ reloaded: %d entries", len(faq))
        return True

    async def watch(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        """Poll the folder every `interval` seconds until `stop` is set."""
        while not stop.is_set():
            await asyncio.to_thread(self.reload_if_changed)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    def _scan(self) -> str:
        digest = hashlib.sha256()
        files = sorted(self.path.glob("*.yaml")) if self.path.is_dir() else [self.path]
        for file in files:
            with contextlib.suppress(OSError):
                digest.update(str(file).encode())
                digest.update(file.read_bytes())
        return digest.hexdigest()
