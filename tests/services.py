"""Reaching the real Redis and PostgreSQL servers the tests run against.

Locally a missing server skips the tests that need it; with ``CI=true`` it fails them, so a CI
run can never pass by skipping.
"""

from __future__ import annotations

import os
import socket

import pytest

REDIS_URL = os.environ.get("OTKLIK_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
POSTGRES_URL = os.environ.get(
    "OTKLIK_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def port_open(host: str, port: int) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require(service: str, host: str, port: int) -> None:
    """Skip (locally) or fail (in CI) when ``service`` does not answer."""
    if port_open(host, port):
        return
    message = f"{service} is not answering on {host}:{port}"
    if IN_CI:
        pytest.fail(f"{message}; with CI=true this test must run, not skip")
    pytest.skip(message)
