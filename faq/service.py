"""What the app holds: the current FAQ and its matcher, reloaded when the files change.

Every worker process runs its own `watch()`; polling (not inotify) works the same on every
OS, in containers and on network mounts. A poll is a `stat()` per file (the FAQ's and, unless
it is switched off, the phrasebook's); contents are only hashed when a size or mtime moved,
and the FAQ is only rebuilt when the hash changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

from faq.loader import FaqError, faq_files, load_faq
from faq.matcher import FaqMatcher, MatchResult
from faq.model import Faq, FaqEntry
from faq.normalizer import Normalizer
from faq.phrasebook import phrasebook_files
from faq.reference import with_referent
from faq.semantic import EmbeddingCache, load_encoder
from faq.settings import MatcherSettings

__all__ = ["FaqService"]

logger = logging.getLogger(__name__)


class FaqService:
    """Serve one FAQ folder; `watch()` swaps in a new version when the files change.

    A broken edit never takes the bot down: the last good FAQ keeps serving and the error
    is logged once with file and line. Construction is cheap; `load()` does the work.
    `on_reload` is called (in the watcher's thread) after each successful reload.
    """

    def __init__(
        self,
        path: Path,
        settings: MatcherSettings | None = None,
        *,
        normalizer: Normalizer | None = None,
        embeddings: EmbeddingCache | None = None,
        on_reload: Callable[[Faq], None] | None = None,
    ) -> None:
        self.path = path
        self._on_reload = on_reload
        self.settings = settings or MatcherSettings()
        self._normalizer = normalizer
        self._embeddings = embeddings
        self._current: tuple[Faq, FaqMatcher] | None = None
        self._stamp: tuple[tuple[str, int, int], ...] = ()
        self._digest = ""
        self.version = 0  # bumps on every successful (re)load

    def load(self) -> None:
        """Load the FAQ for the first time; raise FaqError if it is broken."""
        stamp, digest = self._stamp_now(), self._digest_now()
        self._install(load_faq(self.path))
        self._stamp, self._digest = stamp, digest

    @property
    def faq(self) -> Faq:
        """The FAQ currently served."""
        return self._served()[0]

    @property
    def matcher(self) -> FaqMatcher:
        """The matcher currently served."""
        return self._served()[1]

    def match(self, text: str, language: str | None = None) -> MatchResult:
        """Match with the current matcher."""
        return self.matcher.match(text, language)

    def written_language(self, text: str) -> str | None:
        """The language ``text`` is written in, or None when it does not tell (the engine
        answers in it; see :mod:`faq.language`)."""
        return self.matcher.written_language(text)

    def with_referent(self, text: str, earlier: str) -> str | None:
        """``text`` with its pronoun replaced by what ``earlier`` named, or None (see
        :mod:`faq.reference`)."""
        return with_referent(text, earlier, self.matcher.normalizer)

    def entry(self, entry_id: str) -> FaqEntry | None:
        """The current entry with this id, or None (e.g. removed by a reload)."""
        return self.faq.get(entry_id)

    def reload_if_changed(self) -> bool:
        """Reload when the files changed; True if a new version is now served.

        A version that fails to load is remembered, so its error is logged once; one that
        could not even be listed (the folder vanished mid-read) is tried again next time.
        """
        stamp = self._stamp_now()
        if stamp == self._stamp:
            return False
        digest = self._digest_now()
        if digest == self._digest:
            self._stamp = stamp
            return False  # touched, not changed
        try:
            self._install(load_faq(self.path))  # the phrasebook is read here too
        except FaqError as error:
            self._stamp, self._digest = stamp, digest
            logger.error("FAQ not reloaded, still serving the last good version: %s", error)
            return False
        self._stamp, self._digest = stamp, digest
        logger.info("FAQ reloaded from %s: %d entries", self.path, len(self.faq))
        if self._on_reload is not None:
            self._on_reload(self.faq)
        return True

    async def watch(self, stop: asyncio.Event, interval: float = 1.0) -> None:
        """Poll every `interval` seconds until `stop` is set; rebuilds run in a thread."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.reload_if_changed)
            except OSError as error:  # a file vanished mid-read: try again next tick
                logger.warning("FAQ reload check failed: %s", error)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    def _install(self, faq: Faq) -> None:
        if self._normalizer is None:
            self._normalizer = Normalizer()
        if self.settings.semantic and self._embeddings is None:
            self._embeddings = EmbeddingCache(
                load_encoder(self.settings.encoder), self.settings.encoder, self.settings.cache_dir
            )
        matcher = FaqMatcher(
            faq, self.settings, normalizer=self._normalizer, embeddings=self._embeddings
        )
        self._current = (faq, matcher)  # one assignment: readers see the old pair or the new
        self.version += 1

    def _served(self) -> tuple[Faq, FaqMatcher]:
        if self._current is None:
            raise RuntimeError("FaqService.load() has not been called")
        return self._current

    def _watched(self) -> list[Path]:
        """The FAQ's files, then the phrasebook's: content staff may edit either."""
        files = list(faq_files(self.path)) if self.path.exists() else []
        if self.settings.phrasebook is not None:
            files.extend(phrasebook_files(self.settings.phrasebook))
        return files

    def _stamp_now(self) -> tuple[tuple[str, int, int], ...]:
        stamps: list[tuple[str, int, int]] = []
        for file in self._watched():
            try:
                status = file.stat()
            except OSError:  # unreadable (a dangling link): its coming and going still counts
                stamps.append((str(file), -1, -1))
            else:
                stamps.append((str(file), status.st_mtime_ns, status.st_size))
        return tuple(stamps)

    def _digest_now(self) -> str:
        digest = hashlib.sha256()
        for file in self._watched():
            digest.update(str(file).encode())
            with contextlib.suppress(OSError):
                digest.update(file.read_bytes())
        return digest.hexdigest()
