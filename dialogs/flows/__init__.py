"""Conversations, one per module, each readable top to bottom as the shopper experiences it."""

from dialogs.flows.base import Flow
from dialogs.flows.fallback import FallbackFlow
from dialogs.flows.feedback import FeedbackFlow
from dialogs.flows.handoff import HandoffFlow
from dialogs.flows.menu import MenuFlow
from dialogs.flows.phone import PhoneFlow
from dialogs.flows.question import FaqLookup, QuestionFlow

__all__ = [
    "FallbackFlow",
    "FaqLookup",
    "FeedbackFlow",
    "Flow",
    "HandoffFlow",
    "MenuFlow",
    "PhoneFlow",
    "QuestionFlow",
]
