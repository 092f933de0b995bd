"""What SQLite needs: its connection settings, and the journal's writer thread.

The journal's group commits run in one hop, on a thread of its own with a connection of its own.

sqlite3 is a synchronous library. Through aiosqlite each statement is handed to aiosqlite's
thread and back four times (cursor, execute, fetch, close) and wrapped in SQLAlchemy's async
layer; for a group commit of three statements that was about 19 wake-ups of the event loop, and
under load those cost the bot more CPU than the statements. Here the whole batch —
BEGIN, the statements of :func:`storage.filing.write_batch`, COMMIT — runs as one call on this
thread, and the event loop is woken once, with the result. SQLite does its work with the GIL
released, so it overlaps with the event loop serving the next requests.

Two connections now write the same file (this one and the async engine's), so both begin their
transactions with ``BEGIN IMMEDIATE`` (:func:`sqlite_connection_setup`): a
writer takes the lock up front and the other waits for it in SQLite's busy handler, instead of
failing at once when it upgrades a read to a write after the other committed
(``SQLITE_BUSY_SNAPSHOT``, which the busy handler does not retry).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import Connection, make_url

from bots.messages import IncomingMessage
from storage.filing import write_batch
from storage.records import ConversationRef, OutgoingRecord

__all__ = ["SqliteJournalWriter", "sqlite_connection_setup", "sqlite_pragmas"]

log = logging.getLogger(__name__)


def sqlite_pragmas(dbapi_connection: Any, _record: Any = None) -> None:
    """The SQLite settings every connection gets (also used by the webhook benchmark)."""
    # WAL lets the web chat read history while a webhook writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def sqlite_connection_setup(engine: Engine) -> None:
    """Pragmas on every connection of ``engine``, and transactions that begin IMMEDIATE.

    The driver's own transaction handling is switched off (``isolation_level = None``) so that
    SQLAlchemy's ``begin`` can say ``BEGIN IMMEDIATE`` itself, as SQLAlchemy's SQLite notes
    describe for pysqlite and aiosqlite alike.
    """

    def on_connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        sqlite_pragmas(dbapi_connection, record)

    def on_begin(connection: Connection) -> None:
        # Straight on the driver's cursor: through exec_driver_sql this cost the journal's
        # thread a tenth of each group commit's CPU.
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute("BEGIN IMMEDIATE")
        finally:
            cursor.close()

    event.listen(engine, "connect", on_connect)
    event.listen(engine, "begin", on_begin)


class SqliteJournalWriter:
    """Writes the journal's batches to an SQLite file from one thread, one call per batch."""

    def __init__(self, url: str, *, busy_timeout: float) -> None:
        sync_url = make_url(url).set(drivername="sqlite+pysqlite")
        self.engine: Engine = create_engine(
            sync_url,
            pool_size=1,
            max_overflow=0,
            connect_args={"timeout": busy_timeout, "check_same_thread": False},
        )
        sqlite_connection_setup(self.engine)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="otklik-journal")
        self._connection: Connection | None = None
        self._closed = False

    async def write(
        self,
        incoming: Sequence[tuple[IncomingMessage, datetime]],
        outgoing: Sequence[OutgoingRecord],
    ) -> list[ConversationRef]:
        """File ``incoming`` and record ``outgoing`` in one transaction; returns once committed."""
        if self._closed:
            msg = "the journal writer is closed"
            raise RuntimeError(msg)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._write, incoming, outgoing)

    async def aclose(self) -> None:
        """Close the connection and stop the thread (after the batch in hand, if any)."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._disconnect)
        self._thread.shutdown(wait=True)
        self.engine.dispose()

    def _write(
        self,
        incoming: Sequence[tuple[IncomingMessage, datetime]],
        outgoing: Sequence[OutgoingRecord],
    ) -> list[ConversationRef]:
        if self._connection is None:
            self._connection = self.engine.connect()
        try:
            with self._connection.begin():
                return write_batch(self._connection, incoming, outgoing)
        except Exception:
            # The transaction is rolled back; a fresh connection for the next batch, in case
            # this one is what broke (a disk error, a file replaced under it).
            self._disconnect()
            raise

    def _disconnect(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # closing a broken connection: nothing left to save
                log.debug("closing the journal's SQLite connection failed", exc_info=True)
            self._connection = None
