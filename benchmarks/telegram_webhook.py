"""Telegram webhook throughput: otklik's whole path next to aiogram's minimal echo bot.

    python benchmarks/telegram_webhook.py [--updates N] [--concurrency C] [--rounds R]
                                          [--database-url URL]

Each bot runs in its own process and talks to the same stand-in Bot API
(``tests/fakes/telegram_api.py``), which runs here together with the load generator — all on
loopback. The load generator POSTs N text-message updates to the bot's webhook with at most C in
flight, after a warm-up in which every simulated shopper writes once. Both bots answer before
their webhook responds (otklik always does; aiogram's ``SimpleRequestHandler`` is run with
``handle_in_background=False``), so a request's latency is the whole path: parse → handler
(otklik: engine → storage → reply) → sendMessage to the Bot API → HTTP 200.

Bots: ``aiogram-echo`` (the reference of the goal), ``echo+store`` (the same echo bot keeping
every message the plain way: the incoming one committed before the answer, the answer after it,
one transaction each, in the same database) and ``otklik``; ``--bots`` picks some.

Scenarios: ``menu`` (the shopper types «меню»: store, lock, state, menu flow, reply, store) and
``question`` (FAQ questions: the same plus the FAQ matcher). Reported per run: updates/s,
p50/p99 latency, the bot process's CPU time per update and, for otklik, SQL statements and
commits per update (counted on every engine of otklik's database, a writer thread's included).

Rounds: a slow moment of the shared machine should not land on one bot only, so each scenario
runs in ``--rounds`` rounds (default 3), the bots interleaved: round 1 runs every selected bot
once in the order given, round 2 every bot again, and so on. A run is one fresh bot process:
its warm-up, then the measured updates. Every run gets a row of the per-run table as it ends.
The summary table then gives, per scenario and bot, the median over rounds of each column on
its own (updates/s, p50, p99, CPU ms/upd, SQL/upd, commits/upd, harness CPU; with an even
number of rounds the mean of the middle two), and replies and errors summed over all rounds.
The closing lines compare otklik with each echo bot round by round: the median of the
per-round ratios of updates/s with their min–max range, then the median per-round ratio of
CPU time per update.

``--profile FILE`` writes a cProfile (CPU time) of otklik while it serves, all its runs merged;
``--py-spy FILE`` samples it with py-spy (if on PATH) during the measured updates only, the
collapsed stacks of all runs summed into one file.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import itertools
import json
import logging
import os
import pstats
import signal
import socket
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # runnable as a plain script from any directory

# The echo bot is the reference we measure against, so aiogram is used directly here.
from aiogram import Bot, Dispatcher  # noqa: E402, TID251
from aiogram.client.session.aiohttp import AiohttpSession  # noqa: E402, TID251
from aiogram.client.telegram import TelegramAPIServer  # noqa: E402, TID251
from aiogram.types import Message  # noqa: E402, TID251
from aiogram.webhook.aiohttp_server import (  # noqa: E402, TID251
    SimpleRequestHandler,
    setup_application,
)
from aiohttp import ClientSession, ClientTimeout, TCPConnector, web  # noqa: E402
from sqlalchemy import (  # noqa: E402
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
    insert,
)
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.ext.asyncio import create_async_engine  # noqa: E402

from bots.runner import SERVICES, build_app  # noqa: E402
from config.settings import load_settings  # noqa: E402
from storage.database import Database  # noqa: E402
from storage.direct import DirectStatement  # noqa: E402
from storage.sqlite import sqlite_connection_setup  # noqa: E402
from tests.fakes.telegram_api import SECRET_HEADER, TOKEN, TelegramAPIStandIn  # noqa: E402

SCRIPT = Path(__file__).resolve()

PATH = "/webhooks/telegram"
SECRET = "benchmark-secret"
STATS_PATH = "/_benchmark/stats"
SCENARIOS: dict[str, Sequence[str]] = {
    "menu": ["меню"],
    "question": [
        "Во сколько открываются магазины?",
        "как вернуть товар без чека",
        "Можно ли оплатить картой при доставке?",
        "где ближайший магазин",
        "Сколько баллов начисляется за покупку?",
    ],
}
BOTS = ("aiogram-echo", "echo+store", "otklik")


# --- the bots under test (run in a child process) -------------------------------------------


async def _serve(app: web.Application, port: int, profile: str | None = None) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # CPU time (not wall time, which async waits would inflate), from the first request on.
    profiler = cProfile.Profile(time.process_time) if profile else None
    if profiler is not None:
        profiler.enable()
    print("ready", flush=True)
    await stop.wait()
    if profile and profiler is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    await runner.cleanup()


def _stats_route(app: web.Application, counters: Callable[[], dict[str, int]]) -> None:
    async def stats(request: web.Request) -> web.Response:
        return web.json_response(counters())

    app.router.add_get(STATS_PATH, stats)


class SqlCounters:
    """SQL statements and commits on a set of engines.

    The listeners run on whichever thread uses an engine: the event loop's for the async
    engine's ``sync_engine``, a writer thread's for SQLite's plain sync engine. ``n += 1`` is a
    read, an add and a store, and the GIL may switch threads between them, so each increment
    holds a lock (uncontended almost always, and cheap next to a statement).

    Two kinds of statement pass no ``before_cursor_execute`` event and are counted apart: the
    journal's hot statements, run straight on the cursor (:mod:`storage.direct`, counted by
    wrapping its two methods in this benchmark process), and SQLite's ``BEGIN IMMEDIATE``
    (counted on each ``begin``).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._statements = 0
        self._commits = 0

    def listen(self, engines: Iterable[Engine]) -> None:
        for engine in dict.fromkeys(engines):  # the same engine twice would count twice
            event.listen(engine, "before_cursor_execute", self._on_statement)
            event.listen(engine, "commit", self._on_commit)
            if engine.dialect.name == "sqlite":
                event.listen(engine, "begin", self._on_statement)
        self._count_direct_statements()

    def _count_direct_statements(self) -> None:
        execute, execute_many = DirectStatement.execute, DirectStatement.execute_many

        def counted_execute(statement: DirectStatement, *args: Any) -> Any:
            self._on_statement()
            return execute(statement, *args)

        def counted_execute_many(statement: DirectStatement, *args: Any) -> Any:
            self._on_statement()
            return execute_many(statement, *args)

        DirectStatement.execute = counted_execute  # type: ignore[method-assign]
        DirectStatement.execute_many = counted_execute_many  # type: ignore[method-assign]

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"statements": self._statements, "commits": self._commits}

    def _on_statement(self, *_: Any) -> None:
        with self._lock:
            self._statements += 1

    def _on_commit(self, *_: Any) -> None:
        with self._lock:
            self._commits += 1


async def serve_otklik(args: argparse.Namespace) -> None:
    """otklik in webhook mode with production settings (semantic FAQ stage included)."""
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_URL": args.api_url,
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{args.port}{PATH}",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        "OTKLIK_WEBCHAT__ENABLED": "false",
    }
    if args.no_semantic:
        env["OTKLIK_FAQ__MATCHER__SEMANTIC"] = "false"
    if args.recent_questions is not None:
        env["OTKLIK_FAQ__MATCHER__RECENT_QUESTIONS"] = str(args.recent_questions)
    if args.redis_url:
        env["REDIS_URL"] = args.redis_url
    if args.database_url:
        env["DATABASE_URL"] = args.database_url
        database = Database(args.database_url)
        await database.upgrade()
        await database.dispose()
    else:
        env["OTKLIK_DATABASE__SQLITE_PATH"] = str(Path(args.workdir) / "otklik-benchmark.db")
    app = build_app(load_settings(None, env))
    database = app[SERVICES].database
    # ``engines`` where the database has it (the async engine's sync_engine and, on SQLite, the
    # writer thread's own sync engine), else the one engine there is.
    engines: Sequence[Engine] = getattr(database, "engines", (database.engine.sync_engine,))
    counters = SqlCounters()
    counters.listen(engines)
    _stats_route(app, counters.snapshot)
    await _serve(app, args.port, args.profile)


async def serve_echo(args: argparse.Namespace, *, store: bool = False) -> None:
    """aiogram's minimal echo bot: Dispatcher + SimpleRequestHandler + message.answer(text).

    With ``store`` it also keeps every message the plain way — the incoming one committed before
    the answer, the answer after it, one transaction each — in the same database otklik uses:
    what keeping every message costs without otklik's group commits.
    """
    api = TelegramAPIServer.from_base(args.api_url)
    bot = Bot(TOKEN, session=AiohttpSession(api=api))
    dispatcher = Dispatcher()
    keep = await _echo_log(args) if store else None

    @dispatcher.message()
    async def echo(message: Message) -> None:
        if keep is not None:
            await keep(message.chat.id, "in", message.text or "")
        await message.answer(message.text or "…")
        if keep is not None:
            await keep(message.chat.id, "out", message.text or "…")

    async def on_startup(bot: Bot) -> None:
        await bot.set_webhook(f"http://127.0.0.1:{args.port}{PATH}", secret_token=SECRET)

    dispatcher.startup.register(on_startup)
    app = web.Application()
    handler = SimpleRequestHandler(
        dispatcher=dispatcher, bot=bot, secret_token=SECRET, handle_in_background=False
    )
    handler.register(app, path=PATH)
    setup_application(app, dispatcher, bot=bot)
    _stats_route(app, lambda: {"statements": 0, "commits": 0})
    await _serve(app, args.port)


async def _echo_log(args: argparse.Namespace) -> Callable[[int, str, str], Awaitable[None]]:
    """A one-table message log for the storing echo bot, one transaction per message."""
    url = args.database_url or f"sqlite+aiosqlite:///{Path(args.workdir) / 'echo-store.db'}"
    options: dict[str, Any] = {} if args.database_url else {"pool_size": 1, "max_overflow": 0}
    engine = create_async_engine(url, **options)
    if not args.database_url:  # the same SQLite settings as otklik's, for a fair comparison
        sqlite_connection_setup(engine.sync_engine)
    metadata = MetaData()
    log_table = Table(
        "echo_log",
        metadata,
        Column("id", Integer, primary_key=True),
        Column("chat_id", BigInteger, index=True),
        Column("direction", String(3)),
        Column("text", Text),
        Column("created_at", DateTime(timezone=True)),
    )
    async with engine.begin() as connection:
        await connection.run_sync(metadata.drop_all)
        await connection.run_sync(metadata.create_all)

    async def keep(chat_id: int, direction: str, text: str) -> None:
        async with engine.begin() as connection:
            await connection.execute(
                insert(log_table).values(
                    chat_id=chat_id, direction=direction, text=text, created_at=datetime.now(UTC)
                )
            )

    return keep


def serve(args: argparse.Namespace) -> None:
    logging.basicConfig(level=logging.WARNING)
    if args.serve == "otklik":
        asyncio.run(serve_otklik(args))
    else:
        asyncio.run(serve_echo(args, store=args.serve == "echo+store"))


# --- the load generator -----------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    scenario: str
    bot: str
    round_number: int
    updates: int
    seconds: float
    latencies: list[float]
    errors: Counter[int]
    cpu_seconds: float
    harness_cpu_seconds: float
    replies: int
    statements: int
    commits: int

    @property
    def rate(self) -> float:
        return self.updates / self.seconds

    @property
    def cpu_per_update(self) -> float:
        return self.cpu_seconds / self.updates

    def percentile(self, p: int) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1] * 1000


class Shoppers:
    """Text-message updates from a fixed crowd of shoppers; update ids never repeat."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._ids = itertools.count(int(time.time() * 1000))
        self._message_ids = itertools.count(1)

    def update(self, number: int, text: str) -> bytes:
        user = 700_000_000 + number % self.count
        name = f"Shopper {user}"
        body = {
            "update_id": next(self._ids),
            "message": {
                "message_id": next(self._message_ids),
                "from": {"id": user, "is_bot": False, "first_name": name, "language_code": "ru"},
                "chat": {"id": user, "type": "private", "first_name": name},
                "date": int(time.time()),
                "text": text,
            },
        }
        return json.dumps(body, ensure_ascii=False).encode()

    def batch(self, texts: Sequence[str], total: int) -> list[bytes]:
        return [self.update(n, texts[n % len(texts)]) for n in range(total)]


async def drive(
    session: ClientSession, url: str, bodies: list[bytes], concurrency: int
) -> tuple[list[float], Counter[int]]:
    """POST every body with at most ``concurrency`` in flight: each latency, and non-200s."""
    headers = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    queue: Iterator[bytes] = iter(bodies)
    latencies: list[float] = []
    errors: Counter[int] = Counter()

    async def worker() -> None:
        for body in queue:
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
            latencies.append(time.perf_counter() - started)
            if response.status != 200:
                errors[response.status] += 1  # Telegram would redeliver these later

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, errors


async def start_py_spy(path: str, pid: int) -> asyncio.subprocess.Process:
    """Sample ``pid`` with py-spy (on PATH) into ``path`` (collapsed stacks) until SIGINT."""
    return await asyncio.create_subprocess_exec(
        "py-spy", "record", "--pid", str(pid), "--rate", "250", "--format", "raw",
        "--output", path, "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads included (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def run_bot(
    bot: str,
    scenario: str,
    round_number: int,
    shoppers: Shoppers,
    args: argparse.Namespace,
    api: TelegramAPIStandIn,
) -> Result:
    """One run: a fresh ``bot`` process, its warm-up, then the measured updates of ``scenario``."""
    port = free_port()
    command = [sys.executable, str(SCRIPT), "--serve", bot]
    command += ["--port", str(port), "--api-url", api.url, "--workdir", args.workdir]
    if args.database_url:
        command += ["--database-url", args.database_url]
    if args.no_semantic:
        command.append("--no-semantic")
    if args.recent_questions is not None:
        command += ["--recent-questions", str(args.recent_questions)]
    if args.redis_url:
        command += ["--redis-url", args.redis_url]
    if args.profile and bot == "otklik":
        command += ["--profile", str(run_file(args, "profile", scenario, round_number))]
    child = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    assert child.stdout is not None
    try:
        async with asyncio.timeout(180):
            line = await child.stdout.readline()
        if line.strip() != b"ready":
            msg = f"{bot} did not start (exit code {await child.wait()})"
            raise RuntimeError(msg)
        base = f"http://127.0.0.1:{port}"
        connector = TCPConnector(limit=args.concurrency)
        async with ClientSession(connector=connector, timeout=ClientTimeout(total=120)) as session:
            await drive(session, base + PATH, shoppers.batch(["/start"], args.shoppers), 8)
            return await run_scenario(
                bot, scenario, round_number, child.pid, session, base, shoppers, args, api
            )
    finally:
        if child.returncode is None:
            child.send_signal(signal.SIGTERM)
            await child.wait()


def run_file(args: argparse.Namespace, kind: str, scenario: str, round_number: int) -> Path:
    """Where one otklik run writes its cProfile stats or py-spy stacks, merged at the end."""
    return Path(args.workdir) / f"otklik-{kind}-{scenario}-{round_number}"


async def run_scenario(
    bot: str,
    scenario: str,
    round_number: int,
    pid: int,
    session: ClientSession,
    base: str,
    shoppers: Shoppers,
    args: argparse.Namespace,
    api: TelegramAPIStandIn,
) -> Result:
    texts = SCENARIOS[scenario]
    await drive(session, base + PATH, shoppers.batch(texts, args.warmup), args.concurrency)
    bodies = shoppers.batch(texts, args.updates)
    async with session.get(base + STATS_PATH) as response:
        before = await response.json()
    sent_before = len(api.calls("sendMessage"))
    spy = None
    if args.py_spy and bot == "otklik":
        spy = await start_py_spy(str(run_file(args, "py-spy", scenario, round_number)), pid)
    cpu_before, harness_before = process_cpu(pid), time.process_time()
    started = time.perf_counter()
    latencies, errors = await drive(session, base + PATH, bodies, args.concurrency)
    seconds = time.perf_counter() - started
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        await spy.wait()
    cpu, harness = process_cpu(pid) - cpu_before, time.process_time() - harness_before
    async with session.get(base + STATS_PATH) as response:
        after = await response.json()
    return Result(
        scenario=scenario,
        bot=bot,
        round_number=round_number,
        updates=len(bodies),
        seconds=seconds,
        latencies=latencies,
        errors=errors,
        cpu_seconds=cpu,
        harness_cpu_seconds=harness,
        replies=len(api.calls("sendMessage")) - sent_before,
        statements=after["statements"] - before["statements"],
        commits=after["commits"] - before["commits"],
    )


def merge_profiles(args: argparse.Namespace) -> None:
    """Merge the per-run cProfile stats and py-spy stacks of otklik into the files asked for."""
    workdir = Path(args.workdir)
    if args.profile:
        runs = sorted(workdir.glob("otklik-profile-*"))
        if runs:
            pstats.Stats(*(str(path) for path in runs)).dump_stats(args.profile)
    if args.py_spy:
        stacks: Counter[str] = Counter()
        for path in sorted(workdir.glob("otklik-py-spy-*")):
            for line in path.read_text().splitlines():
                stack, _, count = line.rpartition(" ")
                if stack and count.isdigit():
                    stacks[stack] += int(count)
        if stacks:
            text = "".join(f"{stack} {count}\n" for stack, count in stacks.items())
            Path(args.py_spy).write_text(text)


# --- the report -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One line of a table: one run, or the medians of a bot's runs in one scenario."""

    rate: float
    p50: float
    p99: float
    cpu_ms: float
    statements: float
    commits: float
    replies: int
    updates: int
    errors: int
    harness_cpu: float

    @classmethod
    def of(cls, r: Result) -> Row:
        return cls(
            rate=r.rate,
            p50=r.percentile(50),
            p99=r.percentile(99),
            cpu_ms=r.cpu_per_update * 1000,
            statements=r.statements / r.updates,
            commits=r.commits / r.updates,
            replies=r.replies,
            updates=r.updates,
            errors=sum(r.errors.values()),
            harness_cpu=r.harness_cpu_seconds / r.seconds,
        )

    @classmethod
    def median(cls, rows: Sequence[Row]) -> Row:
        """Each column's median on its own; replies, updates and errors summed."""

        def median(column: Callable[[Row], float]) -> float:
            return statistics.median(column(row) for row in rows)

        return cls(
            rate=median(lambda row: row.rate),
            p50=median(lambda row: row.p50),
            p99=median(lambda row: row.p99),
            cpu_ms=median(lambda row: row.cpu_ms),
            statements=median(lambda row: row.statements),
            commits=median(lambda row: row.commits),
            replies=sum(row.replies for row in rows),
            updates=sum(row.updates for row in rows),
            errors=sum(row.errors for row in rows),
            harness_cpu=median(lambda row: row.harness_cpu),
        )

    def columns(self) -> str:
        return (
            f"{self.rate:>9.0f} {self.p50:>7.1f} {self.p99:>7.1f} {self.cpu_ms:>10.2f} "
            f"{self.statements:>7.1f} {self.commits:>11.1f} "
            f"{f'{self.replies}/{self.updates}':>11} {self.errors:>6} {self.harness_cpu:>10.0%}"
        )


COLUMNS = (
    f"{'updates/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'CPU ms/upd':>10} {'SQL/upd':>7} "
    f"{'commits/upd':>11} {'replies':>11} {'errors':>6} {'harness CPU':>11}"
)
RUN_HEADER = f"{'scenario':<9} {'round':>5} {'bot':<13} {COLUMNS}"
SUMMARY_HEADER = f"{'scenario':<9} {'bot':<13} {COLUMNS}"


def run_line(r: Result) -> str:
    return f"{r.scenario:<9} {r.round_number:>5} {r.bot:<13} {Row.of(r).columns()}"


def summary(results: Sequence[Result], scenarios: Sequence[str], rounds: int) -> str:
    """The medians over rounds per scenario and bot, then otklik next to each echo bot."""
    title = "median of 1 round" if rounds == 1 else f"median of {rounds} rounds"
    lines = [
        f"Summary ({title}, per column; replies and errors summed over rounds):",
        SUMMARY_HEADER,
        "-" * len(SUMMARY_HEADER),
    ]
    for scenario in scenarios:
        for bot in BOTS:
            runs = [r for r in results if r.scenario == scenario and r.bot == bot]
            if runs:
                row = Row.median([Row.of(r) for r in runs])
                lines.append(f"{scenario:<9} {bot:<13} {row.columns()}")
    lines.append("")
    for scenario in scenarios:
        by_round: dict[int, dict[str, Result]] = {}
        for r in results:
            if r.scenario == scenario:
                by_round.setdefault(r.round_number, {})[r.bot] = r
        for name in ("aiogram-echo", "echo+store"):
            pairs = [
                (runs["otklik"], runs[name])
                for runs in by_round.values()
                if "otklik" in runs and name in runs
            ]
            if pairs:
                lines.append(ratio_line(scenario, name, pairs))
    return "\n".join(lines)


def ratio_line(scenario: str, name: str, pairs: Sequence[tuple[Result, Result]]) -> str:
    """otklik / ``name``: the median per-round ratio of updates/s, its range, CPU per update."""
    ratios = [otklik.rate / other.rate for otklik, other in pairs]
    costs = [otklik.cpu_per_update / other.cpu_per_update for otklik, other in pairs]
    ratio = statistics.median(ratios)
    notes = [f"rounds: {min(ratios):.2f}–{max(ratios):.2f}x" if len(pairs) > 1 else "1 round"]
    if name == "aiogram-echo":
        notes.append(f"{'meets' if ratio >= 0.8 else 'misses'} the 0.8x goal")
    return (
        f"{scenario}: otklik / {name} = {ratio:.2f}x updates/s ({'; '.join(notes)}); "
        f"otklik uses {statistics.median(costs):.1f}x its CPU per update"
    )


async def harness(args: argparse.Namespace) -> None:
    scenarios = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    bots = args.bots.split(",")
    for bot in bots:
        if bot not in BOTS:
            msg = f"unknown bot {bot!r}; choose from {', '.join(BOTS)}"
            raise SystemExit(msg)
    # One crowd for every run: update and message ids never repeat, not even across the runs
    # that share a database.
    shoppers = Shoppers(args.shoppers)
    recent = args.recent_questions
    print(
        f"{args.updates} updates per run, concurrency {args.concurrency}, "
        f"{args.shoppers} shoppers, database: {args.database_url or 'SQLite (file)'}, "
        f"state: {args.redis_url or 'memory'}, "
        f"semantic FAQ stage: {'off' if args.no_semantic else 'on'}, "
        f"recent questions kept: {'default' if recent is None else recent}, "
        f"{os.cpu_count()} CPUs, "
        f"{args.rounds} round{'s' if args.rounds != 1 else ''} of {', '.join(bots)}"
    )
    print(RUN_HEADER)
    print("-" * len(RUN_HEADER), flush=True)
    results: list[Result] = []
    try:
        async with TelegramAPIStandIn() as api:
            for scenario in scenarios:
                for round_number in range(1, args.rounds + 1):
                    for bot in bots:
                        result = await run_bot(bot, scenario, round_number, shoppers, args, api)
                        print(run_line(result), flush=True)
                        results.append(result)
    finally:
        merge_profiles(args)
    print()
    print(summary(results, scenarios, args.rounds))


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        msg = f"must be at least 1, not {value}"
        raise argparse.ArgumentTypeError(msg)
    return value


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--updates", type=int, default=2000, help="measured updates per run")
    parser.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    parser.add_argument("--warmup", type=int, default=200, help="unmeasured updates first")
    parser.add_argument("--shoppers", type=int, default=200, help="distinct users writing")
    parser.add_argument("--scenario", choices=[*SCENARIOS, "all"], default="all")
    parser.add_argument(
        "--rounds", type=positive, default=3, help="runs of every bot per scenario, interleaved"
    )
    parser.add_argument("--database-url", help="e.g. postgresql+asyncpg://... (default SQLite)")
    parser.add_argument("--no-semantic", action="store_true", help="FAQ without the encoder")
    parser.add_argument(
        "--redis-url", help="otklik keeps state and locks in Redis, as several workers do"
    )
    parser.add_argument(
        "--recent-questions",
        type=int,
        default=None,
        help="faq.matcher.recent_questions for otklik; 0: every question is scored afresh",
    )
    parser.add_argument("--profile", help="write otklik's cProfile stats to this file")
    parser.add_argument("--py-spy", help="sample otklik with py-spy into this file (raw stacks)")
    parser.add_argument(
        "--bots", default=",".join(BOTS), help=f"comma-separated, of {', '.join(BOTS)}"
    )
    parser.add_argument("--serve", choices=BOTS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--api-url", help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    args = parse()
    if args.serve:
        serve(args)
        return
    with tempfile.TemporaryDirectory(prefix="otklik-bench-") as workdir:
        args.workdir = workdir
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(harness(args))


if __name__ == "__main__":
    main()
