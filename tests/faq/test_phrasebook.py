"""The phrasebook: common retail wordings lent to the FAQ entry that clearly answers them."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from click.testing import CliRunner

from bots.cli import _attach_optional_groups, cli
from config.settings import Settings, load_settings
from faq.loader import FaqError, load_faq
from faq.matcher import FaqMatcher, Outcome
from faq.normalizer import Normalizer
from faq.phrasebook import PhrasebookError, load_phrasebook
from faq.semantic import EmbeddingCache, UniversalSentenceEncoder
from faq.service import FaqService
from faq.settings import MatcherSettings
from tests.faq.conftest import ROOT, write

FAQ = """\
- id: store-hours
  questions: [Во сколько открываются магазины?, Режим работы магазина]
  answer: С 8:00 до 23:00 без выходных.
- id: holiday-hours
  questions: [Как вы работаете в праздники?, Работаете ли вы 1 января?]
  answer: 31 декабря до 18:00, 1 января закрыто.
- id: delivery-cost
  questions: [Сколько стоит доставка?]
  answer: Доставка стоит 199 ₽, от 2000 ₽ бесплатно.
- id: jobs
  questions: [Есть ли у вас вакансии?]
  answer: Вакансии на сайте.
"""

BOOK = """\
- topic: store-hours
  phrasings:
    - режим работы
    - часы работы магазина
    - во сколько открываетесь утром
    - во сколько закрывается магазин
    - когда вы открываетесь
    - до скольки открыт магазин
    - магазин в воскресенье работает
    - вы сейчас открыты
    - вы 1 января работаете
- topic: parking
  phrasings:
    - есть ли парковка
    - где поставить машину
    - парковка бесплатная
    - можно ли припарковаться у магазина
"""


@pytest.fixture
def cache(encoder: UniversalSentenceEncoder) -> EmbeddingCache:
    return EmbeddingCache(encoder, encoder.name)


def _matchers(
    tmp_path: Path, normalizer: Normalizer, cache: EmbeddingCache
) -> tuple[FaqMatcher, FaqMatcher]:
    write(tmp_path / "faq", "faq.yaml", FAQ)
    write(tmp_path / "book", "ru.yaml", BOOK)
    faq = load_faq(tmp_path / "faq")
    plain = FaqMatcher(
        faq, MatcherSettings(phrasebook=None), normalizer=normalizer, embeddings=cache
    )
    lent = FaqMatcher(
        faq,
        MatcherSettings(phrasebook=tmp_path / "book"),
        normalizer=normalizer,
        embeddings=cache,
    )
    return plain, lent


def test_a_wording_only_the_phrasebook_knows_gets_the_answer(
    tmp_path: Path, normalizer: Normalizer, cache: EmbeddingCache
) -> None:
    plain, lent = _matchers(tmp_path, normalizer, cache)

    assert plain.match("вы щас открыты??").outcome is Outcome.FALLBACK
    result = lent.match("вы щас открыты??")
    assert result.outcome is Outcome.ANSWER
    assert result.matches[0].entry_id == "store-hours"
    assert [(loan.topic, loan.entry) for loan in lent.loans] == [("store-hours", "store-hours")]


def test_a_wording_the_faq_gives_another_entry_stays_with_it(
    tmp_path: Path, normalizer: Normalizer, cache: EmbeddingCache
) -> None:
    # The topic «store hours» went to store-hours, but this chain answers 1 January apart.
    _, lent = _matchers(tmp_path, normalizer, cache)

    result = lent.match("вы 1 января работаете?")

    assert result.outcome is Outcome.ANSWER
    assert result.matches[0].entry_id == "holiday-hours"
    assert lent.loans[0].phrasings == 8  # of nine: the 1 January wording was not lent


def test_a_topic_the_faq_does_not_answer_is_not_lent(
    tmp_path: Path, normalizer: Normalizer, cache: EmbeddingCache
) -> None:
    # No entry is about parking: its wordings scatter over the entries, none takes them.
    _, lent = _matchers(tmp_path, normalizer, cache)

    assert all(loan.topic != "parking" for loan in lent.loans)
    assert lent.match("парковка есть?").outcome is not Outcome.ANSWER


def test_files_are_merged_by_topic(tmp_path: Path) -> None:
    write(tmp_path, "en.yaml", "- topic: jobs\n  phrasings: [any vacancies?, job openings]\n")
    write(tmp_path, "ru.yaml", "- topic: jobs\n  phrasings: [вакансии есть?]\n")

    (topic,) = load_phrasebook(tmp_path)

    assert topic.id == "jobs"
    assert topic.phrasings == ("any vacancies?", "job openings", "вакансии есть?")


def test_an_editors_hidden_lock_file_beside_the_phrasebook_is_not_read(tmp_path: Path) -> None:
    # Emacs keeps `.#ru.yaml` (a link to nowhere) while a file is being edited.
    write(tmp_path, "ru.yaml", "- topic: jobs\n  phrasings: [вакансии есть?]\n")
    (tmp_path / ".#ru.yaml").symlink_to(tmp_path / "nowhere")

    (topic,) = load_phrasebook(tmp_path)

    assert topic.phrasings == ("вакансии есть?",)


def test_a_file_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    (tmp_path / "ru.yaml").symlink_to(tmp_path / "gone.yaml")

    with pytest.raises(PhrasebookError, match=r"ru\.yaml:0: cannot read: No such file"):
        load_phrasebook(tmp_path)


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("- topic: jobs\n  phrasings: [a, b\n", "book.yaml:3", "not valid YAML"),
        ("- topic: jobs\n", "book.yaml:1", "topic 'jobs' has no phrasings"),
        ("- phrasings: [a]\n", "book.yaml:1", "a topic without its id"),
        ("- topic: jobs\n  phrasings:\n    - ok\n    - ''\n", "book.yaml:4", "empty"),
        ("topic: jobs\n", "book.yaml:1", "expected a list of topics"),
    ],
)
def test_a_broken_file_is_named_with_its_line(
    tmp_path: Path, text: str, where: str, says: str
) -> None:
    write(tmp_path, "book.yaml", text)

    with pytest.raises(PhrasebookError) as raised:
        load_phrasebook(tmp_path)

    assert str(raised.value).startswith(f"{tmp_path / where}: ")
    assert says in str(raised.value)


def test_a_broken_phrasebook_stops_the_faq_from_loading(
    tmp_path: Path, normalizer: Normalizer, cache: EmbeddingCache
) -> None:
    # Start-up fails loudly, as for a broken FAQ file; while the bot runs, the same error
    # keeps the last good FAQ serving (FaqService treats every FaqError so).
    write(tmp_path / "faq", "faq.yaml", FAQ)
    write(tmp_path / "book", "ru.yaml", "- topic: jobs\n")
    service = FaqService(
        tmp_path / "faq",
        MatcherSettings(phrasebook=tmp_path / "book"),
        normalizer=normalizer,
        embeddings=cache,
    )

    with pytest.raises(FaqError, match=r"ru\.yaml:1: topic 'jobs' has no phrasings"):
        service.load()


def _serving(tmp_path: Path, normalizer: Normalizer, cache: EmbeddingCache) -> FaqService:
    """FAQ served as the bot serves it, lending the phrasebook the test wrote to `book/`."""
    write(tmp_path / "faq", "faq.yaml", FAQ)
    service = FaqService(
        tmp_path / "faq",
        MatcherSettings(phrasebook=tmp_path / "book"),
        normalizer=normalizer,
        embeddings=cache,
    )
    service.load()
    return service


def test_a_phrasebook_broken_while_the_bot_runs_keeps_the_last_good_faq(
    tmp_path: Path, normalizer: Normalizer, cache: EmbeddingCache
) -> None:
    write(tmp_path / "book", "ru.yaml", BOOK)
    service = _serving(tmp_path, normalizer, cache)
    write(tmp_path / "book", "ru.yaml", "- topic: jobs\n")
    write(tmp_path / "faq", "faq.yaml", FAQ.replace("199 ₽", "249 ₽"))

    assert service.reload_if_changed() is False
    assert service.match("вы щас открыты??").matches[0].entry_id == "store-hours"
    assert "199 ₽" in service.faq.entries["delivery-cost"].answer_for("ru")


def test_an_edit_to_the_phrasebook_alone_takes_effect_while_the_bot_runs(
    tmp_path: Path, normalizer: Normalizer, cache: EmbeddingCache
) -> None:
    # Content staff edit the phrasebook as they edit the FAQ: the watcher polls both.
    parking_only = BOOK[BOOK.index("- topic: parking") :]
    write(tmp_path / "book", "ru.yaml", parking_only)
    service = _serving(tmp_path, normalizer, cache)
    assert service.match("вы щас открыты??").outcome is Outcome.FALLBACK

    write(tmp_path / "book", "ru.yaml", BOOK)

    assert service.reload_if_changed() is True
    result = service.match("вы щас открыты??")
    assert result.outcome is Outcome.ANSWER
    assert result.matches[0].entry_id == "store-hours"


def test_a_broken_edit_to_the_phrasebook_alone_is_logged_with_its_file_and_line(
    tmp_path: Path,
    normalizer: Normalizer,
    cache: EmbeddingCache,
    caplog: pytest.LogCaptureFixture,
) -> None:
    book = write(tmp_path / "book", "ru.yaml", BOOK)
    service = _serving(tmp_path, normalizer, cache)

    write(tmp_path / "book", "ru.yaml", BOOK + "- topic: jobs\n")
    with caplog.at_level(logging.ERROR, logger="faq.service"):
        assert service.reload_if_changed() is False

    line = BOOK.count("\n") + 1  # the topic added at the end
    assert f"{book}:{line}: topic 'jobs' has no phrasings" in caplog.text
    assert service.match("вы щас открыты??").matches[0].entry_id == "store-hours"


def test_switching_the_phrasebook_off_brings_back_the_thresholds_chosen_without_it(
    tmp_path: Path,
) -> None:
    # The default answer threshold and clear margin were chosen for the phrasebook; a chain
    # that switches it off gets the ones chosen without it, unless it sets its own.
    variable = "OTKLIK_FAQ__MATCHER__PHRASEBOOK"
    config = tmp_path / "otklik.yaml"
    config.write_text("faq:\n  matcher:\n    phrasebook: null\n", encoding="utf-8")

    on = load_settings(None, {}).faq.matcher
    off = load_settings(None, {variable: "off"}).faq.matcher
    off_in_file = load_settings(config, {}).faq.matcher
    own = load_settings(
        None, {variable: "off", "OTKLIK_FAQ__MATCHER__ANSWER_THRESHOLD": "0.5"}
    ).faq.matcher
    lexical = load_settings(None, {"OTKLIK_FAQ__MATCHER__SEMANTIC": "false"}).faq.matcher

    assert (on.phrasebook, on.answer_threshold, on.clear_margin) == (
        ROOT / "config" / "phrasebook",
        0.42,
        0.2,
    )
    assert (off.phrasebook, off.answer_threshold, off.clear_margin) == (None, 0.36, 0.25)
    assert (off_in_file.answer_threshold, off_in_file.clear_margin) == (0.36, 0.25)
    assert (own.answer_threshold, own.clear_margin) == (0.5, 0.25)
    # The phrasebook lends its wordings through the semantic stage: without it, none lent.
    assert (lexical.answer_threshold, lexical.clear_margin) == (0.36, 0.25)
    # A copy with changes (`--lexical-only`) follows the same way; what was set stays.
    assert on.with_changes(semantic=False).answer_threshold == 0.36
    assert own.with_changes(phrasebook=ROOT / "config" / "phrasebook").answer_threshold == 0.5


@pytest.mark.parametrize("value", ["off", "none", "null"])
def test_the_phrasebook_variable_set_to_off_turns_it_off_rather_than_naming_a_folder(
    value: str,
) -> None:
    variable = "OTKLIK_FAQ__MATCHER__PHRASEBOOK"
    assert load_settings(None, {variable: value}).faq.matcher.phrasebook is None
    on = load_settings(None, {variable: "config/phrasebook"})
    assert on.faq.matcher.phrasebook == Path("config/phrasebook")
    assert (
        load_settings(None, {"OTKLIK_FAQ__MATCHER__CACHE_DIR": value}).faq.matcher.cache_dir
        is None
    )


def test_the_shipped_phrasebook_lends_the_obvious_topics_to_the_shipped_faq(
    normalizer: Normalizer, cache: EmbeddingCache
) -> None:
    # On by default since the trial of docs/phrasebook-default-trial.md.
    assert Settings().faq.matcher.phrasebook == ROOT / "config" / "phrasebook"

    matcher = FaqMatcher(
        load_faq(ROOT / "config" / "faq"), normalizer=normalizer, embeddings=cache
    )

    lent = {loan.topic: loan.entry for loan in matcher.loans}
    assert lent["store-hours"] == "store-hours"
    assert lent["jobs"] == "jobs"
    assert lent["promo-code"] == "promo-code"


def test_faq_check_says_which_topics_went_to_which_entries(tmp_path: Path) -> None:
    write(tmp_path / "faq", "faq.yaml", FAQ)
    write(tmp_path / "book", "ru.yaml", BOOK)
    _attach_optional_groups()  # as `otklik` does: the phrasebook comes from its settings

    result = CliRunner().invoke(
        cli,
        ["faq", "check", str(tmp_path / "faq")],
        env={"OTKLIK_FAQ__MATCHER__PHRASEBOOK": str(tmp_path / "book")},
    )

    assert result.exit_code == 0, result.output
    assert "phrasebook: 'store-hours' lent to 'store-hours' (8 wordings)" in result.output
    assert "'parking'" not in result.output


def test_faq_commands_name_a_broken_phrasebook_in_one_line(tmp_path: Path) -> None:
    write(tmp_path / "faq", "faq.yaml", FAQ)
    write(tmp_path / "book", "ru.yaml", "- topic: jobs\n")
    _attach_optional_groups()

    result = CliRunner().invoke(
        cli,
        ["faq", "ask", "--faq", str(tmp_path / "faq"), "режим работы"],
        env={"OTKLIK_FAQ__MATCHER__PHRASEBOOK": str(tmp_path / "book")},
    )

    assert result.exit_code == 1
    assert f"error: {tmp_path / 'book' / 'ru.yaml'}:1: topic 'jobs' has no phrasings" in (
        result.output
    )
