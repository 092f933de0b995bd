"""Leaving feedback.

shopper: [✍️ Оставить отзыв] | «оставить отзыв» (typed at the top level)
bot:     «Напишите отзыв одним сообщением…» [↩️ В меню]          → step feedback.awaiting
shopper: text and/or photo
bot:     «Спасибо! Ваш отзыв записан…» + menu                     → top level
shopper: (a sticker, an empty message)
bot:     «Отзыв не получил — в нём нет ни текста, ни фото…» [↩️ В меню]
shopper: (a button under an earlier message)
bot:     what that button does                                    → top level

While the step waits, words that mean something elsewhere are feedback here: «человек на кассе
нагрубил» calls nobody, «Меню ужасное» opens nothing, a phone number is part of the text. (The
engine asks this flow before the phone and handoff flows; only «меню» on its own comes first.)
"""

from __future__ import annotations

from enum import StrEnum

from bots.messages import Photo, SharedContact
from dialogs.events import FeedbackLeft
from dialogs.flows.base import Flow
from dialogs.flows.menu import FEEDBACK, MENU, show_menu, typed_choice
from dialogs.turn import Turn

__all__ = ["FeedbackFlow", "Step"]


class Step(StrEnum):
    AWAITING = "feedback.awaiting"


class FeedbackFlow(Flow):
    """Takes one message of feedback (text, photos or both) and keeps it."""

    async def handle(self, turn: Turn) -> bool:
        if turn.payload == FEEDBACK or (turn.step is None and typed_choice(turn.text) == FEEDBACK):
            turn.goto(Step.AWAITING)
            turn.say(turn.t("feedback.prompt"), [turn.button("menu.back", MENU)])
            return True
        if turn.step != Step.AWAITING:
            return False
        shared = any(isinstance(a, SharedContact) for a in turn.message.attachments)
        if turn.payload is not None or shared:
            # A button (under an earlier message, or «позвать оператора») or a shared phone
            # is not feedback: the step ends and the flow that owns it takes the message.
            turn.goto(None)
            return False
        photos = tuple(a for a in turn.message.attachments if isinstance(a, Photo))
        if not turn.text and not photos:
            turn.say(turn.t("feedback.need_text"), [turn.button("menu.back", MENU)])
            return True
        turn.emit(FeedbackLeft(turn.conversation_id, turn.text, photos, turn.now))
        show_menu(turn, turn.t("feedback.thanks"))
        return True
