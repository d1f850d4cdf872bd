"""Engines and sessions.

SQLite: WAL so readers never wait for the writer; the driver's own transaction handling is off
and `BEGIN` is emitted from the engine's `begin` event, so write units of work really start with
`BEGIN IMMEDIATE` (the write lock is taken up front, never lost half-way through a
read-then-write). Reads use a second engine that begins DEFERRED. SQLite has one writer at a
time, and its own wait for the lock (the busy handler) sleeps 1, 2, 5 ... 100 ms between polls:
unfair, and idle while the lock is free. So writers of one process queue on `write_gate`, a FIFO
asyncio lock, and the writer connections do not wait in SQLite at all (busy_timeout 0): the unit
of work polls the lock itself at a short, fixed interval (see uow.py).

PostgreSQL: one engine; write units of work set `lock_timeout` and lock rows explicitly.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from app.settings import Settings

T = TypeVar("T")


def _configure_sqlite(engine: AsyncEngine, *, begin: str, busy_timeout_ms: int) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Connection) -> None:
        connection.exec_driver_sql(begin)


@dataclass
class Database:
    url: str
    reader: AsyncEngine
    writer: AsyncEngine
    lock_timeout_ms: int

    @property
    def is_sqlite(self) -> bool:
        return self.reader.dialect.name == "sqlite"

    def __post_init__(self) -> None:
        # SQLite only: the queue of this process's writers (asyncio.Lock is FIFO and binds to
        # the event loop at its first contended acquire, not here).
        self.write_gate = asyncio.Lock()
        self._read_sessions = async_sessionmaker(self.reader, expire_on_commit=False, autoflush=False)
        self._write_sessions = async_sessionmaker(self.writer, expire_on_commit=False, autoflush=False)

    def session(self, *, write: bool) -> AsyncSession:
        return (self._write_sessions if write else self._read_sessions)()

    async def dispose(self) -> None:
        await self.reader.dispose()
        if self.writer is not self.reader:
            await self.writer.dispose()


def dialect_of(session: AsyncSession) -> str:
    """The database a session talks to, "sqlite" or "postgresql" (a repository's SQL differs by it)."""
    return session.get_bind().dialect.name


def create_database(settings: Settings) -> Database:
    url = settings.database_url
    # Waiting for a free connection is bounded like waiting for a lock, and ends the same way (521).
    pool_timeout = max(settings.lock_timeout_ms / 1000, 0.5)
    if url.startswith("sqlite"):
        # The driver's busy timeout (`timeout`) covers connecting and the PRAGMAs; readers keep it
        # (a WAL reader waits only while another connection recovers the WAL index), writers then
        # turn it off and wait in the unit of work.
        connect_args = {"timeout": settings.lock_timeout_ms / 1000}
        reader = create_async_engine(
            url, connect_args=connect_args, pool_size=settings.db_pool_size, pool_timeout=pool_timeout
        )
        writer = create_async_engine(
            url, connect_args=connect_args, pool_size=settings.db_pool_size, pool_timeout=pool_timeout
        )
        _configure_sqlite(reader, begin="BEGIN", busy_timeout_ms=settings.lock_timeout_ms)
        _configure_sqlite(writer, begin="BEGIN IMMEDIATE", busy_timeout_ms=0)
        return Database(url=url, reader=reader, writer=writer, lock_timeout_ms=settings.lock_timeout_ms)
    engine = create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_timeout=pool_timeout,
        pool_pre_ping=True,
    )
    return Database(url=url, reader=engine, writer=engine, lock_timeout_ms=settings.lock_timeout_ms)


def run_with_database(settings: Settings, action: Callable[[Database], Awaitable[T]]) -> T:
    """For commands outside the server: one action on a database of its own, disposed after."""

    async def main() -> T:
        database = create_database(settings)
        try:
            return await action(database)
        finally:
            await database.dispose()

    return asyncio.run(main())
