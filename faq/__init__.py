"""FAQ: a YAML knowledge base content staff edit, and a matcher for how shoppers type."""

from faq.loader import FaqError, load_faq
from faq.matcher import FaqMatcher, Match, MatchResult, Outcome
from faq.model import Faq, FaqButton, FaqEntry
from faq.service import FaqService
from faq.settings import MatcherSettings

__all__ = [
    "Faq",
    "FaqButton",
    "FaqEntry",
    "FaqError",
    "FaqMatcher",
    "FaqService",
    "Match",
    "MatchResult",
    "MatcherSettings",
    "Outcome",
    "load_faq",
]
