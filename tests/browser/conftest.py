"""Browser fixtures: one Chromium per session, a fresh context per test, the app on real TCP.

Playwright's async objects belong to the event loop that created them, so the browser, the app
under test and every test in this folder run on pytest-asyncio's *session* loop
(``loop_scope="session"`` here and in each module's ``pytestmark``); a browser shared by the
session could not serve tests that each get a loop of their own.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import (
    Browser,
    BrowserContext,
    Frame,
    Page,
    async_playwright,
    expect,
)

from bots.runner import SERVICES, Services, build_app
from config.settings import load_settings
from storage.state import StateKey
from tests.services import IN_CI

CHROMIUM = Path(os.environ.get("TEST_CHROMIUM_PATH", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    "--no-first-run",
    "--disable-component-update",
    "--disable-sync",
]
TITLE = "Магазин «Ромашка» <24/7>"
"""The configured chat title; its ``<`` and ``>`` check that the page escapes it."""

NewContext = Callable[..., Awaitable[BrowserContext]]
Site = Callable[[str], Awaitable[str]]


@dataclass(frozen=True)
class Bot:
    """The running app: its address (ending in ``/``) and its services."""

    url: str
    services: Services

    async def entry_of(self, frame: Page | Frame) -> str | None:
        """The deep-link payload the bot remembers for the visitor of ``frame``'s chat."""
        visitor = await frame.evaluate("localStorage.getItem('otklik.webchat.visitor')")
        data = await self.services.states.get_data(StateKey("webchat", visitor, visitor))
        entry: str | None = data.get("entry")
        return entry


def require_chromium() -> None:
    """Skip (locally) or fail (with ``CI=true``) when Chromium is not installed."""
    if CHROMIUM.exists():
        return
    message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    if IN_CI:
        pytest.fail(f"{message}; with CI=true the browser tests must run, not skip")
    pytest.skip(message)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless; Playwright's own browser download is not used."""
    require_chromium()
    expect.set_options(timeout=10_000)
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        yield chromium
        await chromium.close()


@pytest_asyncio.fixture(loop_scope="session")
async def new_context(browser: Browser) -> AsyncIterator[NewContext]:
    """Make a browser context (a separate shopper: own storage); closed after the test.

    Uncaught JavaScript errors on any of its pages fail the test.
    """
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    async def make(locale: str = "ru-RU") -> BrowserContext:
        context = await browser.new_context(locale=locale)
        context.set_default_timeout(10_000)
        context.on("weberror", lambda error: errors.append(str(error.error)))
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        await context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest_asyncio.fixture(loop_scope="session")
async def page(new_context: NewContext) -> Page:
    """A page in a fresh Russian-speaking browser: a new visitor."""
    context = await new_context()
    return await context.new_page()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def bot(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Bot]:
    """The whole app (``build_app``) on 127.0.0.1 and a random port, over real TCP.

    One app serves the session: each test's fresh browser context is a new visitor with a
    conversation of its own, and starting the app per test would double the suite's time.
    Settings as in ``make_settings``: a fresh SQLite file, the semantic FAQ stage off.
    """
    environ = {
        "OTKLIK_DATABASE__SQLITE_PATH": str(tmp_path_factory.mktemp("browser") / "otklik.db"),
        "OTKLIK_FAQ__MATCHER__SEMANTIC": "false",
        "OTKLIK_WEBCHAT__TITLE": TITLE,
    }
    app = build_app(load_settings(None, environ))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield Bot(str(server.make_url("/")), app[SERVICES])
    await server.close()


@pytest_asyncio.fixture(loop_scope="session")
async def site() -> AsyncIterator[Site]:
    """Serve an HTML page as a chain's own site, on another port (so another origin)."""
    servers: list[TestServer] = []

    async def serve(html: str) -> str:
        async def index(request: web.Request) -> web.Response:
            return web.Response(text=html, content_type="text/html")

        app = web.Application()
        app.router.add_get("/", index)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        return str(server.make_url("/"))

    yield serve
    for server in servers:
        await server.close()
