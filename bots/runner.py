"""The composition root: everything the bot runs on is built here, from settings, and nowhere else.

:func:`build_app` picks the memory or Redis twins (``REDIS_URL``) and SQLite or PostgreSQL
(``DATABASE_URL``), wires flows, event handlers and channels, and returns an aiohttp application
whose start-up connects everything — failing loudly when a configured server is unreachable —
and whose clean-up closes it. Nothing is built at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from dataclasses import dataclass, field

from aiohttp import web
from redis.asyncio import Redis
from threadpoolctl import threadpool_limits

from bots.channel import Channel
from bots.outbox import Outbox
from bots.pipeline import Pipeline
from bots.registry import ChannelContext, build_channels
from bots.retry import RetryJob
from config.catalog import Catalog, CatalogError
from config.settings import ConfigError, Settings
from dialogs.bus import EventBus
from dialogs.clock import Clock, SystemClock
from dialogs.engine import Engine
from dialogs.flows import (
    FallbackFlow,
    FeedbackFlow,
    HandoffFlow,
    MenuFlow,
    PhoneFlow,
    QuestionFlow,
)
from dialogs.recorders import Recorders
from faq.loader import FaqError
from faq.semantic import EncoderError
from faq.service import FaqService
from handoff.desk import HandoffDesk
from storage.database import Database, DatabaseUnavailable, SchemaOutdated
from storage.journal import MessageJournal
from storage.locks import ConversationLock, MemoryConversationLock, RedisConversationLock
from storage.ratelimit import MemoryRateLimiter, RateLimiter, RedisRateLimiter
from storage.state import KeyBuilder, MemoryStateStore, RedisStateStore, StateStore

__all__ = ["SERVICES", "Services", "StartupError", "build_app", "build_services"]

log = logging.getLogger(__name__)


class StartupError(Exception):
    """Something the bot needs is missing or unreachable; the message says what."""


@dataclass
class Services:
    """Everything built from settings, for start-up, shutdown, health and tests."""

    settings: Settings
    clock: Clock
    database: Database
    journal: MessageJournal
    redis: Redis | None
    states: StateStore
    locks: ConversationLock
    faq: FaqService
    engine: Engine
    outbox: Outbox
    pipeline: Pipeline
    channels: list[Channel]
    retry: RetryJob
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def stopping(self) -> bool:
        """True once shutdown has begun: the background jobs finish what they are doing."""
        return self._stop.is_set()

    def channel(self, name: str) -> Channel:
        """The running channel called ``name``."""
        for channel in self.channels:
            if channel.name == name:
                return channel
        raise KeyError(name)


SERVICES = web.AppKey("services", Services)


def build_services(settings: Settings, *, clock: Clock | None = None) -> Services:
    """Construct (without connecting) every part of the bot from ``settings``."""
    clock = clock or SystemClock()
    database = Database(settings.database.effective_url, echo=settings.database.echo)
    redis: Redis | None = None
    states: StateStore
    locks: ConversationLock
    if settings.redis.url:
        redis = Redis.from_url(settings.redis.url)
        states = RedisStateStore(redis, state_ttl=settings.redis.state_ttl, keys=KeyBuilder())
        locks = RedisConversationLock(redis)
    else:
        states = MemoryStateStore()
        locks = MemoryConversationLock()
    faq = FaqService(settings.faq.path, settings.faq.matcher)
    try:
        catalog = Catalog.load(settings.messages_path, settings.dialogs.default_language)
    except CatalogError as exc:  # messages_path or dialogs.default_language is wrong
        raise ConfigError(f"settings: {exc}") from None
    bus = EventBus()
    HandoffDesk(database.uow).subscribe(bus)
    Recorders(database.uow).subscribe(bus)
    # Order matters: the menu wins over any step; while feedback is written, what the shopper
    # types is feedback (FeedbackFlow lets buttons and shared contacts through); otherwise a
    # shared phone and a person asked for come first; whatever is left is a question, and the
    # fallback explains the rest.
    flows = [
        MenuFlow(),
        FeedbackFlow(),
        PhoneFlow(),
        HandoffFlow(),
        QuestionFlow(faq, settings.dialogs.max_question_length),
        FallbackFlow(),
    ]
    journal = MessageJournal(database.journal_writer())
    engine = Engine(
        journal=journal,
        states=states,
        locks=locks,
        catalog=catalog,
        flows=flows,
        bus=bus,
        clock=clock,
        written_language=faq.written_language,
    )
    outbox = Outbox(journal, clock)
    pipeline = Pipeline(engine, outbox)
    limiter: RateLimiter = RedisRateLimiter(redis) if redis is not None else MemoryRateLimiter()
    channels = build_channels(ChannelContext(settings, database.uow, clock, limiter, catalog))
    retry = RetryJob(database.uow, channels, clock, settings.outbox)
    return Services(
        settings=settings,
        clock=clock,
        database=database,
        journal=journal,
        redis=redis,
        states=states,
        locks=locks,
        faq=faq,
        engine=engine,
        outbox=outbox,
        pipeline=pipeline,
        channels=channels,
        retry=retry,
    )


def build_app(settings: Settings, *, clock: Clock | None = None) -> web.Application:
    """The aiohttp application serving the web chat, the webhooks and ``/healthz``."""
    services = build_services(settings, clock=clock)
    app = web.Application(client_max_size=1024 * 1024)
    app[SERVICES] = services
    for channel in services.channels:
        channel.attach(app, services.pipeline.dispatcher_for(channel))
    app.router.add_get("/healthz", _health)
    app.on_startup.append(_start)
    app.on_cleanup.append(_stop)
    return app


async def _start(app: web.Application) -> None:
    services = app[SERVICES]
    try:
        await _connect(services)
    except BaseException:
        # aiohttp runs no clean-up after a failed start-up: close what was opened here.
        await _shutdown(services)
        raise


async def _connect(services: Services) -> None:
    database = services.database
    try:
        await database.check()
        if database.is_sqlite:
            await database.upgrade()
        else:
            await database.require_current()
    except (DatabaseUnavailable, SchemaOutdated) as exc:
        raise StartupError(str(exc)) from exc
    if services.redis is not None:
        try:
            async with asyncio.timeout(5):
                await services.redis.ping()
        except Exception as exc:
            msg = f"Redis at REDIS_URL is unreachable: {exc.__class__.__name__}: {exc}"
            raise StartupError(msg) from exc
    else:
        log.warning(
            "conversation state is kept in memory: lost on restart, not shared (set REDIS_URL)"
        )
    # The FAQ matcher multiplies one message's vector by the FAQ's: small products, for which
    # OpenBLAS would start a thread per core that spins between calls and takes the CPU the
    # event loop needs (the benchmark's FAQ path went from 12 to 160 updates/s with one).
    threadpool_limits(limits=1, user_api="blas")
    try:
        await asyncio.to_thread(services.faq.load)
    except FaqError as exc:
        raise StartupError(f"the FAQ cannot be loaded: {exc}") from exc
    except EncoderError as exc:
        raise StartupError(str(exc)) from exc
    # What is loaded by now (word tables, dictionaries, the encoder) lives as long as the
    # process. Out of the garbage collector's sight, a full collection no longer walks those
    # millions of objects, which paused every request in flight for 50-75 ms.
    gc.collect()
    gc.freeze()
    for channel in services.channels:
        try:
            await channel.start()
        except Exception as exc:
            msg = f"the {channel.name} channel cannot start: {exc.__class__.__name__}: {exc}"
            raise StartupError(msg) from exc
        log.info("channel %s started", channel.name)
    services._tasks.append(
        asyncio.create_task(
            services.faq.watch(services._stop, services.settings.faq.reload_interval),
            name="faq-watch",
        )
    )
    services._tasks.append(asyncio.create_task(services.retry.run(services._stop), name="retry"))


async def _stop(app: web.Application) -> None:
    await _shutdown(app[SERVICES])


STOP_GRACE = 5.0
"""Seconds the background jobs get to finish what they are doing once asked to stop."""


async def _shutdown(services: Services) -> None:
    services._stop.set()
    # A resend under way is let finish and recorded: cut off, it would stay claimed and
    # be sent again after its claim ran out, although the shopper already has it.
    if services._tasks:
        await asyncio.wait(services._tasks, timeout=STOP_GRACE)
    for task in services._tasks:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    # Together: each lets its turns in flight finish for a few seconds, and one after another
    # those seconds would add up past a container's stop timeout.
    await asyncio.gather(*(channel.stop() for channel in services.channels))
    await services.journal.aclose()  # what channels handed in before stopping is kept
    await services.states.close()
    if services.redis is None:
        await services.locks.close()
    await services.database.dispose()


async def _health(request: web.Request) -> web.Response:
    services = request.app[SERVICES]
    report: dict[str, object] = {}
    healthy = True
    try:
        await services.database.check(timeout=3)
        report["database"] = "ok"
    except DatabaseUnavailable as exc:
        report["database"] = str(exc)
        healthy = False
    if services.redis is not None:
        try:
            async with asyncio.timeout(3):
                await services.redis.ping()
            report["redis"] = "ok"
        except Exception as exc:
            report["redis"] = f"unreachable: {exc.__class__.__name__}"
            healthy = False
    channels: dict[str, str] = {}
    for channel in services.channels:
        problem = await channel.health()
        channels[channel.name] = problem or "ok"
        healthy = healthy and problem is None
    report["channels"] = channels
    report["status"] = "ok" if healthy else "down"
    return web.json_response(report, status=200 if healthy else 503)
