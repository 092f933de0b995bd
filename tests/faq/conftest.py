"""Shared, session-wide pieces: the sentence encoder loads once (~2 s), not per test."""

from __future__ import annotations

from pathlib import Path

import pytest

from faq.loader import load_faq
from faq.matcher import FaqMatcher
from faq.model import Faq
from faq.normalizer import Normalizer
from faq.semantic import EmbeddingCache, UniversalSentenceEncoder
from faq.settings import MatcherSettings

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "config" / "faq"
CASES = Path(__file__).parent / "cases"


@pytest.fixture(scope="session")
def normalizer() -> Normalizer:
    return Normalizer()


@pytest.fixture(scope="session")
def encoder() -> UniversalSentenceEncoder:
    return UniversalSentenceEncoder()


@pytest.fixture(scope="session")
def shipped_faq() -> Faq:
    return load_faq(SHIPPED)


@pytest.fixture(scope="session")
def matcher(
    shipped_faq: Faq, normalizer: Normalizer, encoder: UniversalSentenceEncoder
) -> FaqMatcher:
    cache = EmbeddingCache(encoder, encoder.name)
    return FaqMatcher(shipped_faq, normalizer=normalizer, embeddings=cache)


@pytest.fixture(scope="session")
def lexical_matcher(shipped_faq: Faq, normalizer: Normalizer) -> FaqMatcher:
    return FaqMatcher(shipped_faq, MatcherSettings(semantic=False), normalizer=normalizer)


def write(folder: Path, name: str, text: str) -> Path:
    """Write a FAQ file the way content staff would."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path
