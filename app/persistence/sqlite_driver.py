"""SQLite connections for SQLAlchemy's asyncio engine: on the event loop's thread, or on a thread.

aiosqlite, SQLAlchemy's asyncio driver for SQLite, runs each connection on a thread of its own and
hands every call over to it: a cursor, an execute, a fetch and a close are each a round trip
between two threads, and the caller resumes only when the event loop next comes round. The
statements of a request take tens of microseconds in SQLite itself, far less than those
hand-offs. So ordinary units of work use `InlineConnection`: the same calls, straight to the
standard library's `sqlite3`, as coroutines that never suspend. Measured on one pinned core, a
redemption went from ~60 to ~78 per second with nothing else changed (bench/redeem.py).

Running on the loop is only right for statements that do not wait or run long. Writers never wait
in SQLite: they take the lock through the unit of work's own poll (busy_timeout 0, uow.py). WAL
readers do not wait for writers; they wait (up to the lock timeout, with the loop held) only in
rare cases: while another process recovers the WAL after a crash, or changes the journal mode.
Long statements are the bulk ones, a 5,000-row chunk of an issue or a 100,000-row customer import
(tens of milliseconds to seconds), which would stall every other request of the process: units of
work that carry bulk data, or scan an org-wide table, ask for `bulk` sessions, whose connections
stay on aiosqlite's thread.
One more wait stays on the loop: the WAL checkpoint SQLite runs in the committing connection
once ~1,000 pages are in the WAL (it copies them into the database file and syncs it once). A
redemption writes 4 to 5 pages (measured over 200), so with redemptions alone it comes about
once in 200; after a bulk write the next small commit may be the one that checkpoints it.

Both are the shape SQLAlchemy's aiosqlite dialect expects of a driver connection
(`create_async_engine(async_creator=...)`): the dialect, its SQL and its pool stay SQLAlchemy's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import aiosqlite
from sqlalchemy import make_url
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite


class InlineCursor:
    __slots__ = ("_cursor",)

    def __init__(self, cursor: sqlite3.Cursor) -> None:
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_: object) -> None:
        self._cursor.close()

    @property
    def description(self) -> Any:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        if parameters is None:
            self._cursor.execute(sql)
        else:
            self._cursor.execute(sql, parameters)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        self._cursor.executemany(sql, parameters)
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()


class InlineConnection:
    """An aiosqlite-shaped connection over a `sqlite3.Connection`."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._conn = connection
        # The dialect checks `_connection` to tell an open connection from a closed one.
        self._connection: sqlite3.Connection | None = connection

    @property
    def _tx(self) -> Any:
        # What the dialect uses to change a connection's isolation level. These engines have
        # theirs fixed (the BEGIN they emit, and the driver's own transactions off); letting a
        # pooled connection be switched back to the driver's implicit transactions would break that.
        raise NotImplementedError(
            "execution_options(isolation_level=...) is not supported on these SQLite engines: "
            "their transactions begin with their own BEGIN (app/persistence/database.py)"
        )

    @property
    def sqlite3_connection(self) -> sqlite3.Connection:
        """For statements run without SQLAlchemy's execution around them (direct.py)."""
        return self._conn

    def cursor(self) -> InlineCursor:
        return InlineCursor(self._conn.cursor())

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    async def commit(self) -> None:
        self._conn.commit()

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close, at most once (the dialect may close and then terminate the same connection)."""
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    async def create_function(self, name: str, num_params: int, func: Callable[..., Any], **kw: Any) -> None:
        self._conn.create_function(name, num_params, func, **kw)


def connection_factory(
    url: str, *, on_loop: bool, timeout_s: float, pragmas: Sequence[str]
) -> Callable[[], Awaitable[Any]]:
    """An `async_creator` for `create_async_engine`: a connection that runs SQLite on the event
    loop's thread (`on_loop`) or on a thread of its own (aiosqlite), with autocommit off in the
    driver (`isolation_level=None`: BEGIN is the engine's to emit) and `pragmas` run. The file and
    its options (a `file:` URI, `?mode=ro`...) are read from `url` as SQLAlchemy's own SQLite
    dialect reads them."""
    (path,), url_options = SQLiteDialect_pysqlite().create_connect_args(make_url(url))
    options: dict[str, Any] = {
        **url_options,
        "timeout": timeout_s,
        "isolation_level": None,
        "check_same_thread": False,
    }

    async def on_loop_connection() -> InlineConnection:
        connection = sqlite3.connect(path, **options)
        for pragma in pragmas:
            connection.execute(pragma)
        return InlineConnection(connection)

    async def threaded_connection() -> aiosqlite.Connection:
        pending = aiosqlite.connect(path, **options)
        # As SQLAlchemy's dialect does when it connects itself: a connection left open at exit
        # (a server stopped during an issue) must not keep the process from ending.
        pending._thread.daemon = True
        connection = await pending
        for pragma in pragmas:
            await connection.execute(pragma)
        return connection

    return on_loop_connection if on_loop else threaded_connection
