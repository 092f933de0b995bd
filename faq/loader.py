"""Read a folder of FAQ YAML files into a `Faq`, reporting every problem with file and line.

The file format is a contract with content staff (README.md, section FAQ). Text fields take
any scalar literally, so `- no` stays the question "no" instead of YAML's boolean false.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import yaml
from rapidfuzz import process

from faq.model import ACTIONS, DEFAULT_LANGUAGE, Faq, FaqButton, FaqEntry
from faq.problems import Problem, Severity

__all__ = [
    "ANSWER_LIMITS",
    "ANSWER_ROOM",
    "KEYBOARD_ROWS",
    "FaqError",
    "LoadResult",
    "faq_files",
    "load_faq",
    "read_faq",
]

# The shortest message limit among the platforms a chain may enable.
ANSWER_LIMITS = {"Telegram": 4096, "VK": 4096, "Viber": 7000}
ANSWER_ROOM = 100
"""Characters kept free under every answer for the bot's own lines (the «Помогло?» question;
for ``handoff: true`` the offer of an operator; over a sibling entry's button, «Если вы
спрашивали о другом:»), so an answer the check passes is one message. The longest catalog
(English) needs 99 of them; `tests/channels/test_layout.py` checks they fit."""
BUTTON_TEXT_LIMIT = 40  # VK cuts longer button labels
KEYBOARD_ROWS = 6
"""The fewest button rows one message carries on any channel (VK). An answer's buttons, the
operator button of a ``handoff: true`` entry and the 👍/👎 row must fit, or 👍/👎 arrive in
a message of their own; the question flow offers a sibling entry only where a row is left."""
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,47}$")
LANGUAGE_PATTERN = re.compile(r"^[a-z]{2}$")
KEYS = ("id", "questions", "answer", "tags", "buttons", "handoff", "examples")
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class FaqError(Exception):
    """A fatal problem in the FAQ files; str() is "file.yaml:LINE: what is wrong — how to fix"."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


@dataclass
class LoadResult:
    """What `read_faq` found: the entries that loaded and every problem on the way."""

    faq: Faq
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.WARNING]


def faq_files(path: Path) -> list[Path]:
    """The files a FAQ folder consists of, in load order (a single file is allowed too).

    Hidden files are not FAQ files: editors keep their lock files and backups as
    ``.#name.yaml`` or ``.name.yaml.swp`` beside the file being edited, and those must neither
    load twice nor break the load. Folders named ``*.yaml`` are not files either.
    """
    if not path.is_dir():
        return [path]
    return [file for file in sorted(path.glob("*.yaml")) if _visible(file) and not file.is_dir()]


def _visible(file: Path) -> bool:
    return not file.name.startswith(".")


def load_faq(path: Path) -> Faq:
    """Load every *.yaml under `path` (a folder or a file); raise FaqError on the first error."""
    result = read_faq(path)
    if result.errors:
        raise FaqError(result.errors[0])
    return result.faq


def read_faq(path: Path) -> LoadResult:
    """Load what can be loaded and collect every problem, for `faq check`."""
    reader = _Reader()
    if not path.exists():
        reader.error(str(path), 0, "no such file or folder", "create it or set faq.path")
        return LoadResult(Faq.of([]), reader.problems)
    files = faq_files(path)
    if path.is_dir():
        for stray in sorted(path.glob("*.yml")):
            if _visible(stray):
                reader.warn(
                    str(stray), 1, "ignored: only *.yaml files are read", "rename to .yaml"
                )
        for folder in sorted(path.glob("*.yaml")):
            if _visible(folder) and folder.is_dir():
                reader.warn(str(folder), 0, "ignored: a folder, not a file", "rename it")
    for file in files:
        reader.read_file(file)
    reader.finish(str(path), bool(files))
    return LoadResult(Faq.of(reader.entries), reader.problems)


class _Reader:
    """Walks YAML nodes (which keep line numbers) and builds entries."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.entries: list[FaqEntry] = []
        self._first_seen: dict[str, str] = {}
        self._questions: dict[str, tuple[str, str]] = {}
        self._links: list[tuple[str, int, str]] = []

    def error(self, path: str, line: int, message: str, hint: str = "") -> None:
        self.problems.append(Problem(path, line, message, hint))

    def warn(self, path: str, line: int, message: str, hint: str = "") -> None:
        self.problems.append(Problem(path, line, message, hint, Severity.WARNING))

    def read_file(self, file: Path) -> None:
        name = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            self.error(name, 1, "the file is not UTF-8 text", "save it as UTF-8")
            return
        except OSError as error:  # gone meanwhile, a dangling link, no permission
            reason = error.strerror or error.__class__.__name__
            self.error(name, 1, f"cannot read the file: {reason}", "fix or remove the file")
            return
        try:
            root = yaml.compose(text, Loader=_Loader)
        except yaml.MarkedYAMLError as error:
            mark = error.problem_mark or error.context_mark
            line = mark.line + 1 if mark else 1
            what = " ".join(filter(None, [error.context, error.problem]))
            self.error(name, line, f"YAML syntax: {what}", _yaml_hint(what, text, line))
            return
        except yaml.reader.ReaderError as error:  # a control character pasted in with the text
            line = text.count("\n", 0, error.position) + 1
            self.error(
                name,
                line,
                f"a character YAML does not allow (code {error.character:#06x})",
                "delete it: it is invisible, often pasted in from a word processor",
            )
            return
        except yaml.YAMLError as error:
            self.error(name, 1, f"YAML syntax: {error}", "check quotes and indentation")
            return
        if root is None:
            self.warn(name, 1, "the file has no entries", "add entries or delete the file")
            return
        if not isinstance(root, yaml.SequenceNode):
            self.error(
                name, _line(root), "the file must be a list of entries", "start each with '- id:'"
            )
            return
        for node in root.value:
            entry = self.read_entry(name, node)
            if entry is not None:
                self.entries.append(entry)

    def read_entry(self, name: str, node: yaml.Node) -> FaqEntry | None:
        line = _line(node)
        if not isinstance(node, yaml.MappingNode):
            self.error(name, line, "an entry must be a mapping", "write it as '- id: ...'")
            return None
        fields: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            if key in fields:
                self.error(
                    name, _line(key_node), f"'{key}' appears twice in one entry", "keep one"
                )
            elif key not in KEYS:
                guess = process.extractOne(key, KEYS, score_cutoff=70)
                hint = f"did you mean '{guess[0]}'?" if guess else f"allowed: {', '.join(KEYS)}"
                self.warn(name, _line(key_node), f"unknown field '{key}' is ignored", hint)
            fields[key] = value_node
        entry_id = self._read_id(name, line, fields.get("id"))
        where = f"entry '{entry_id}'" if entry_id else "entry"
        questions = self._read_texts(name, line, fields.get("questions"), "questions", where)
        if "questions" in fields and not questions:
            self.error(
                name, _line(fields["questions"]), f"{where} has no questions", "add a phrasing"
            )
        elif "questions" not in fields:
            self.error(name, line, f"{where} has no 'questions'", "add a list of phrasings")
        answers = self._read_answer(name, line, fields.get("answer"), where)
        tags = self._read_texts(name, line, fields.get("tags"), "tags", where)
        examples = self._read_texts(name, line, fields.get("examples"), "examples", where)
        buttons = self._read_buttons(name, fields.get("buttons"), where)
        handoff = self._read_bool(name, fields.get("handoff"), where)
        source = f"{name}:{line}"
        if entry_id:
            # Registered even when the entry has errors of its own, so one run reports a
            # duplicate id and buttons pointing at it as they are, not only after a fix.
            if entry_id in self._first_seen:
                self.error(
                    name,
                    line,
                    f"duplicate id '{entry_id}', first used at {self._first_seen[entry_id]}",
                    "give each entry its own id",
                )
                return None
            self._first_seen[entry_id] = source
        if not entry_id or not questions or not answers:
            return None
        self._check_questions(name, fields["questions"], entry_id, questions)
        entry = FaqEntry(
            id=entry_id,
            questions=questions,
            answers=MappingProxyType(answers),
            tags=tags,
            buttons=buttons,
            handoff=handoff,
            examples=examples,
            source=source,
        )
        if entry.answer_rows > KEYBOARD_ROWS:
            kept = len(buttons) - (entry.answer_rows - KEYBOARD_ROWS)
            self.warn(
                name,
                _line(fields["buttons"]),
                f"{where}: {len(buttons)} buttons"
                + (", the operator button" if handoff else "")
                + f" and 👍/👎 make {entry.answer_rows} rows; VK shows {KEYBOARD_ROWS} in one "
                "message, so 👍/👎 would arrive in a second one",
                f"keep at most {kept} buttons, or move links into the answer text",
            )
        return entry

    def finish(self, name: str, had_files: bool) -> None:
        for path, line, target in self._links:
            if target not in self._first_seen:
                guess = process.extractOne(target, list(self._first_seen), score_cutoff=60)
                hint = f"did you mean '{guess[0]}'?" if guess else "use an existing entry id"
                self.error(path, line, f"button points to unknown entry '{target}'", hint)
        if not had_files:
            self.error(name, 0, "no *.yaml files found", "add FAQ files to this folder")
        elif not self.entries and not any(p.severity is Severity.ERROR for p in self.problems):
            self.error(name, 0, "no FAQ entries found", "add at least one entry")

    def _read_id(self, name: str, line: int, node: yaml.Node | None) -> str:
        if node is None:
            self.error(name, line, "entry has no 'id'", "add 'id: some-slug'")
            return ""
        value = _text(node)
        if value is None or not value.strip():
            self.error(name, _line(node), "'id' is empty", "use a slug like 'store-hours'")
            return ""
        if not ID_PATTERN.match(value):
            self.error(
                name,
                _line(node),
                f"id '{value}' is not a slug",
                "use lowercase latin letters, digits, '-' or '_', up to 48 characters",
            )
            return ""
        return value

    def _read_texts(
        self, name: str, line: int, node: yaml.Node | None, key: str, where: str
    ) -> tuple[str, ...]:
        if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
            return ()
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        texts: list[str] = []
        for item in items:
            value = _text(item)
            if value is None:
                self.error(name, _line(item), f"{where}: {key} must be text", "write plain text")
            elif not value.strip():
                self.error(name, _line(item), f"{where}: empty item in {key}", "delete it")
            else:
                texts.append(value.strip())
        return tuple(texts)

    def _read_answer(
        self, name: str, line: int, node: yaml.Node | None, where: str
    ) -> dict[str, str]:
        if node is None:
            self.error(name, line, f"{where} has no 'answer'", "add 'answer: text'")
            return {}
        answers = self._read_localized(name, node, f"{where}: the answer", empty_single=True)
        for language, (text, text_line) in answers.items():
            self._check_length(name, text_line, where, language, text)
        return {language: text for language, (text, _) in answers.items()}

    def _read_localized(
        self, name: str, node: yaml.Node, what: str, *, empty_single: bool
    ) -> dict[str, tuple[str, int]]:
        """A text or a mapping language -> text (`answer`, a button's `text`), with lines.

        A plain text counts as Russian. Keys that are not language codes and empty texts are
        errors naming `what`; a plain empty text is one too when `empty_single` is set.
        """
        single = not isinstance(node, yaml.MappingNode)
        if single:
            pairs = [(DEFAULT_LANGUAGE, node, node)]
        else:
            pairs = [(str(k.value), k, v) for k, v in node.value]
        texts: dict[str, tuple[str, int]] = {}
        for language, key_node, value_node in pairs:
            text = _text(value_node)
            if not LANGUAGE_PATTERN.match(language):
                self.error(
                    name,
                    _line(key_node),
                    f"{what}: '{language}' is not a language code",
                    "use two letters like ru or en",
                )
            elif text is None and not _empty(value_node):
                self.error(
                    name,
                    _line(value_node),
                    f"{what} must be text, not a list or a mapping",
                    "write it as one text; use '|' for several lines",
                )
            elif text is None or not text.strip():
                if empty_single or not single:
                    self.error(name, _line(value_node), f"{what} is empty", "write it")
            else:
                texts[language] = (text.strip(), _line(value_node))
        return texts

    def _check_length(self, name: str, line: int, where: str, language: str, text: str) -> None:
        too_short_for = [
            p for p, limit in ANSWER_LIMITS.items() if len(text) > limit - ANSWER_ROOM
        ]
        if too_short_for:
            limit = min(ANSWER_LIMITS[p] for p in too_short_for)
            self.error(
                name,
                line,
                f"{where}: the {language} answer has {len(text)} characters, "
                f"{' and '.join(too_short_for)} allow {limit - ANSWER_ROOM} "
                f"({limit} less {ANSWER_ROOM} for the bot's own lines under it, «Помогло?»)",
                "shorten it or move details behind a link button",
            )

    def _read_buttons(
        self, name: str, node: yaml.Node | None, where: str
    ) -> tuple[FaqButton, ...]:
        if node is None:
            return ()
        if not isinstance(node, yaml.SequenceNode):
            self.error(name, _line(node), f"{where}: buttons must be a list", "see README.md, FAQ")
            return ()
        buttons: list[FaqButton] = []
        for item in node.value:
            line = _line(item)
            if not isinstance(item, yaml.MappingNode):
                self.error(
                    name, line, f"{where}: a button must be a mapping", "{text: .., url: ..}"
                )
                continue
            values = {str(k.value): _text(v) for k, v in item.value}
            url, target, action = values.get("url"), values.get("faq"), values.get("action")
            labels = self._read_labels(name, item, where)
            text = labels.get(DEFAULT_LANGUAGE) or next(iter(labels.values()), None)
            unknown = set(values) - {"text", "url", "faq", "action"}
            if unknown:
                self.warn(name, line, f"{where}: unknown button field {sorted(unknown)}", "")
            if not text:
                self.error(name, line, f"{where}: a button has no text", "add 'text: ...'")
                continue
            if sum(value is not None for value in (url, target, action)) != 1:
                self.error(
                    name,
                    line,
                    f"{where}: button '{text}' needs one of url, faq or action",
                    "pick one",
                )
                continue
            if action is not None and action not in ACTIONS:
                self.error(
                    name,
                    line,
                    f"{where}: button '{text}' has unknown action '{action}'",
                    f"use one of: {', '.join(ACTIONS)}",
                )
                continue
            if url is not None and not url.startswith(("https://", "http://", "tg://")):
                self.error(name, line, f"{where}: button url '{url}' is not a link", "https://…")
                continue
            for label in labels.values():
                if len(label) > BUTTON_TEXT_LIMIT:
                    self.warn(
                        name,
                        line,
                        f"{where}: button text '{label}' is {len(label)} characters",
                        f"VK shows at most {BUTTON_TEXT_LIMIT}",
                    )
            if target is not None:
                self._links.append((name, line, target))
            buttons.append(
                FaqButton(
                    text=text,
                    url=url,
                    faq=target,
                    action=action,
                    texts=MappingProxyType(labels),
                )
            )
        return tuple(buttons)

    def _read_labels(self, name: str, button: yaml.MappingNode, where: str) -> dict[str, str]:
        """A button's `text`: one label, or a mapping language -> label (as `answer` may be)."""
        node = next((v for k, v in button.value if str(k.value) == "text"), None)
        if node is None:
            return {}
        labels = self._read_localized(name, node, f"{where}: a button label", empty_single=False)
        return {language: text for language, (text, _) in labels.items()}

    def _read_bool(self, name: str, node: yaml.Node | None, where: str) -> bool:
        if node is None:
            return False
        if isinstance(node, yaml.ScalarNode) and node.tag.endswith(":bool"):
            return bool(yaml.constructor.SafeConstructor().construct_object(node))
        self.error(name, _line(node), f"{where}: handoff must be true or false", "")
        return False

    def _check_questions(
        self, name: str, node: yaml.Node, entry_id: str, questions: tuple[str, ...]
    ) -> None:
        items = node.value if isinstance(node, yaml.SequenceNode) else [node]
        lines = [_line(item) for item in items if _text(item)]
        for question, line in zip(questions, lines, strict=False):
            key = " ".join(question.casefold().replace("ё", "е").split()).strip("?!. ")
            seen = self._questions.get(key)
            if seen is None:
                self._questions[key] = (entry_id, f"{name}:{line}")
            elif seen[0] == entry_id:
                self.warn(name, line, f"entry '{entry_id}' repeats '{question}'", "delete one")
            else:
                self.error(
                    name,
                    line,
                    f"question '{question}' is in both '{seen[0]}' ({seen[1]}) and '{entry_id}'",
                    "keep it in one entry",
                )


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _empty(node: yaml.Node) -> bool:
    """A YAML null (``answer:`` with nothing after it) or an empty list or mapping."""
    if isinstance(node, yaml.ScalarNode):
        return node.tag.endswith(":null")
    return not node.value


def _text(node: yaml.Node) -> str | None:
    """A scalar's literal text; None for lists, mappings and empty values."""
    if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null"):
        return None
    return str(node.value)


def _yaml_hint(what: str, text: str = "", line: int = 0) -> str:
    lines = text.splitlines()
    around = lines[max(line - 2, 0) : line] if line else []
    if "tab" in what or any(row[: len(row) - len(row.lstrip())].count("\t") for row in around):
        return "indent with spaces, not tabs"
    if "mapping values" in what:
        return "put the text in double quotes: a colon followed by a space starts a new field"
    if "expected" in what and ("]" in what or "}" in what):
        return "close the bracket or quote the text"
    return "check quotes and indentation on this line and the one above"
