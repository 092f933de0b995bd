"""Which language a shopper wrote in: what the engine answers in when the words tell."""

from __future__ import annotations

import pytest

from faq.language import written_language
from faq.normalizer import Normalizer


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("скока стоит доставка", "ru"),
        ("спс", "ru"),
        ("ghbdtn", "ru"),  # «привет» on the wrong layout
        ("skolko stoit dostavka", "ru"),  # transliterated
        ("у вас есть iphone 15 pro max?", "ru"),  # a product name does not make it English
        ("пишу на mail@example.com", "ru"),
        ("where is my order", "en"),
        ("wher is my ordr??", "en"),  # half its words are English: enough
        ("r u open on sunday", "en"),
        ("hello", "en"),
        ("do you have айфон", "en"),
    ],
)
def test_the_words_tell_the_language(normalizer: Normalizer, text: str, language: str) -> None:
    assert written_language(text, normalizer) == language


@pytest.mark.parametrize(
    "text",
    ["ok", "Ok!", "12345", "+7 999 123-45-67", "👍", "🙂🙂", "https://example.com/somewhere-else"],
)
def test_numbers_emoji_links_and_ok_do_not_tell(normalizer: Normalizer, text: str) -> None:
    assert written_language(text, normalizer) is None
