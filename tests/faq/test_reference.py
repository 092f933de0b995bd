"""A pronoun in a follow-up, replaced by what the question before it named."""

from __future__ import annotations

import pytest

from faq.normalizer import Normalizer
from faq.reference import with_referent


@pytest.mark.parametrize(
    ("earlier", "text", "asked"),
    [
        ("как получить карту лояльности", "а она бесплатная?", "а карту лояльности бесплатная?"),
        ("сколько стоит доставка", "а она быстрая?", "а доставка быстрая?"),
        ("хочу вернуть товар", "А его можно без упаковки?", "А товар можно без упаковки?"),
        ("какие сроки возврата денег", "а это долго?", "а сроки возврата денег долго?"),
        ("можно ли отменить заказ", "а как это сделать", "а как заказ сделать"),
    ],
)
def test_the_pronoun_becomes_the_earlier_questions_noun_phrase(
    normalizer: Normalizer, earlier: str, text: str, asked: str
) -> None:
    assert with_referent(text, earlier, normalizer) == asked


@pytest.mark.parametrize(
    ("earlier", "text"),
    [
        ("до скольки вы работаете", "а они в воскресенье?"),  # the question names nothing
        ("сколько стоит доставка", "а в Химки?"),  # no pronoun
        ("сколько стоит доставка", "а онлайн-оплата есть?"),  # «она» only inside a word
    ],
)
def test_nothing_to_put_in_its_place_leaves_the_message_alone(
    normalizer: Normalizer, earlier: str, text: str
) -> None:
    assert with_referent(text, earlier, normalizer) is None
