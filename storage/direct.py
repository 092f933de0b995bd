"""Core statements compiled once and run straight on the driver's cursor (the journal's hot path).

Executing a statement through SQLAlchemy, even one whose compiled form is cached, costs about a
tenth of a millisecond of Python per call: an execution context, parameter processing, events,
a result object. A group commit of three shoppers' messages runs three statements, and that
Python took three times longer than SQLite took to run them, holding the GIL the event loop
needs meanwhile.

A :class:`DirectStatement` keeps everything that decides *what* is written: the SQL text is the
Core statement compiled for the connection's own dialect, and every value passes through its
column type's own bind processor (and every result through its result processor), exactly as
SQLAlchemy would do it; what it skips is the per-call machinery. So the SQL is still written
once, in :mod:`storage.filing`, and these statements run inside the connection's transaction
like any other. Connection events (``before_cursor_execute``) do not see them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

__all__ = ["DirectStatement"]

_Processor = Callable[[Any], Any] | None


class DirectStatement:
    """One statement compiled for one dialect, run on the DBAPI cursor of a connection.

    Values are given by bind name (for an INSERT, the column names in ``column_keys``);
    binds that carry their own value in the statement (a literal ``'open'``) fill themselves.
    Column defaults are not applied: an INSERT must name every column that has one.
    Works with positional parameter styles (SQLite's ``?``, asyncpg's ``$1``).
    """

    def __init__(
        self,
        statement: ClauseElement,
        dialect: Dialect,
        *,
        column_keys: Sequence[str] | None = None,
    ) -> None:
        compiled = statement.compile(
            dialect=dialect, column_keys=list(column_keys) if column_keys is not None else None
        )
        if not isinstance(compiled, SQLCompiler):
            msg = f"not a SQL statement: {statement!r}"
            raise TypeError(msg)
        order = compiled.positiontup
        if order is None:
            msg = f"{dialect.name}'s parameter style ({dialect.paramstyle}) is not positional"
            raise ValueError(msg)
        self.sql: str = compiled.string
        if "POSTCOMPILE" in self.sql:
            msg = "expanding parameters (IN lists) must be spelled out, one bind per value"
            raise ValueError(msg)
        defaulted = [
            column.key for column in (*compiled.insert_prefetch, *compiled.update_prefetch)
        ]
        if defaulted:
            msg = f"column defaults are not applied here: give {', '.join(defaulted)} values"
            raise ValueError(msg)
        binds = compiled.binds
        self._fixed: dict[str, Any] = {
            name: bind.effective_value for name, bind in binds.items() if not bind.required
        }
        self._order: tuple[tuple[str, _Processor], ...] = tuple(
            (name, binds[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in order
        )
        columns = getattr(statement, "exported_columns", ())
        self._results: tuple[_Processor, ...] = tuple(
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        )

    def parameters(self, values: Mapping[str, Any]) -> list[Any]:
        """The positional parameters for ``values``, each through its type's processor."""
        if self._fixed:
            values = {**self._fixed, **values}
        return [
            values[name] if process is None else process(values[name])
            for name, process in self._order
        ]

    def execute(self, connection: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run once in ``connection``'s transaction; the rows it returns, if any."""
        cursor = _cursor(connection)
        try:
            cursor.execute(self.sql, self.parameters(values))
            rows = cursor.fetchall() if cursor.description else []
        finally:
            cursor.close()
        return [self._row(row) for row in rows]

    def execute_many(self, connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run once per row of ``rows`` (a statement that returns nothing)."""
        cursor = _cursor(connection)
        try:
            cursor.executemany(self.sql, [self.parameters(values) for values in rows])
        finally:
            cursor.close()

    def _row(self, row: Sequence[Any]) -> tuple[Any, ...]:
        return tuple(
            [
                value if process is None else process(value)
                for value, process in zip(row, self._results, strict=True)
            ]
        )


def _cursor(connection: Connection) -> Any:
    """A cursor inside ``connection``'s transaction, begun here if nothing began it yet.

    SQLAlchemy's own ``execute`` begins one first (autobegin); on SQLite, whose driver runs
    in autocommit mode here (see :mod:`storage.sqlite`), a statement before it would be
    committed on its own.
    """
    if not connection.in_transaction():
        connection.begin()
    return connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
