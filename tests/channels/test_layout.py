"""One reply, every platform: fitted within each platform's documented limits, nothing lost."""

from __future__ import annotations

import pytest

from bots import layout
from bots.layout import CONTINUED, TELEGRAM, VIBER, VK, Limits, fit, fit_rows, split_text
from bots.messages import Button, Reply
from config import CONFIG_DIR
from config.catalog import Catalog
from dialogs.flows.question import answer_text
from faq.loader import ANSWER_LIMITS, ANSWER_ROOM, KEYBOARD_ROWS

PLATFORMS = [TELEGRAM, VK, VIBER]


def buttons(count: int, prefix: str = "Пункт") -> tuple[Button, ...]:
    return tuple(Button(f"{prefix} {n}", payload=f"item:{n}") for n in range(1, count + 1))


def within(message: Reply, limits: Limits) -> None:
    """Assert that one message is something the platform accepts."""
    assert message.text
    limit = limits.caption if message.image_url and limits.caption else limits.text
    assert len(message.text) <= limit
    assert len(message.buttons) <= limits.rows
    assert sum(len(row) for row in message.buttons) <= limits.buttons
    for row in message.buttons:
        assert 0 < len(row) <= limits.row_width
        if limits.grid:
            assert limits.grid % len(row) == 0
        for button in row:
            assert limits.label is None or len(button.text) <= limits.label
            if button.payload is not None and limits.payload is not None:
                assert limits.measure(limits.encode(button.payload)) <= limits.payload


@pytest.mark.parametrize("limits", PLATFORMS, ids=lambda limits: limits.platform)
def test_a_reply_within_the_limits_is_sent_as_it_is(limits: Limits) -> None:
    reply = Reply("Чем могу помочь?", buttons=((Button("❓ Задать вопрос", payload="menu:ask"),),))

    assert fit(reply, limits) == [reply]


@pytest.mark.parametrize("limits", PLATFORMS, ids=lambda limits: limits.platform)
@pytest.mark.parametrize(("text_size", "count"), [(50, 3), (9_000, 15), (20_000, 160)])
def test_any_reply_becomes_messages_the_platform_accepts(
    limits: Limits, text_size: int, count: int
) -> None:
    text = ("Слово " * (text_size // 6))[:text_size]
    long_label = "Очень длинная подпись кнопки, которую платформа обрезала бы сама " * 5
    rows = (
        buttons(count),
        (Button(long_label, payload="long"),),
        (Button("Сайт", url="https://x"),),
    )

    messages = fit(Reply(text, buttons=rows), limits)

    for message in messages:
        within(message, limits)
    words = [word for m in messages if m.text != CONTINUED for word in m.text.split()]
    assert words[: len(text.split())] == text.split(), "the text, whole and in order"
    shown = [b.payload or b.url for m in messages for row in m.buttons for b in row]
    if limits.paginate:
        assert shown == [b.payload or b.url for row in rows for b in row], "all, in order"


def test_split_text_cuts_at_a_line_then_a_word_and_loses_nothing() -> None:
    text = "Первая строка, подлиннее.\n" + "слово " * 30

    pieces = split_text(text, 40)

    assert pieces[0] == "Первая строка, подлиннее."
    assert all(len(piece) <= 40 for piece in pieces)
    assert " ".join(pieces).split() == text.split()


def test_split_text_cuts_a_word_longer_than_the_limit() -> None:
    assert split_text("а" * 25, 10) == ["а" * 10, "а" * 10, "а" * 5]


def test_labels_are_shortened_with_an_ellipsis() -> None:
    label = "Оформить возврат товара, купленного в интернет-магазине"

    assert layout.shorten(label, 40) == "Оформить возврат товара, купленного в и…"
    assert len(layout.shorten(label, 40)) == 40
    assert layout.shorten("Коротко", 40) == "Коротко"
    assert layout.shorten(label, None) == label


@pytest.mark.parametrize(
    ("limits", "size", "widths"),
    [
        (TELEGRAM, 10, [8, 2]),
        (VK, 7, [5, 2]),
        (VIBER, 4, [3, 1]),
        (VIBER, 5, [3, 2]),
        (VIBER, 6, [6]),
        (VIBER, 7, [6, 1]),
    ],
)
def test_wide_rows_are_wrapped_to_what_a_row_holds(
    limits: Limits, size: int, widths: list[int]
) -> None:
    rows = fit_rows([buttons(size)], limits)

    assert [len(row) for row in rows] == widths
    assert [b for row in rows for b in row] == list(buttons(size))


def test_a_vk_inline_keyboard_holds_ten_buttons_in_six_rows() -> None:
    five_wide = [buttons(5)] * 3
    single = [(b,) for b in buttons(8)]

    assert [[len(r) for r in page] for page in layout.keyboards(five_wide, VK)] == [[5, 5], [5]]
    assert [len(page) for page in layout.keyboards(single, VK)] == [6, 2]


def test_extra_keyboards_follow_in_messages_of_their_own() -> None:
    messages = fit(Reply("Выберите магазин", buttons=tuple((b,) for b in buttons(14))), VK)

    assert [m.text for m in messages] == ["Выберите магазин", CONTINUED, CONTINUED]
    assert [sum(len(r) for r in m.buttons) for m in messages] == [6, 6, 2]


def test_on_viber_buttons_beyond_the_keyboard_are_listed_under_the_text() -> None:
    rows = (buttons(6),) * 25  # one row more than Viber's 24
    rows += ((Button("Сайт", url="https://shop.example"),),)

    (message,) = fit(Reply("Выберите", buttons=rows), VIBER)

    assert len(message.buttons) == 24
    assert message.text.splitlines()[2:] == [f"• Пункт {n}" for n in range(1, 7)] + [
        "• Сайт — https://shop.example"
    ]


def test_a_payload_the_platform_cannot_carry_is_left_out_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    row = (Button("Длинная", payload="ы" * 33), Button("Обычная", payload="menu"))

    (kept,) = fit_rows([row], TELEGRAM)

    assert kept == (Button("Обычная", payload="menu"),)
    assert "too long for the platform" in caplog.text


@pytest.mark.parametrize("limits", PLATFORMS, ids=lambda limits: limits.platform)
def test_the_longest_faq_payload_fits_everywhere(limits: Limits) -> None:
    button = Button("Вопрос", payload="faq:" + "a" * 48)  # FAQ ids are at most 48 characters

    assert fit_rows([(button,)], limits) == [(button,)]


def test_a_picture_takes_what_its_caption_holds_and_the_rest_follows() -> None:
    text = "Акция недели. " * 100
    reply = Reply(text, buttons=((Button("OK", payload="ok"),),), image_url="https://x/p.jpg")

    picture, *rest = fit(reply, TELEGRAM)

    assert picture.image_url == "https://x/p.jpg"
    assert len(picture.text) <= 1024
    assert not picture.buttons
    assert rest[-1].buttons
    assert " ".join([picture.text, *(m.text for m in rest)]).split() == text.split()


def test_without_pictures_by_url_the_picture_becomes_a_link() -> None:
    (message,) = fit(Reply("Схема проезда", image_url="https://x/map.png"), VK)

    assert (message.text, message.image_url) == ("Схема проезда\n\nhttps://x/map.png", None)


def test_the_faq_check_counts_button_rows_by_the_channel_that_shows_fewest() -> None:
    assert min(limits.rows for limits in PLATFORMS) == KEYBOARD_ROWS


@pytest.mark.parametrize("limits", PLATFORMS, ids=lambda limits: limits.platform)
def test_the_longest_answer_faq_check_allows_is_one_message_with_all_it_carries(
    limits: Limits,
) -> None:
    catalog = Catalog.load(CONFIG_DIR / "messages")
    longest = "д" * (min(ANSWER_LIMITS.values()) - ANSWER_ROOM)
    for language in sorted(catalog.languages):
        text = answer_text(
            longest,
            catalog.text(language, "question.offer_handoff"),
            catalog.text(language, "question.rate"),
            catalog.text(language, "question.also"),
        )
        sibling = (Button("Сколько стоит доставка?", payload="pick:b"),)
        rating = (Button("👍", payload="rate:a:yes"), Button("👎", payload="rate:a:no"))
        messages = fit(Reply(text, buttons=(sibling, rating)), limits)

        assert len(messages) == 1
        assert messages[0].text.endswith(catalog.text(language, "question.rate"))
