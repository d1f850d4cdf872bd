"""Engines and sessions.

SQLite: WAL so readers never wait for the writer; the driver's own transaction handling is off
and `BEGIN` is emitted from the engine's `begin` event, so write units of work really start with
`BEGIN IMMEDIATE` (the write lock is taken up front, never lost half-way through a
read-then-write); read units of work begin DEFERRED. Ordinary units of work run SQLite on the
event loop's thread, bulk ones on a thread of their own (sqlite_driver.py). SQLite has one writer at a
time, and its own wait for the lock (the busy handler) sleeps 1, 2, 5 ... 100 ms between polls:
unfair, and idle while the lock is free. So writers of one process queue on `write_gate`, a FIFO
asyncio lock, and the writer connections do not wait in SQLite at all (busy_timeout 0): the unit
of work polls the lock itself at a short, fixed interval (see uow.py).

PostgreSQL: one engine; write units of work set `lock_timeout` and lock rows explicitly. Their
transaction is begun by the pool's checkout, `BEGIN` and the `SET LOCAL` in one round trip, and
that round trip is also the connection's liveness check: the pool's pre-ping (BEGIN, an empty
statement and ROLLBACK, three round trips) is left to every other checkout (`_checkout`).

Both: reads that need no common snapshot (`snapshot=False`: each statement is consistent by
itself, as the one-statement wallet read is) run on an engine of their own without a
transaction: SQLite in the driver's autocommit (no BEGIN is sent), PostgreSQL in AUTOCOMMIT (no
BEGIN and ROLLBACK round trips) and without the pool's pre-ping (another round trip): a pooled
connection found dead by the first statement is replaced and the statement sent again (uow.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry
from sqlalchemy.util.concurrency import await_

from app.domain.wallet_changes import WalletChangeHub
from app.persistence.sqlite_driver import connection_factory
from app.persistence.wallet_change_feed import PostgresWalletChanges
from app.settings import Settings

T = TypeVar("T")


_SQLITE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON")


def _sqlite_engine(settings: Settings, *, write: bool, on_loop: bool, begin: bool = True) -> AsyncEngine:
    """Readers begin DEFERRED and keep SQLite's busy wait; writers begin IMMEDIATE and wait in
    the unit of work instead (busy_timeout 0). The driver's `timeout` covers connecting and the
    PRAGMAs either way (a WAL reader waits only while another connection recovers the WAL index).
    Without `begin`, nothing is begun: every statement runs in the driver's autocommit, its own
    snapshot (readers of one statement only)."""
    busy_timeout_ms = 0 if write else settings.lock_timeout_ms
    # Autocommit readers are read-only in SQLite itself: a write through one would commit at once.
    read_only = () if begin else ("PRAGMA query_only=ON",)
    creator = connection_factory(
        settings.database_url,
        on_loop=on_loop,
        timeout_s=settings.lock_timeout_ms / 1000,
        pragmas=(*_SQLITE_PRAGMAS, f"PRAGMA busy_timeout={int(busy_timeout_ms)}", *read_only),
    )
    engine = create_async_engine(
        settings.database_url,
        async_creator=creator,
        pool_size=settings.db_pool_size,
        pool_timeout=_pool_timeout(settings),
        # Nothing to roll back on a connection that never begins a transaction.
        pool_reset_on_return="rollback" if begin else None,
    )
    if not begin:
        return engine
    begin_sql = "BEGIN IMMEDIATE" if write else "BEGIN"

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin_sql)

    return engine


def _pool_timeout(settings: Settings) -> float:
    return pool_timeout_s(settings.lock_timeout_ms)


def pool_timeout_s(lock_timeout_ms: int) -> float:
    # Waiting for a free connection is bounded like waiting for a lock, and ends the same way (521).
    return max(lock_timeout_ms / 1000, 0.5)


@dataclass
class Database:
    """Sessions by kind: read or write, ordinary or bulk. On PostgreSQL every kind is one engine;
    on SQLite each kind has its own (BEGIN DEFERRED or IMMEDIATE; the event loop's thread, or a
    thread for bulk work: see sqlite_driver.py)."""

    url: str
    reader: AsyncEngine
    writer: AsyncEngine
    lock_timeout_ms: int
    bulk_reader: AsyncEngine | None = None  # None: the same as reader / writer
    bulk_writer: AsyncEngine | None = None
    # Reads without a transaction (`snapshot=False`); None: they use `reader` as the others do.
    statement_reader: AsyncEngine | None = None
    # How many connections `statement_reader`'s pool holds at most (its size and overflow).
    statement_reader_capacity: int = 0
    wallet_changes: WalletChangeHub | PostgresWalletChanges = field(init=False)

    @property
    def pool_timeout_s(self) -> float:
        return pool_timeout_s(self.lock_timeout_ms)

    @property
    def is_sqlite(self) -> bool:
        return self.reader.dialect.name == "sqlite"

    @property
    def engines(self) -> list[AsyncEngine]:
        """Every distinct engine (to dispose them, or to listen to every statement)."""
        kinds = (self.reader, self.writer, self.bulk_reader, self.bulk_writer, self.statement_reader)
        return list(dict.fromkeys(engine for engine in kinds if engine is not None))

    def __post_init__(self) -> None:
        # SQLite only: the queue of this process's writers, bulk or not (asyncio.Lock is FIFO
        # and binds to the event loop at its first contended acquire, not here).
        self.write_gate = asyncio.Lock()
        # Turns for the statement reader's connections, taken before its pool is asked. The pool's
        # own wait is not first come, first served: a connection given back goes to whichever
        # request asks next, before the waiter it wakes runs, and that waiter queues again at the
        # back; at 32 concurrent wallet reads over a pool of 10 some waited a second and more.
        # asyncio.Semaphore is fair (FIFO, no barging), so with no more turns than connections
        # the pool never has a waiter.
        self.statement_reader_turns = asyncio.Semaphore(max(self.statement_reader_capacity, 1))
        # The statement reader's connections between reads, kept checked out of its pool: a read
        # takes one without the pool's checkout and gives it back without its checkin, which
        # together cost a wallet read more than its statement's own Python side. No more than
        # the turns (one per connection the pool may hold); a read that failed closes its own.
        self.statement_reader_idle: list[AsyncConnection] = []
        self.wallet_changes = WalletChangeHub() if self.is_sqlite else PostgresWalletChanges(self.url)
        self._sessions = {
            (write, bulk): async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
            for write, bulk, engine in (
                (False, False, self.reader),
                (True, False, self.writer),
                (False, True, self.bulk_reader or self.reader),
                (True, True, self.bulk_writer or self.writer),
            )
        }

    def session(self, *, write: bool, bulk: bool = False) -> AsyncSession:
        return self._sessions[(write, bulk)]()

    async def dispose(self) -> None:
        if isinstance(self.wallet_changes, PostgresWalletChanges):
            await self.wallet_changes.close()
        await self.close_idle_statement_connections()
        for engine in self.engines:
            await engine.dispose()

    async def close_idle_statement_connections(self, *, invalidate: bool = False) -> None:
        """Closes the kept connections (`invalidate`: they may be dead, so none goes back to the
        pool)."""
        idle, self.statement_reader_idle[:] = list(self.statement_reader_idle), []
        for connection in idle:
            if invalidate:
                await connection.invalidate()
            await connection.close()


def dialect_of(session: AsyncSession) -> str:
    """The database a session talks to, "sqlite" or "postgresql" (a repository's SQL differs by it).
    Also for the statement reads' executor (uow.py), which knows its dialect."""
    dialect = getattr(session, "dialect", None)
    return str(dialect.name) if dialect is not None else session.get_bind().dialect.name


# The statement(s) a checkout from the PostgreSQL pool begins its transaction with, if any: set
# by a write unit of work around taking its connection (`beginning_with`), read by `_checkout`
# (the pool's checkout runs in the caller's context, SQLAlchemy's greenlet sharing it).
_BEGIN_WITH: ContextVar[str | None] = ContextVar("begin_with", default=None)


@contextmanager
def beginning_with(statements: str) -> Iterator[None]:
    """Connections taken from the PostgreSQL pool meanwhile come with their transaction begun,
    `BEGIN; <statements>` in one round trip (SQLAlchemy's asyncpg dialect would send BEGIN
    alone, before the first statement). Only statements without parameters (simple protocol)."""
    token = _BEGIN_WITH.set(statements)
    try:
        yield
    finally:
        _BEGIN_WITH.reset(token)


class _BegunTransaction:
    """Ends a transaction `_checkout` began, in the place of the asyncpg `Transaction` the
    dialect's connection would have begun itself (its `_transaction`: the dialect calls only
    `commit` and `rollback` of it, then forgets it)."""

    __slots__ = ("_driver",)

    def __init__(self, driver: Any) -> None:
        self._driver = driver

    async def commit(self) -> None:
        await self._driver.execute("COMMIT")

    async def rollback(self) -> None:
        await self._driver.execute("ROLLBACK")


def _checkout(dbapi_connection: Any, _record: ConnectionPoolEntry, _proxy: Any) -> None:
    """The pre-ping, or for a write unit of work its BEGIN, which proves the connection alive as
    well. A connection found dead raises InvalidatePoolError: the pool replaces it (and the
    connections older than it, as after a server restart) and runs this again on the new one."""
    statements = _BEGIN_WITH.get()
    driver = dbapi_connection.driver_connection
    try:
        if statements is None:
            dbapi_connection.ping()
        else:
            await_(driver.execute(f"BEGIN; {statements}"))
            dbapi_connection._transaction = _BegunTransaction(driver)
    except Exception as error:
        if driver.is_closed():
            raise InvalidatePoolError() from error
        if statements is None:
            raise
        dbapi_connection._handle_exception(error)  # raises it as the dialect's DBAPI error


def create_database(settings: Settings) -> Database:
    url = settings.database_url
    if url.startswith("sqlite"):
        return Database(
            url=url,
            reader=_sqlite_engine(settings, write=False, on_loop=True),
            writer=_sqlite_engine(settings, write=True, on_loop=True),
            bulk_reader=_sqlite_engine(settings, write=False, on_loop=False),
            bulk_writer=_sqlite_engine(settings, write=True, on_loop=False),
            statement_reader=_sqlite_engine(settings, write=False, on_loop=True, begin=False),
            statement_reader_capacity=2 * settings.db_pool_size,  # pool_size + SQLAlchemy's default overflow
            lock_timeout_ms=settings.lock_timeout_ms,
        )
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_timeout=_pool_timeout(settings),
    )
    event.listen(engine.sync_engine.pool, "checkout", _checkout)
    statement_reader = create_async_engine(
        url,
        isolation_level="AUTOCOMMIT",
        # Read-only in the server too: a write through it would commit at once. A session default
        # (not a SET per statement), given at connect time.
        connect_args={"server_settings": {"default_transaction_read_only": "on"}},
        # Bounded by the pool alone: each process already keeps the wallet engine's pool and the
        # window counter's, and PostgreSQL's connections are few.
        pool_size=settings.db_pool_size,
        max_overflow=0,
        pool_timeout=_pool_timeout(settings),
        pool_reset_on_return=None,  # AUTOCOMMIT: there is never a transaction to roll back
    )
    return Database(
        url=url,
        reader=engine,
        writer=engine,
        statement_reader=statement_reader,
        statement_reader_capacity=settings.db_pool_size,
        lock_timeout_ms=settings.lock_timeout_ms,
    )


def run_with_database(settings: Settings, action: Callable[[Database], Awaitable[T]]) -> T:
    """For commands outside the server: one action on a database of its own, disposed after."""

    async def main() -> T:
        database = create_database(settings)
        try:
            return await action(database)
        finally:
            await database.dispose()

    return asyncio.run(main())
