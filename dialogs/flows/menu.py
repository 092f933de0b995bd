"""The main menu: where every conversation starts and where «меню» or /start brings it back.

    shopper: /start [PAYLOAD] | «меню» | [↩️ В меню]
    bot:     greeting + [❓ Задать вопрос] [✍️ Оставить отзыв] [👤 Позвать оператора]

    shopper: /help | «помощь» | «что ты умеешь» | «ты бот?»   (at the top level)
    bot:     what the bot does and what it does not + the same choices

A choice typed instead of tapped («оставить отзыв», «у меня вопрос») counts as the tap
(:func:`typed_choice`); the feedback and question flows ask for it.

A deep-link payload (``/start qr-store-12``, a VK ``ref``, a Viber ``context``) is remembered as
the conversation's entry point for the flows that need it (QR queue signals, campaigns). VK
attaches its ``ref`` to whatever the shopper sends first, often a question typed straight
away: that question is answered, not greeted.
"""

from __future__ import annotations

from bots.messages import Button
from dialogs.flows.base import Flow
from dialogs.turn import Turn
from dialogs.words import command_words, normalized

__all__ = [
    "ASK",
    "FEEDBACK",
    "HANDOFF",
    "MENU",
    "MenuFlow",
    "menu_rows",
    "show_menu",
    "typed_choice",
]

MENU = "menu"
ASK = "menu:ask"
FEEDBACK = "menu:feedback"
HANDOFF = "menu:handoff"

_MENU_WORDS = frozenset({"/start", "/menu", "меню", "menu", "start", "начать", "старт"})
_HELP = frozenset(
    {
        "/help", "help", "помощь", "помогите", "помоги", "что ты умеешь", "что вы умеете",
        "что ты можешь", "что умеешь", "что умеет бот", "ты бот", "вы бот", "ты робот",
        "это бот", "я говорю с ботом", "с кем я говорю", "кто ты", "кто вы", "what can you do",
        "are you a bot", "are you a robot", "is this a bot", "who are you", "help me",
    }
)  # fmt: skip
"""Whole messages asking what this chat is (Telegram clients offer /help themselves)."""
_TYPED_CHOICES = {
    ASK: frozenset(
        {
            "задать вопрос", "вопрос", "у меня вопрос", "есть вопрос", "можно вопрос",
            "хочу задать вопрос", "ask a question", "question", "i have a question",
        }
    ),
    FEEDBACK: frozenset(
        {
            "оставить отзыв", "отзыв", "написать отзыв", "хочу оставить отзыв",
            "хочу написать отзыв", "leave feedback", "feedback", "leave a review", "review",
        }
    ),
}  # fmt: skip


def typed_choice(text: str) -> str | None:
    """The menu choice a shopper typed instead of tapping it («оставить отзыв», «у меня вопрос»).

    Only the whole message counts: «как оставить отзыв о курьере» is a question.
    """
    said = normalized(text)
    return next((choice for choice, words in _TYPED_CHOICES.items() if said in words), None)


def menu_rows(turn: Turn) -> list[list[Button]]:
    """The three main choices, one per row."""
    return [
        [turn.button("menu.ask", ASK)],
        [turn.button("menu.feedback", FEEDBACK)],
        [turn.button("menu.handoff", HANDOFF)],
    ]


def show_menu(turn: Turn, text: str | None = None) -> None:
    """Answer with ``text`` (or the menu prompt) and the main choices; back to the top level."""
    turn.goto(None)
    turn.say(text or turn.t("menu.prompt"), *menu_rows(turn))


class MenuFlow(Flow):
    """Claims /start, «меню» and the menu button; remembers deep-link payloads."""

    async def handle(self, turn: Turn) -> bool:
        deeplink = turn.message.deeplink_payload
        # Inside a step the message is usually its answer («Меню ужасное» is feedback): there
        # only a menu word on its own leaves it; at the top level «меню пожалуйста» does too.
        words = command_words(turn.text, limit=2 if turn.step is None else 1)
        asked_for_menu = turn.payload == MENU or bool(words & _MENU_WORDS)
        if turn.step is None and turn.payload is None and normalized(turn.text) in _HELP:
            show_menu(turn, turn.t("menu.help"))
            return True
        if deeplink:
            turn.data["entry"] = deeplink
            if turn.text and not asked_for_menu:
                return False  # a question that came with the link: the other flows answer it
        elif not asked_for_menu:
            return False
        turn.data.pop("last_question", None)  # a fresh start: an old question is no reason
        greeting = turn.t("menu.greeting") if "/start" in words or deeplink else None
        show_menu(turn, greeting)
        return True
