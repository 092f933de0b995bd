"""Recorded and documented platform payloads in ``tests/fixtures/<platform>/*.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def payload_path(platform: str, name: str) -> Path:
    """The file of one payload."""
    return FIXTURES / platform / f"{name}.json"


def payload(platform: str, name: str) -> dict[str, Any]:
    """One payload, parsed."""
    data: dict[str, Any] = json.loads(payload_path(platform, name).read_text(encoding="utf-8"))
    return data


def payload_names(platform: str) -> list[str]:
    """Every payload of a platform, by name, in a stable order."""
    return sorted(path.stem for path in (FIXTURES / platform).glob("*.json"))
