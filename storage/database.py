"""The database: engine construction, reachability check and Alembic migrations.

Built by the composition root from settings; nothing connects until :meth:`Database.check` or
the first unit of work, and an unreachable configured database fails start-up with a clear
:class:`DatabaseUnavailable` instead of degrading silently.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)

from config.settings import sqlite_in_memory
from storage.journal import BatchWriter, UnitOfWorkWriter
from storage.sqlite import SqliteJournalWriter, sqlite_connection_setup
from storage.uow import UnitOfWork

__all__ = ["MIGRATIONS_DIR", "Database", "DatabaseUnavailable", "SchemaOutdated"]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


class DatabaseUnavailable(Exception):
    """The configured database cannot be reached."""


class SchemaOutdated(Exception):
    """The database schema is behind the code; run ``otklik db upgrade``."""


class Database:
    """One SQLAlchemy async engine, the units of work made from it and the journal's writer."""

    def __init__(
        self,
        url: str,
        *,
        echo: bool = False,
        sqlite_busy_timeout: float = 30.0,
        **engine_options: Any,
    ) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self._sqlite_busy_timeout = sqlite_busy_timeout
        self._writer: BatchWriter | None = None
        if self.is_sqlite:
            self._sqlite_file(url).parent.mkdir(parents=True, exist_ok=True)
            # One connection for the units of work, so they queue in asyncio rather than in
            # SQLite's busy handler; the journal's writer has the only other one
            # (storage/sqlite.py), and both take the write lock when they begin.
            engine_options.setdefault("pool_size", 1)
            engine_options.setdefault("max_overflow", 0)
            engine_options.setdefault("connect_args", {"timeout": sqlite_busy_timeout})
        self.engine: AsyncEngine = create_async_engine(url, echo=echo, **engine_options)
        if self.is_sqlite:
            sqlite_connection_setup(self.engine.sync_engine)
        self._sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def engines(self) -> tuple[Engine, ...]:
        """Every engine that talks to the database (for statement counters and tests)."""
        if isinstance(self._writer, SqliteJournalWriter):
            return (self.engine.sync_engine, self._writer.engine)
        return (self.engine.sync_engine,)

    def journal_writer(self) -> BatchWriter:
        """What writes the message journal's group commits (made once, closed by dispose).

        SQLite gets a thread with its own connection (one hop per batch); PostgreSQL writes
        through a unit of work (a connection of its own measured no faster there).
        """
        if self._writer is None:
            if self.is_sqlite:
                self._writer = SqliteJournalWriter(
                    self.url, busy_timeout=self._sqlite_busy_timeout
                )
            else:
                self._writer = UnitOfWorkWriter(self.uow)
        return self._writer

    @staticmethod
    def _sqlite_file(url: str) -> Path:
        """The database file; an in-memory database is refused (see ``sqlite_in_memory``)."""
        if sqlite_in_memory(url):
            msg = f"{url}: an in-memory SQLite database is not supported; give a file"
            raise ValueError(msg)
        return Path(str(make_url(url).database)).expanduser().resolve()

    def uow(self) -> UnitOfWork:
        """A new unit of work (one transaction)."""
        return UnitOfWork(self._sessions)

    async def check(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Raise :class:`DatabaseUnavailable` unless a trivial query answers within ``timeout``."""
        try:
            async with asyncio.timeout(timeout), self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception as exc:  # any driver error means "unreachable" to the operator
            safe = make_url(self.url).render_as_string(hide_password=True)
            # The driver's own words, first line only: SQLAlchemy appends a "Background on
            # this error" link on a line of its own, and start-up errors are one line.
            reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
            detail = reason[0] if reason else ""
            msg = f"database {safe} is unreachable: {exc.__class__.__name__}: {detail}"
            raise DatabaseUnavailable(msg) from exc

    async def upgrade(self) -> None:
        """Bring the schema to the newest migration (Alembic ``upgrade head``)."""
        async with self.engine.begin() as connection:
            await connection.run_sync(_upgrade)

    async def require_current(self) -> None:
        """Raise :class:`SchemaOutdated` when migrations are pending."""
        async with self.engine.connect() as connection:
            current, head = await connection.run_sync(_revisions)
        if current != head:
            msg = (
                f"the database schema is at {current or 'nothing'}, the code needs {head}: "
                "run 'otklik db upgrade'"
            )
            raise SchemaOutdated(msg)

    async def dispose(self) -> None:
        """Close the journal's writer and every pooled connection."""
        if self._writer is not None:
            await self._writer.aclose()
            self._writer = None
        await self.engine.dispose()


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic configuration pointing at our migrations, optionally bound to a connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection) -> None:
    command.upgrade(alembic_config(connection), "head")


def _revisions(connection: Connection) -> tuple[str | None, str | None]:
    current = MigrationContext.configure(connection).get_current_revision()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return current, head
