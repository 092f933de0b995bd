from __future__ import annotations

from pathlib import Path

import pytest

from faq.loader import FaqError, load_faq, read_faq
from faq.problems import Severity
from tests.faq.conftest import write

MINIMAL = """\
- id: store-hours
  questions:
    - Во сколько открываются магазины?
  answer: С 8:00 до 23:00.
"""


def test_a_file_with_only_id_questions_and_answer_loads(tmp_path: Path) -> None:
    write(tmp_path, "faq.yaml", MINIMAL)

    faq = load_faq(tmp_path)

    entry = faq.entries["store-hours"]
    assert entry.questions == ("Во сколько открываются магазины?",)
    assert entry.answer_for("ru") == "С 8:00 до 23:00."
    assert entry.answer_for("en") == "С 8:00 до 23:00."  # falls back to Russian
    assert entry.source == f"{tmp_path / 'faq.yaml'}:1"


def test_every_optional_field_is_read(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        MINIMAL
        + """\
- id: delivery
  questions: [Сколько стоит доставка?, no]
  answer: {ru: 199 ₽, en: 199 RUB}
  tags: [delivery]
  buttons:
    - {text: Адреса, url: "https://example.com/stores"}
    - {text: {ru: Часы, en: Opening hours}, faq: store-hours}
    - {text: "Описать, что случилось", action: feedback}
  handoff: true
  examples: [почем доставка]
""",
    )

    entry = load_faq(tmp_path).entries["delivery"]

    assert entry.questions == ("Сколько стоит доставка?", "no")  # `no` stays text
    assert entry.answer_for("en") == "199 RUB"
    assert entry.answer_for("de") == "199 ₽"
    assert entry.buttons[1].faq == "store-hours"
    assert entry.buttons[1].text_for("en") == "Opening hours"
    assert entry.buttons[1].text_for("de") == "Часы"
    assert entry.buttons[0].text_for("en") == "Адреса"
    assert entry.buttons[2].action == "feedback"
    assert entry.handoff is True
    assert entry.examples == ("почем доставка",)
    assert entry.source.endswith("a.yaml:5")


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("- id: a\n  questions: [x\n  answer: y\n", 3, "YAML syntax"),
        ("- id: a\n  questions: [x]\n  answer: Время: с 8 до 23\n", 3, "in double quotes"),
        (MINIMAL + MINIMAL, 5, "duplicate id 'store-hours'"),
        ("- questions: [x]\n  answer: y\n", 1, "no 'id'"),
        ("- id: a\n  questions: []\n  answer: y\n", 2, "no questions"),
        ("- id: a\n  questions: [x]\n", 1, "no 'answer'"),
        ("- id: Store Hours\n  questions: [x]\n  answer: y\n", 1, "not a slug"),
        (
            "- id: a\n  questions: [x]\n  answer: y\n  buttons:\n    - {text: B, faq: nope}\n",
            5,
            "unknown entry 'nope'",
        ),
        (
            "- id: a\n  questions: [x]\n  answer: y\n  buttons:\n"
            "    - {text: B, action: survey}\n",
            5,
            "unknown action 'survey' — use one of: feedback, handoff",
        ),
        (
            "- id: a\n  questions: [x]\n  answer: y\n  buttons:\n"
            "    - {text: B, action: feedback, url: 'https://example.com'}\n",
            5,
            "needs one of url, faq or action",
        ),
        (
            "- id: a\n  questions: [x]\n  answer: y\n  buttons:\n"
            "    - text: {ru: Б, english: B}\n      url: https://example.com\n",
            5,
            "a button label: 'english' is not a language code",
        ),
        (
            "- id: a\n  questions: [x]\n  answer: y\n  buttons:\n"
            "    - url: https://example.com\n      text:\n        ru: Б\n        en: ''\n",
            8,
            "a button label is empty",
        ),
        (
            "- id: a\n  questions: [x]\n  answer: " + "д" * 4100 + "\n",
            3,
            "Telegram and VK allow 3996 (4096 less 100 for the bot's own lines under it, "
            "«Помогло?»)",
        ),
        (
            "- id: a\n  questions: [x]\n  answer: " + "д" * 4000 + "\n",
            3,
            "the ru answer has 4000 characters, Telegram and VK allow 3996",
        ),
        (
            "- id: a\n  questions: [x]\n  answer: y\n- id: b\n  questions: [X?]\n  answer: z\n",
            5,
            "is in both 'a'",
        ),
        # an invisible control character pasted in from a word processor, found on its line
        ("- id: a\n  questions: [x]\n  answer: x\x07y\n", 3, "(code 0x0007)"),
        ("- id: a\n  questions: [x]\n  answer: [one, two]\n", 3, "must be text, not a list"),
        ("- id: a\n  questions: [x]\n  answer: {ru: [one, two]}\n", 3, "must be text"),
        ("- id: a\n  questions:\n\t- x\n  answer: y\n", 3, "indent with spaces, not tabs"),
    ],
)
def test_errors_name_file_line_and_fix(tmp_path: Path, text: str, line: int, words: str) -> None:
    path = write(tmp_path, "bad.yaml", text)

    with pytest.raises(FaqError) as caught:
        load_faq(tmp_path)

    message = str(caught.value)
    assert message.startswith(f"{path}:{line}: ")
    assert words in message
    assert " — " in message  # every error says how to fix it
    assert "\n" not in message


def test_check_collects_every_problem_and_warns_on_typos_in_field_names(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "- id: a\n  questions: [x]\n  answr: y\n- id: a\n  questions: []\n")

    result = read_faq(tmp_path)

    messages = [str(p) for p in result.problems]
    assert any("unknown field 'answr'" in m and "did you mean 'answer'?" in m for m in messages)
    assert sum(p.severity is Severity.ERROR for p in result.problems) >= 3


def test_a_missing_folder_is_an_error_not_an_empty_faq(tmp_path: Path) -> None:
    with pytest.raises(FaqError, match="no such file or folder"):
        load_faq(tmp_path / "missing")


def test_the_shipped_example_faq_is_clean_and_bilingual(tmp_path: Path) -> None:
    result = read_faq(Path(__file__).resolve().parents[2] / "config" / "faq")

    assert result.problems == []
    assert len(result.faq) >= 25
    for entry in result.faq.entries.values():
        assert set(entry.answers) == {"ru", "en"}, entry.id


def test_editor_lock_and_hidden_files_beside_the_faq_are_not_read(tmp_path: Path) -> None:
    # Emacs keeps a lock as a dangling link `.#name.yaml` while a buffer has unsaved edits;
    # other editors keep hidden copies. Neither is FAQ content, and neither breaks the load.
    write(tmp_path, "faq.yaml", MINIMAL)
    (tmp_path / ".#faq.yaml").symlink_to("user@host.4242:1700000000")
    write(tmp_path, ".faq.yaml", MINIMAL)

    result = read_faq(tmp_path)

    assert result.problems == []
    assert list(result.faq.entries) == ["store-hours"]


def test_more_buttons_than_one_vk_message_carries_are_warned_about(tmp_path: Path) -> None:
    # Five links, the operator button and 👍/👎 make seven rows: on VK the rating would
    # arrive in a message of its own. Four links leave room.
    links = "".join(f"    - {{text: L{i}, url: 'https://x/{i}'}}\n" for i in range(5))
    path = write(
        tmp_path,
        "a.yaml",
        "- id: many\n  questions: [x]\n  answer: y\n  handoff: true\n  buttons:\n"
        + links
        + "- id: four\n  questions: [z]\n  answer: q\n  handoff: true\n  buttons:\n"
        + "".join(links.splitlines(keepends=True)[:4]),
    )

    result = read_faq(tmp_path)

    assert [str(p) for p in result.warnings] == [
        f"{path}:6: entry 'many': 5 buttons, the operator button and 👍/👎 make 7 rows; VK "
        "shows 6 in one message, so 👍/👎 would arrive in a second one — keep at most 4 "
        "buttons, or move links into the answer text"
    ]
    assert not result.errors


def test_a_file_that_cannot_be_read_is_an_error_not_a_crash(tmp_path: Path) -> None:
    write(tmp_path, "faq.yaml", MINIMAL)
    (tmp_path / "gone.yaml").symlink_to(tmp_path / "nowhere.yaml")
    (tmp_path / "old.yaml").mkdir()

    result = read_faq(tmp_path)

    errors = [str(p) for p in result.errors]
    assert errors == [
        f"{tmp_path / 'gone.yaml'}:1: cannot read the file: No such file or "
        "directory — fix or remove the file"
    ]
    assert any("a folder, not a file" in str(p) for p in result.warnings)


def test_an_entry_with_errors_of_its_own_still_counts_for_ids_and_buttons(
    tmp_path: Path,
) -> None:
    # One run of `faq check` shows every problem: fixing the first must not reveal others.
    write(
        tmp_path,
        "a.yaml",
        "- id: a\n  questions: [x]\n"  # no answer
        "- id: a\n  questions: [y]\n  answer: z\n"
        "- id: b\n  questions: [w]\n  answer: v\n  buttons: [{text: A, faq: a}]\n",
    )

    messages = [str(p) for p in read_faq(tmp_path).errors]

    assert any("has no 'answer'" in m for m in messages)
    assert any("duplicate id 'a'" in m for m in messages)
    assert not any("unknown entry" in m for m in messages)
