"""Message catalogs: every text a shopper sees, per language, edited as YAML.

Keys are dotted (``menu.greeting``); values may hold ``{name}`` placeholders. A language that
lacks a key falls back to the default language, so a half-translated catalog still answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Catalog", "CatalogError"]


class CatalogError(Exception):
    """A catalog file is broken or a key is missing in every language."""


class Catalog:
    """Texts by language and key."""

    def __init__(self, texts: Mapping[str, Mapping[str, str]], default_language: str) -> None:
        if default_language not in texts:
            msg = f"no catalog for the default language {default_language!r}"
            raise CatalogError(msg)
        self._texts = texts
        self.default_language = default_language

    @classmethod
    def load(cls, directory: Path, default_language: str = "ru") -> Catalog:
        """Read ``<language>.yaml`` files from ``directory``."""
        texts: dict[str, dict[str, str]] = {}
        for path in sorted(directory.glob("*.yaml")):
            try:
                loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                msg = f"{path}: not valid YAML: {exc}"
                raise CatalogError(msg) from None
            if not isinstance(loaded, dict):
                msg = f"{path}: a catalog is a mapping of keys to texts"
                raise CatalogError(msg)
            texts[path.stem] = dict(_flatten(loaded))
        return cls(texts, default_language)

    @property
    def languages(self) -> frozenset[str]:
        """Languages with a catalog."""
        return frozenset(self._texts)

    def keys(self, language: str) -> frozenset[str]:
        """Keys the catalog of ``language`` defines."""
        return frozenset(self._texts.get(language, {}))

    def pick_language(self, language_code: str | None) -> str:
        """The catalog language for a platform's language code (``en-US`` → ``en``)."""
        if language_code:
            base = language_code.replace("_", "-").split("-")[0].lower()
            if base in self._texts:
                return base
        return self.default_language

    def text(self, language: str, key: str, **params: object) -> str:
        """The text for ``key`` in ``language`` (or the default language), filled with params."""
        template = self._texts.get(language, {}).get(key)
        if template is None:
            template = self._texts[self.default_language].get(key)
        if template is None:
            msg = f"no text for {key!r} in any catalog"
            raise CatalogError(msg)
        return template.format(**params) if params else template


def _flatten(node: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    items: list[tuple[str, str]] = []
    for key, value in node.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            items.extend(_flatten(value, dotted + "."))
        else:
            items.append((dotted, str(value).rstrip("\n")))
    return items
