"""Asking a question: the FAQ answers what it can, and says so when it can't.

shopper: [❓ Задать вопрос] | «у меня вопрос»
bot:     «Напишите ваш вопрос одним сообщением…»
shopper: «до скольки открыт магазин»
bot:     the entry's answer [its buttons] (+ offer of a person when the entry asks for it)
         «Помогло?» [👍] [👎]      (one message: the rating sits under the answer)
shopper: «деньги за доставку вернуть» (answered, but another entry scores nearly as well)
bot:     the answer, «Если вы спрашивали о другом:», «Помогло?» [sibling entry] [👍] [👎]
         (kept for content staff as a close call; a tap on the sibling is kept as a pick)
shopper: [👎]
bot:     «Жаль, что не помогло. Сформулируйте иначе — или я позову оператора» [👤] [↩️]
         (a second press under the same answer is answered but not counted again)
shopper: «а парковка есть» (close to several entries)
bot:     «Возможно, вы имели в виду:» [entry A] [entry B] [👤 Позвать оператора]
shopper: [entry A]                      (payload pick:<id>)
bot:     entry A's answer                (the pick is kept: «а парковка есть» meant A)
shopper: «как оформить ипотеку» (nothing close)
bot:     «Я не нашёл ответа… сформулируйте иначе — или я позову оператора» [👤] [↩️]
shopper: «?» | «🤬🤬🤬» (no words at all)
bot:     «В сообщении нет слов — напишите вопрос словами…» [👤] [↩️]
         (suggestions and fallbacks are kept for content staff: ``otklik faq gaps``)
shopper: «привет» / «спасибо»
bot:     small talk, not an FAQ answer
shopper: «во сколько открываетесь» → answered; then «а в воскресенье?» (nothing alone)
bot:     read with the question before it: the opening-hours answer again
         (:meth:`QuestionFlow._in_context`)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from bots.messages import Button
from dialogs.events import AnswerRated, QuestionUnanswered, SuggestionPicked
from dialogs.flows.base import Flow
from dialogs.flows.menu import ASK, FEEDBACK, HANDOFF, MENU, menu_rows, typed_choice
from dialogs.turn import Turn
from dialogs.words import normalized
from faq.gaps import CLOSE_CALL, UNHELPFUL
from faq.loader import KEYBOARD_ROWS
from faq.matcher import MatchResult, Outcome
from faq.model import FaqButton, FaqEntry
from faq.mood import sounds_unhappy

__all__ = [
    "FAQ_PREFIX",
    "PICK_PREFIX",
    "RATE_PREFIX",
    "FaqLookup",
    "QuestionFlow",
    "answer_text",
]

FAQ_PREFIX = "faq:"
PICK_PREFIX = "pick:"
"""A suggested entry's button: answered like ``faq:``, and kept as what the question meant."""
RATE_PREFIX = "rate:"
RATED = "rated"
"""Conversation data: the entries rated since they were last answered (the newest last)."""
MAX_RATED = 20
SUGGESTED = "suggested"
"""Conversation data: the last question, if it got suggestions, the entries offered and when."""
ANSWERED = "answered"
"""Conversation data: the last question answered, its entry and when (a follow-up's context)."""
FOLLOW_UP_WORDS = 6
"""A follow-up leans on the question before it («а в воскресенье?»): it is short."""
FOLLOW_UP_WITHIN = timedelta(minutes=15)
"""An answer older than this is no longer what a short question refers to."""
FOLLOW_UP_OPENINGS = ("а ", "и ", "ну а ", "and ", "what about ", "how about ", "also ")
"""How a follow-up opens: «а в воскресенье?», "and on saturday?"."""
TOPIC_WORDS = 2
"""A message this short names a topic, not a question («доставка», «оплата картой»): when it
gets several suggestions, the bot asks which part of the topic, not «no exact answer»."""


class FaqLookup(Protocol):
    """What the flow needs of the FAQ (``faq.FaqService`` provides it)."""

    def match(self, text: str, language: str | None = None) -> MatchResult: ...

    def entry(self, entry_id: str) -> FaqEntry | None: ...

    def with_referent(self, text: str, earlier: str) -> str | None: ...


class QuestionFlow(Flow):
    """Answers free text from the FAQ."""

    def __init__(self, faq: FaqLookup, max_question_length: int) -> None:
        self._faq = faq
        self._max_length = max_question_length

    async def handle(self, turn: Turn) -> bool:
        if turn.payload == ASK or (turn.payload is None and typed_choice(turn.text) == ASK):
            turn.say(turn.t("question.prompt"), [turn.button("menu.back", MENU)])
            return True
        if turn.payload is not None and turn.payload.startswith(FAQ_PREFIX):
            self._answer_by_id(turn, turn.payload.removeprefix(FAQ_PREFIX))
            return True
        if turn.payload is not None and turn.payload.startswith(PICK_PREFIX):
            entry_id = turn.payload.removeprefix(PICK_PREFIX)
            suggested = turn.data.get(SUGGESTED)
            if self._answer_by_id(turn, entry_id):
                if isinstance(suggested, dict) and entry_id in suggested.get("ids", ()):
                    _remember_answer(turn, str(suggested["question"]), entry_id)
                self._picked(turn, entry_id)
            return True
        if turn.payload is not None and turn.payload.startswith(RATE_PREFIX):
            self._rated(turn, turn.payload.removeprefix(RATE_PREFIX))
            return True
        if not turn.text:
            return False
        # A tap on an older question's suggestion does not say what this one meant; and a
        # follow-up leans only on the question right before it, if that one was answered.
        suggested = turn.data.pop(SUGGESTED, None)
        answered = turn.data.pop(ANSWERED, None)
        if len(turn.text) > self._max_length:
            turn.data["last_question"] = turn.text[:500]  # what a person asked for now sees
            turn.say(
                turn.t("question.too_long", limit=self._max_length), *self._alternatives(turn)
            )
            return True
        turn.data["last_question"] = turn.text[:500]
        # The sentence encoder takes milliseconds of CPU: off the event loop, so other
        # shoppers' messages (and open transactions) are not held up behind it.
        result = await asyncio.to_thread(self._faq.match, turn.text, turn.language)
        asked = turn.text
        if result.outcome in (Outcome.SUGGEST, Outcome.FALLBACK):
            result, asked = await self._in_context(turn, result, answered, suggested)
        if result.outcome is Outcome.SMALLTALK:
            turn.say(turn.t(f"smalltalk.{_smalltalk_key(result.smalltalk)}"), *menu_rows(turn))
        elif result.outcome is Outcome.ANSWER and result.matches:
            self._answer(turn, result, asked)
        elif result.outcome is Outcome.SUGGEST and result.matches:
            # The question as read: «а она быстрая?» is kept as «а доставка быстрая?».
            offered = self._suggest(turn, result, asked)
            self._unanswered(turn, str(result.outcome), offered, asked)
        else:
            # «?» or a row of emoji: nothing was looked up, so «no answer to this question»
            # would be wrong; ask for words instead.
            wordless = not any(character.isalnum() for character in turn.text)
            if sounds_unhappy(turn.text):
                # «вы ужасные»: no question to answer; what went wrong is worth keeping.
                turn.say(
                    turn.t("question.unhappy"),
                    [turn.button("menu.feedback", FEEDBACK)],
                    *self._alternatives(turn),
                )
            else:
                text = turn.t("question.no_words" if wordless else "question.not_found")
                turn.say(text, *self._alternatives(turn))
            self._unanswered(turn, str(result.outcome), ())
        return True

    async def _in_context(
        self, turn: Turn, alone: MatchResult, answered: object, suggested: object
    ) -> tuple[MatchResult, str]:
        """A short message the FAQ cannot answer alone, read with the question before it.

        First, a pronoun after an answer stands for what that question named: «а она
        бесплатная?» after «как получить карту лояльности» is asked as «а карту лояльности
        бесплатная?», and gets that reading's answer or suggestions (:mod:`faq.reference`).
        Read together with the whole earlier question instead, the earlier question would win
        («а она быстрая?» after the delivery price would get the price again).

        Then two kinds. A follow-up to an answer: «а в воскресенье?» right after «во сколько
        открываетесь» means opening hours on Sunday. Only a message that opens like one
        («а …», «и …», "and …", "what about …") is: «спасибо продавцу Марине» after an
        answer about spoiled food is not about spoiled food. And a reply to suggestions:
        «доставка» got «Что именно вас интересует?» with three delivery entries, and the
        shopper types «сколько стоит» instead of tapping; it may open any way, but only an
        offered entry can be its answer. Either way the two are read together and answered
        when the short message itself points, if only faintly, at that entry: alone, it
        would offer the entry as a button, or, offering none, comes closest to it. (Not
        merely "among its three closest": in a small FAQ that is nearly every entry.)
        «а парковка есть?» after delivery cost points elsewhere and stays unanswered rather
        than getting the delivery answer again. Returns the result
        and the question it answers: after an answer, the earlier question, so a second
        follow-up («а в субботу?») is read with it too, not with a chain of everything
        asked since; after suggestions, the two together, the first question answered.
        """
        said = normalized(turn.text)
        if len(said.split()) > FOLLOW_UP_WORDS:
            return alone, turn.text
        if isinstance(answered, dict) and _recent(turn, answered):
            # «а она бесплатная?»: the pronoun is what the answered question named.
            earlier = str(answered.get("question", ""))
            resolved = self._faq.with_referent(turn.text, earlier)
            if resolved is not None:
                result = await asyncio.to_thread(self._faq.match, resolved, turn.language)
                if result.outcome in (Outcome.ANSWER, Outcome.SUGGEST):
                    turn.data["last_question"] = resolved[:500]
                    return result, resolved
        pointed = alone.matches if alone.outcome is Outcome.SUGGEST else alone.matches[:1]
        nearby = {match.entry_id for match in pointed}
        if isinstance(answered, dict) and said.startswith(FOLLOW_UP_OPENINGS):
            earlier = str(answered.get("question", ""))
            found = await self._read_with(turn, answered, earlier, nearby)
            if found is not None:
                return found, earlier
        if isinstance(suggested, dict):
            offered = {str(entry_id) for entry_id in suggested.get("ids", ())}
            earlier = str(suggested.get("question", ""))
            found = await self._read_with(turn, suggested, earlier, nearby & offered)
            if found is not None:
                return found, f"{earlier} {turn.text}"
        return alone, turn.text

    async def _read_with(
        self, turn: Turn, before: dict[str, object], earlier: str, allowed: set[str]
    ) -> MatchResult | None:
        """The answer to `earlier` and this message together, if it is one of `allowed` and
        `before` (an answer or suggestions) is recent enough to be what the message means."""
        if not allowed or not _recent(turn, before):
            return None
        together = f"{earlier} {turn.text}"
        result = await asyncio.to_thread(self._faq.match, together, turn.language)
        if result.outcome is Outcome.ANSWER and result.matches[0].entry_id in allowed:
            turn.data["last_question"] = together[:500]  # what a person asked for now sees
            return result
        return None

    def _answer(self, turn: Turn, result: MatchResult, asked: str) -> None:
        """A confident answer; a sibling nearly as close goes under it, as a close call.

        Which of the two the shopper meant is a gap content staff should see, so the
        question is kept like an unanswered one and a tap on the sibling like a pick.
        """
        answered = result.matches[0].entry_id
        entry = self._faq.entry(answered)
        _remember_answer(turn, asked, answered, [m.entry_id for m in result.others])
        siblings: list[FaqEntry] = []
        if entry is not None:
            # An entry its own buttons already lead to needs no second button; and the
            # rating must stay in the answer's message.
            linked = {button.faq for button in entry.buttons if button.faq}
            room = KEYBOARD_ROWS - entry.answer_rows
            siblings = [
                other
                for other in (self._faq.entry(match.entry_id) for match in result.also)
                if other is not None and other.id != answered and other.id not in linked
            ][: max(room, 0)]
        if self._answer_by_id(turn, answered, siblings) and siblings:
            offered = tuple(other.id for other in siblings)
            _remember_suggested(turn, turn.text, offered)
            # The answer given goes first: content staff see which two entries were close.
            self._unanswered(turn, CLOSE_CALL, (answered, *offered))

    @staticmethod
    def _unanswered(
        turn: Turn, outcome: str, offered: tuple[str, ...], text: str | None = None
    ) -> None:
        turn.emit(
            QuestionUnanswered(
                conversation_id=turn.conversation_id,
                channel=turn.message.channel,
                text=turn.text if text is None else text,
                outcome=outcome,
                suggestions=offered,
                at=turn.now,
            )
        )

    @staticmethod
    def _picked(turn: Turn, entry_id: str) -> None:
        """A tap on a suggestion: which entry the last question, an unsure one, meant.

        Counted once per question, and only while no other question has been asked since:
        the suggestions under an older question do not say what a newer one meant.
        """
        suggested = turn.data.get(SUGGESTED)
        if not isinstance(suggested, dict) or entry_id not in suggested.get("ids", ()):
            return
        del turn.data[SUGGESTED]
        turn.emit(
            SuggestionPicked(turn.conversation_id, suggested["question"], entry_id, turn.now)
        )

    def _rated(self, turn: Turn, rating: str) -> None:
        entry_id, _, verdict = rating.rpartition(":")
        helpful = verdict == "yes"
        # The 👍/👎 stay under the answer, so a second press (or one on an older answer to
        # the same question) must not count twice in the ratings content staff read.
        rated: list[str] = turn.data.setdefault(RATED, [])
        first = entry_id not in rated
        if first:
            turn.emit(AnswerRated(turn.conversation_id, entry_id, helpful, turn.now))
            rated.append(entry_id)
            del rated[:-MAX_RATED]
        if helpful:
            turn.say(turn.t("question.rated_helpful"))
            return
        rows = self._other_entries(turn, entry_id, first)
        if rows:
            turn.say(turn.t("question.rated_unhelpful_others"), *rows, *self._alternatives(turn))
        else:
            turn.say(turn.t("question.rated_unhelpful"), *self._alternatives(turn))

    def _other_entries(self, turn: Turn, entry_id: str, first: bool) -> list[list[Button]]:
        """After 👎: the other entries the question came close to, as suggestion buttons.

        Only under the latest answer, whose question they were close to. The question is
        kept for content staff with the entry answered and those offered (the first press
        only), and a tap as a pick, like a suggestion's: which entry the question meant.
        """
        answered = turn.data.get(ANSWERED)
        if not isinstance(answered, dict) or answered.get("entry") != entry_id:
            return []
        entries = [self._faq.entry(str(other)) for other in answered.get("others", ())]
        offered = [entry for entry in entries if entry is not None]
        if not offered:
            return []
        question = str(answered["question"])
        ids = tuple(entry.id for entry in offered)
        _remember_suggested(turn, question, ids)
        if first:
            self._unanswered(turn, UNHELPFUL, (entry_id, *ids), text=question)
        return [
            [Button(text=_label(entry, turn.language), payload=PICK_PREFIX + entry.id)]
            for entry in offered
        ]

    def _answer_by_id(self, turn: Turn, entry_id: str, siblings: Sequence[FaqEntry] = ()) -> bool:
        """Answer with the entry; False when it no longer exists (removed from the FAQ).

        `siblings` are entries the matcher found nearly as close: they are offered under
        the answer, so a shopper who got the wrong sibling is one tap from the right one.
        """
        entry = self._faq.entry(entry_id)
        if entry is None:
            turn.say(turn.t("question.entry_missing"), *self._alternatives(turn))
            return False
        if entry.id in turn.data.get(RATED, ()):
            turn.data[RATED].remove(entry.id)  # answered again: this answer may be rated
        rows = [[_faq_button(button, turn.language)] for button in entry.buttons]
        offer = None
        if entry.handoff:
            offer = turn.t("question.offer_handoff")
            rows.append([turn.button("menu.handoff", HANDOFF)])
        for other in siblings:
            rows.append(
                [Button(text=_label(other, turn.language), payload=PICK_PREFIX + other.id)]
            )
        other_question = turn.t("question.also") if siblings else None
        # The rating rides on the answer itself: one message, and the 👍/👎 stay next to
        # the answer they rate even when the shopper scrolls back.
        rows.append(
            [
                Button(text="👍", payload=f"{RATE_PREFIX}{entry.id}:yes"),
                Button(text="👎", payload=f"{RATE_PREFIX}{entry.id}:no"),
            ]
        )
        text = answer_text(
            entry.answer_for(turn.language), offer, turn.t("question.rate"), other_question
        )
        turn.say(text, *rows)
        return True

    def _suggest(self, turn: Turn, result: MatchResult, asked: str) -> tuple[str, ...]:
        """Offer the closest entries as buttons; returns the ids offered. ``asked`` is the
        question as read, kept as what a tap on one of them answers."""
        rows: list[list[Button]] = []
        offered: list[str] = []
        for match in result.matches:
            entry = self._faq.entry(match.entry_id)
            if entry is not None:
                label = _label(entry, turn.language)
                rows.append([Button(text=label, payload=PICK_PREFIX + entry.id)])
                offered.append(entry.id)
        # The whole question, as the unanswered record keeps it: `faq gaps` joins them by text.
        _remember_suggested(turn, asked, offered)
        rows.append([turn.button("menu.handoff", HANDOFF)])
        if sounds_unhappy(turn.text):
            # «ужасная доставка» is a complaint first: feedback leads, the entries follow.
            feedback = [turn.button("menu.feedback", FEEDBACK)]
            turn.say(turn.t("question.unhappy_suggest"), feedback, *rows)
        elif len(offered) > 1 and len(normalized(turn.text).split()) <= TOPIC_WORDS:
            turn.say(turn.t("question.clarify"), *rows)
        else:
            turn.say(turn.t("question.suggest"), *rows)
        return tuple(offered)

    @staticmethod
    def _alternatives(turn: Turn) -> list[list[Button]]:
        return [[turn.button("menu.handoff", HANDOFF)], [turn.button("menu.back", MENU)]]


def _recent(turn: Turn, before: dict[str, object]) -> bool:
    """Whether ``before`` (an answer or suggestions) is recent enough for a short message to
    refer to it."""
    try:
        at = datetime.fromisoformat(str(before["at"]))
    except (KeyError, ValueError):
        return False
    return timedelta(0) <= turn.now - at <= FOLLOW_UP_WITHIN


def answer_text(answer: str, offer: str | None, rate: str, also: str | None = None) -> str:
    """An FAQ answer as sent: the entry's text, the offer of an operator if any, the line
    over a sibling entry's button if any, «Помогло?».

    ``otklik faq check`` keeps ``faq.loader.ANSWER_ROOM`` characters free for these additions.
    """
    return "\n\n".join(part for part in (answer, offer, also, rate) if part)


_ACTION_PAYLOADS = {"feedback": FEEDBACK, "handoff": HANDOFF}
"""An FAQ `action` button presses the menu's own button (``faq.model.ACTIONS``)."""


def _faq_button(button: FaqButton, language: str) -> Button:
    text = button.text_for(language)
    if button.url:
        return Button(text=text, url=button.url)
    if button.action:
        return Button(text=text, payload=_ACTION_PAYLOADS[button.action])
    return Button(text=text, payload=FAQ_PREFIX + (button.faq or ""))


def _label(entry: FaqEntry, language: str) -> str:
    """The entry's first phrasing, preferring one written in the shopper's alphabet."""
    latin = language != "ru"
    for question in entry.questions:
        if any("a" <= ch.lower() <= "z" for ch in question) == latin:
            return question
    return entry.questions[0] if entry.questions else entry.id


def _remember_answer(turn: Turn, question: str, entry_id: str, others: Sequence[str] = ()) -> None:
    """Keep what was just answered: the context of a follow-up question, and the other
    entries the question came close to, for a 👎."""
    turn.data[ANSWERED] = {
        "question": question[:500],
        "entry": entry_id,
        "at": turn.now.isoformat(),
        "others": list(others),
    }


def _remember_suggested(turn: Turn, question: str, ids: Sequence[str]) -> None:
    """Keep the entries just offered for a question: a tap on one is a pick, and a short typed
    reply («сколько стоит») may be choosing among them."""
    turn.data[SUGGESTED] = {"question": question, "ids": list(ids), "at": turn.now.isoformat()}


def _smalltalk_key(kind: str | None) -> str:
    return kind if kind in {"greeting", "thanks", "bye", "ack", "how_are_you"} else "other"
