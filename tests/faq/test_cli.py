from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import click
from click.testing import CliRunner, Result

from bots.cli import _attach_optional_groups, cli
from faq.cli import GAPS_SOURCE_KEY, faq
from faq.gaps import EntryFeedback, GapsData, PickedSuggestion, UnansweredQuestion
from tests.faq.conftest import CASES, SHIPPED, write


def test_check_passes_on_the_shipped_faq() -> None:
    result = CliRunner().invoke(faq, ["check", str(SHIPPED), "--lexical-only"])

    assert result.exit_code == 0, result.output
    assert "0 errors" in result.output


def test_check_lists_each_problem_with_file_and_line_and_exits_1(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "a.yaml",
        "- id: a\n  questions: [x]\n  answer: y\n"
        "  buttons: [{text: B, faq: missing}]\n- id: a\n  questions: [z]\n  answer: q\n",
    )

    result = CliRunner().invoke(faq, ["check", str(tmp_path), "--lexical-only"])

    assert result.exit_code == 1
    assert f"{path}:4: button points to unknown entry 'missing'" in result.output
    assert f"{path}:5: duplicate id 'a'" in result.output
    assert "2 errors" in result.output


def test_check_counts_one_error_in_the_singular(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        "- id: a\n  questions: [x]\n  answer: y\n- id: a\n  questions: [z]\n  answer: q\n",
    )

    result = CliRunner().invoke(faq, ["check", str(tmp_path), "--lexical-only"])

    assert result.exit_code == 1
    assert "— 1 error, 0 warnings" in result.output


def test_check_warns_when_two_entries_cannot_be_told_apart(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        "- id: hours\n  questions: [Режим работы магазина]\n  answer: a\n"
        "- id: schedule\n  questions: [Режим работы магазинов]\n  answer: b\n",
    )

    result = CliRunner().invoke(faq, ["check", str(tmp_path), "--lexical-only"])

    assert result.exit_code == 0
    assert "entries 'hours' and 'schedule'" in result.output


def test_check_warns_when_another_entry_would_take_a_slightly_reworded_question(
    tmp_path: Path,
) -> None:
    # Each entry finds its own phrasings, but «Сроки доставки» typed any other way lands
    # on the delivery cost: the bot would answer the wrong question confidently.
    write(
        tmp_path,
        "a.yaml",
        "- id: delivery-cost\n  questions: [Сколько стоит доставка?, Цена доставки]\n"
        "  answer: Курьер — 199 ₽.\n"
        "- id: delivery-time\n  questions: [Сроки доставки, Когда привезут заказ?]\n"
        "  answer: Обычно через два часа.\n"
        "- id: store-hours\n  questions: [Режим работы магазина, До скольки открыто?]\n"
        "  answer: С 8 до 23.\n",
    )

    result = CliRunner().invoke(faq, ["check", str(tmp_path), "--lexical-only"])

    assert result.exit_code == 0, result.output
    assert "entries 'delivery-time' and 'delivery-cost' (" in result.output
    assert (
        "worded a little differently, «Сроки доставки» would be answered with "
        "'delivery-cost' — add questions to 'delivery-time'" in result.output
    )
    assert "store-hours" not in result.output
    assert "0 errors, 1 warning" in result.output


def test_ask_json_has_the_documented_shape() -> None:
    result = CliRunner().invoke(
        faq, ["ask", "--faq", str(SHIPPED), "--lexical-only", "сколько стоит доставка", "--json"]
    )

    payload = json.loads(result.output)
    assert payload["outcome"] == "answer"
    assert payload["matches"][0]["id"] == "delivery-cost"
    assert set(payload["matches"][0]) == {"id", "score"}


def test_ask_lexical_only_decides_as_the_bot_with_the_semantic_stage_off() -> None:
    # The phrasebook needs the semantic stage, so without it the bot answers at the
    # thresholds chosen without a phrasebook (0.36); «как вас найти» scores 0.40 by words.
    result = CliRunner().invoke(
        faq, ["ask", "--faq", str(SHIPPED), "--lexical-only", "как вас найти", "--json"]
    )

    payload = json.loads(result.output)
    assert payload["outcome"] == "answer"
    assert payload["matches"][0]["id"] == "store-addresses"


def test_eval_json_counts_cases(tmp_path: Path) -> None:
    cases = write(
        tmp_path,
        "cases.yaml",
        '- {q: "сколько стоит доставка", expect: delivery-cost}\n'
        '- {q: "сколько стоит доставка", expect: store-hours}\n'
        '- {q: "какая погода", expect: null}\n',
    )

    result = CliRunner().invoke(
        faq, ["eval", "--faq", str(SHIPPED), "--lexical-only", str(cases), "--json"]
    )

    payload = json.loads(result.output)
    assert {k: payload[k] for k in ("total", "correct", "wrong", "unanswered")} == {
        "total": 3,
        "correct": 2,
        "wrong": 1,
        "unanswered": 0,
    }
    assert payload["failures"][0]["expect"] == "store-hours"


def test_test_lists_examples_that_land_elsewhere(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        "- id: hours\n  questions: [Режим работы]\n  answer: a\n"
        "  examples: [сколько стоит доставка]\n"
        "- id: delivery\n  questions: [Сколько стоит доставка]\n  answer: b\n",
    )

    result = CliRunner().invoke(faq, ["test", str(tmp_path), "--lexical-only"])

    assert result.exit_code == 1
    assert "«сколько стоит доставка» should match 'hours' but answered 'delivery'" in result.output


def test_gaps_groups_similar_questions_most_asked_first(tmp_path: Path) -> None:
    questions = write(
        tmp_path, "q.txt", "сигареты продаете?\nесть сигареты?\nгде туалет\nпродаёте сигареты\n"
    )

    result = CliRunner().invoke(faq, ["gaps", "--from-file", str(questions), "--json"])

    clusters = json.loads(result.output)["clusters"]
    assert [c["count"] for c in clusters] == [3, 1]
    assert "сигарет" in clusters[0]["label"]


def test_gaps_says_how_many_questions_had_no_words_to_group(tmp_path: Path) -> None:
    questions = write(tmp_path, "q.txt", "?\n🤬🤬🤬\nгде туалет\n")

    text = CliRunner().invoke(faq, ["gaps", "--from-file", str(questions)]).output
    payload = json.loads(
        CliRunner().invoke(faq, ["gaps", "--from-file", str(questions), "--json"]).output
    )

    assert text.startswith(
        "3 unanswered questions (suggested or not found), top 1 groups (2 with no words, "
        "only emoji or punctuation, not grouped):"
    )
    assert payload["wordless"] == 2


def test_gaps_without_storage_says_so() -> None:
    result = CliRunner().invoke(faq, ["gaps"])

    assert result.exit_code == 1
    assert "no storage configured" in result.output


def test_eval_on_the_shipped_cases_runs() -> None:
    result = CliRunner().invoke(
        faq, ["eval", "--faq", str(SHIPPED), "--lexical-only", str(CASES / "en_dev.yaml")]
    )

    assert result.exit_code == 0
    assert "total" in result.output


def test_gaps_reads_the_injected_storage_and_shows_feedback_per_entry() -> None:
    asked: list[datetime | None] = []

    async def source(since: datetime | None) -> GapsData:
        asked.append(since)
        return GapsData(
            [
                UnansweredQuestion(
                    "доставка суши?",
                    "telegram",
                    outcome="suggest",
                    suggestions=("delivery-cost", "delivery-area"),
                ),
                UnansweredQuestion(
                    "суши доставляете", "vk", outcome="suggest", suggestions=("delivery-cost",)
                ),
            ],
            [EntryFeedback("delivery-cost", helpful=10, unhelpful=4)],
        )

    @click.group()
    @click.pass_context
    def otklik(ctx: click.Context) -> None:  # what the app's root group does
        ctx.meta[GAPS_SOURCE_KEY] = source

    otklik.add_command(faq)
    result = CliRunner().invoke(otklik, ["faq", "gaps", "--since", "2025-01-31"])

    assert result.exit_code == 0, result.output
    assert asked[0] is not None
    assert asked[0].date().isoformat() == "2025-01-31"
    assert "     2  " in result.output
    assert "        offered: delivery-cost ×2, delivery-area ×1\n" in result.output
    assert "10 / 4     delivery-cost" in result.output
    as_json = json.loads(CliRunner().invoke(otklik, ["faq", "gaps", "--json"]).output)
    assert as_json["clusters"][0]["offered"] == {"delivery-cost": 2, "delivery-area": 1}


def test_gaps_lists_close_calls_apart_with_the_entries_answered_and_offered() -> None:
    # A close call was answered: it is not an unanswered question, but which of the two
    # entries the shopper meant is a gap too.
    data = GapsData(
        [
            UnansweredQuestion("есть гречка", outcome="fallback"),
            UnansweredQuestion(
                "деньги за доставку вернуть",
                outcome="close",
                suggestions=("refund-card", "delivery-cost"),
            ),
            UnansweredQuestion(
                "Деньги за доставку вернуть!",
                outcome="close",
                suggestions=("refund-card", "delivery-cost"),
            ),
            # Answered, rated 👎, and then the other close entry offered: the same kind of gap.
            UnansweredQuestion(
                "вернуть деньги за доставку",
                outcome="unhelpful",
                suggestions=("refund-card", "delivery-cost"),
            ),
        ],
        picks=[PickedSuggestion("деньги за доставку вернуть", "delivery-cost")],
    )

    text, as_json = _gaps(data), _gaps(data, "--json")

    assert text.exit_code == 0, text.output
    assert "1 unanswered questions (suggested or not found)" in text.output
    close_part = text.output.split("3 close calls")[1]
    assert "деньги за доставку вернуть" in close_part
    assert "answered refund-card, offered delivery-cost ×3" in close_part
    assert "shoppers picked: delivery-cost ×1" in close_part
    payload = json.loads(as_json.output)
    assert [c["label"] for c in payload["clusters"]] == ["есть гречка"]
    (close,) = payload["close_calls"]
    assert close["count"] == 3
    assert close["picked"] == {"delivery-cost": 1}
    assert close["answered"] == [
        {"answered": "refund-card", "offered": "delivery-cost", "count": 3}
    ]


def test_ask_shows_the_sibling_offered_under_an_answer() -> None:
    fixtures = Path(__file__).parents[1] / "fixtures" / "faq"
    _attach_optional_groups()  # as `otklik` does; the margin comes from its settings
    result = CliRunner().invoke(
        cli,
        ["faq", "ask", "--faq", str(fixtures), "вернуть деньги за доставку"],
        env={"OTKLIK_FAQ__MATCHER__ALSO_OFFER_MARGIN": "0.25"},
    )

    assert result.exit_code == 0, result.output
    assert result.output.startswith("answer\n")
    assert "offered under the answer: delivery-cost" in result.output


def test_gaps_shows_under_a_cluster_the_entries_shoppers_picked_for_it() -> None:
    data = GapsData(
        [
            UnansweredQuestion("где парковка?"),
            UnansweredQuestion("Парковка где"),
            UnansweredQuestion("есть гречка"),
        ],
        picks=[
            PickedSuggestion("где парковка?", "store-addresses"),
            PickedSuggestion("парковка ГДЕ!!", "store-addresses"),  # typed another way
            PickedSuggestion("Парковка где", "parking"),
            PickedSuggestion("как оформить ипотеку", "loans"),  # its question is not among them
        ],
    )

    text, as_json = _gaps(data), _gaps(data, "--json")

    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    parking = next(i for i, line in enumerate(lines) if "парковка" in line.lower())
    assert lines[parking + 1].split() == [
        "shoppers",
        "picked:",
        "store-addresses",
        "×2,",
        "parking",
        "×1",
        "(add",
        "these",
        "wordings",
        "to",
        "its",
        "questions)",
    ]
    clusters = json.loads(as_json.output)["clusters"]
    assert [c["picked"] for c in clusters] == [{"store-addresses": 2, "parking": 1}, {}]


def test_check_warns_about_answers_in_a_language_the_bot_does_not_speak(tmp_path: Path) -> None:
    # The bot picks ru or en (its message catalogs); a German answer would never be shown.
    write(
        tmp_path,
        "a.yaml",
        "- id: a\n  questions: [x]\n  answer: {ru: Да, de: Ja}\n"
        "  buttons: [{text: {en: Map, fr: Carte}, url: 'https://example.com'}]\n",
    )

    _attach_optional_groups()  # as `otklik` does: the configured catalogs' languages
    result = CliRunner().invoke(cli, ["faq", "check", str(tmp_path), "--lexical-only"])

    assert result.exit_code == 0, result.output
    assert "entry 'a': its 'de' text is never shown: the bot speaks en, ru" in result.output
    assert "its 'fr' text is never shown" in result.output


def test_eval_refuses_a_case_whose_expect_is_a_list_instead_of_counting_it_right(
    tmp_path: Path,
) -> None:
    # Read as null it would mean "expect no answer", and a refusal would count as correct.
    cases = write(tmp_path, "cases.yaml", '- {q: "до скольки открыто", expect: [store-hours]}\n')

    result = CliRunner().invoke(faq, ["eval", "--faq", str(SHIPPED), "--lexical-only", str(cases)])

    assert result.exit_code == 1
    assert f"{cases}:1: 'expect' must be one entry id or null" in result.output


def test_eval_names_a_cases_file_that_is_not_utf8(tmp_path: Path) -> None:
    cases = tmp_path / "cases.yaml"
    cases.write_bytes('- {q: "доставка", expect: null}\n'.encode("cp1251"))

    result = CliRunner().invoke(faq, ["eval", "--faq", str(SHIPPED), "--lexical-only", str(cases)])

    assert result.exit_code == 1
    assert f"{cases}:1: the file is not UTF-8 text" in result.output


def _gaps(data: GapsData, *args: str) -> Result:
    """`otklik faq gaps` reading `data` as if from storage (what the app's root group injects)."""

    async def source(since: datetime | None) -> GapsData:
        return data

    @click.group()
    @click.pass_context
    def otklik(ctx: click.Context) -> None:
        ctx.meta[GAPS_SOURCE_KEY] = source

    otklik.add_command(faq)
    return CliRunner().invoke(otklik, ["faq", "gaps", *args])


def test_check_warns_about_an_answer_that_asks_for_a_reply_nobody_takes(tmp_path: Path) -> None:
    # After an answer the bot takes the next message for a new question: «пришлите фото» with
    # no person and no feedback step leaves the photo unanswered.
    path = write(
        tmp_path,
        "a.yaml",
        "- id: broken\n  questions: [Товар сломан]\n"
        "  answer: {ru: Пришлите фото поломки., en: Send us a photo.}\n"
        "- id: to-a-person\n  questions: [Цена не совпала]\n"
        "  answer: Пришлите фото чека.\n  handoff: true\n"
        "- id: as-feedback\n  questions: [Нагрубили]\n  answer: Опишите, что случилось.\n"
        "  buttons: [{text: Описать, action: feedback}]\n"
        "- id: operator\n  questions: [Как позвать оператора]\n"
        "  answer: Напишите «оператор» в этот чат.\n",
    )

    result = CliRunner().invoke(faq, ["check", str(tmp_path), "--lexical-only"])

    assert result.exit_code == 0, result.output
    warned = [line for line in result.output.splitlines() if "asks the shopper" in line]
    assert warned == [
        f"warning: {path}:1: entry 'broken': its en answer asks the shopper to write "
        "(«Send us»), but the bot takes the reply for a new question — add 'handoff: true' "
        "(a person reads it) or a button with 'action: feedback' (it is kept as feedback)"
    ]
