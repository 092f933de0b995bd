"""Asking for a person.

    shopper: «оператор» | «позовите человека» | [👤 Позвать оператора]
    bot:     «Передаю разговор оператору…» [✖️ Отменить]        → step handoff.waiting
    shopper: (anything while waiting)
    bot:     «Вы уже в очереди…» [✖️ Отменить]
    shopper: [✖️ Отменить] | «отмена» | «вопрос решился»
             (also after «меню» left the step, while the request is open)
    bot:     «Запрос отменён» + menu                                → top level

The request's reason is its own text when that says why («оператор, у меня дважды списали
деньги»), else the question asked since the last /start or «меню».

The request itself is kept by whoever handles :class:`HandoffRequested` (``handoff/``); the
operator's side of the conversation is not this flow's business.
"""

from __future__ import annotations

from enum import StrEnum

from dialogs.events import HandoffCancelled, HandoffRequested
from dialogs.flows.base import Flow
from dialogs.flows.menu import HANDOFF, show_menu
from dialogs.turn import Turn
from dialogs.words import command_words, normalized

__all__ = ["CANCEL", "HandoffFlow", "Step", "asks_for_person"]


class Step(StrEnum):
    WAITING = "handoff.waiting"


CANCEL = "handoff:cancel"

_PERSON_STEMS = ("оператор", "человек", "менеджер", "консультант", "специалист")
"""A word starting with one of these names a person in any case: «с оператором», «человеку»."""
_PERSON_WORDS = frozenset(
    {
        "живой", "живого", "живым", "живому", "operator", "operators", "human", "humans",
        "person", "agent", "agents", "manager", "representative",
    }
)  # fmt: skip
_PERSON_REQUEST_WORDS = 8
"""Longer messages are questions or complaints that mention someone, not a request for one;
English needs more words for the same request ("I want to talk to a real person")."""


_REQUESTED = "handoff_requested"
"""Data key: a request was made and not cancelled here (the cancel button outlives the step)."""
_REQUEST_WORDS = frozenset(
    {
        "хочу", "хотел", "хотела", "бы", "поговорить", "говорить", "пообщаться", "связаться",
        "связь", "соедините", "соединить", "переключите", "позовите", "позови", "позвать",
        "вызовите", "дайте", "дай", "нужен", "нужна", "мне", "можно", "пожалуйста", "пж",
        "пжл", "плиз", "срочно", "с", "со", "на", "к", "ко", "и", "а", "где", "есть", "ваш",
        "вашим", "вашего", "please", "pls", "i", "id", "want", "would", "like", "to", "talk",
        "speak", "chat", "a", "an", "the", "with", "real", "live", "can", "could", "connect",
        "me", "need", "get", "let", "is", "there", "any", "your", "someone", "somebody",
        "anyone", "anybody", "кем", "то", "нибудь", "либо",
    }
)  # fmt: skip
"""Words of a request that say nothing about why («хочу поговорить с живым человеком»)."""


_TYPED_CANCEL = frozenset(
    {
        "отмена", "отменить", "отмените", "отмени", "отменяю", "отменить запрос",
        "отмените запрос", "отменить оператора", "отбой", "уже не надо", "уже не нужно",
        "больше не нужно", "не нужен оператор", "оператор не нужен", "вопрос решен",
        "вопрос решился", "вопрос снят", "все решилось", "cancel", "cancel request",
        "cancel it", "never mind", "nevermind", "no longer needed", "its solved", "solved",
    }
)  # fmt: skip
"""Whole messages that withdraw a request, as the button does: a shopper types «отмена»."""


_SOMEONE = frozenset({"someone", "somebody", "anyone", "anybody", "кем"})
_TALK = frozenset(
    {
        "talk", "speak", "chat", "connect", "поговорить", "говорить", "пообщаться",
        "связаться", "соедините", "соединить",
    }
)  # fmt: skip
"""«Someone» names a person only beside a verb of talking: "I want to speak to someone"."""


def asks_for_person(text: str) -> bool:
    """A short message that names a person to talk to («оператор», «соедините с человеком»,
    "can I speak to someone")."""
    words = command_words(text, limit=_PERSON_REQUEST_WORDS)
    return (
        bool(words & _PERSON_WORDS)
        or any(w.startswith(_PERSON_STEMS) for w in words)
        or bool(words & _SOMEONE and words & _TALK)
    )


def _says_why(text: str) -> bool:
    """Whether a request holds more than asking for someone («оператор, списали дважды»)."""
    return any(
        word not in _REQUEST_WORDS
        and word not in _PERSON_WORDS
        and not word.startswith(_PERSON_STEMS)
        for word in normalized(text).split()
    )


class HandoffFlow(Flow):
    """Queues a request for a person and keeps the shopper informed while they wait."""

    async def handle(self, turn: Turn) -> bool:
        waiting = turn.step == Step.WAITING
        typed_cancel = normalized(turn.text) in _TYPED_CANCEL and (
            waiting or bool(turn.data.get(_REQUESTED))
        )
        if turn.payload == CANCEL or typed_cancel:
            # The button stays under an old message after «меню» left the waiting step: it
            # still cancels the request that is open.
            requested = turn.data.pop(_REQUESTED, False)
            if waiting or requested:
                turn.emit(HandoffCancelled(turn.conversation_id, turn.now))
                show_menu(turn, turn.t("handoff.cancelled"))
            else:
                show_menu(turn)
            return True
        if turn.payload == HANDOFF or asks_for_person(turn.text):
            if not waiting:
                self._request(turn)
            else:
                self._remind(turn)
            return True
        if waiting:
            self._remind(turn)
            return True
        return False

    def _request(self, turn: Turn) -> None:
        # «оператор, у меня дважды списали деньги» says why itself; «оператор» alone does not,
        # and then the question the shopper asked last is the best guess.
        reason = turn.text if _says_why(turn.text) else turn.data.get("last_question")
        turn.data[_REQUESTED] = True
        turn.emit(
            HandoffRequested(
                conversation_id=turn.conversation_id,
                channel=turn.message.channel,
                chat_id=turn.message.chat_id,
                reason=reason if isinstance(reason, str) else None,
                at=turn.now,
            )
        )
        turn.goto(Step.WAITING)
        turn.say(turn.t("handoff.queued"), [turn.button("handoff.cancel", CANCEL)])

    def _remind(self, turn: Turn) -> None:
        turn.say(turn.t("handoff.already_waiting"), [turn.button("handoff.cancel", CANCEL)])
