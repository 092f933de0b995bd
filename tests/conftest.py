"""Shared fixtures: settings on a temporary SQLite file, a running app, real Redis, PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis import Redis as SyncRedis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bots.runner import SERVICES, Services, build_app
from config.settings import Settings, load_settings
from dialogs.clock import ManualClock
from tests.services import IN_CI, POSTGRES_URL, REDIS_URL, require

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def clock() -> ManualClock:
    """A clock tests move by hand."""
    return ManualClock()


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Settings on a fresh SQLite file; keyword arguments are environment variables.

    The semantic FAQ stage is off here to keep app tests fast; the FAQ's own tests cover it.
    """

    def factory(config_file: Path | None = None, **environ: str) -> Settings:
        env = {
            "OTKLIK_DATABASE__SQLITE_PATH": str(tmp_path / "otklik.db"),
            "OTKLIK_FAQ__MATCHER__SEMANTIC": "false",
            **environ,
        }
        return load_settings(config_file, env)

    return factory


class AppHarness:
    """A running otklik app on a test server, with its services at hand."""

    def __init__(self, client: TestClient[Any, Any], services: Services) -> None:
        self.client = client
        self.services = services

    @property
    def url(self) -> str:
        return str(self.client.make_url("/"))


@pytest.fixture
async def start_app() -> AsyncIterator[Callable[..., Any]]:
    """Start ``build_app(settings)`` on a random port; stopped at teardown."""
    started: list[TestClient[Any, Any]] = []

    async def start(settings: Settings, clock: ManualClock | None = None) -> AppHarness:
        app = build_app(settings, clock=clock)
        client: TestClient[Any, Any] = TestClient(TestServer(app))
        await client.start_server()
        started.append(client)
        return AppHarness(client, app[SERVICES])

    yield start
    for client in reversed(started):
        await client.close()


@pytest.fixture
def redis_url() -> str:
    """The real Redis; skip locally or fail in CI when it is down."""
    require("Redis", "127.0.0.1", 6379)
    return REDIS_URL


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    prefix = f"otklik-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = SyncRedis.from_url(redis_url)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """The real PostgreSQL, in a fresh database of this test's own, dropped afterwards."""
    require("PostgreSQL", "127.0.0.1", 5432)
    name = f"otklik_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    yield POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """With CI=true a skipped test is a failed test: CI must never pass by skipping."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped with CI=true, which is not allowed: {report.longrepr}"
