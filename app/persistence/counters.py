"""Window counters (domain/ports.py `WindowCounter`): in the database on PostgreSQL, in the process
on SQLite.

PostgreSQL: one statement per hit, an upsert on the (key, window) row that returns the new count;
every process shares it, and it runs outside any wallet transaction (its own autocommit
statement), so a rate-limit count never waits for a wallet lock. The statement commits without
waiting for its WAL to reach the disk (`synchronous_commit` off for its own transaction, set by
the statement itself, so no session state is left on a pooled or PgBouncer'd connection): every
request of one client increments the same row, so each would otherwise hold the row lock until
the previous one's flush, and a crash can at most forget the last moments' counts, which only
lets a few requests more through. Old windows are deleted by the process that notices them, at
most once a minute.

SQLite: one machine, one writer at a time: a database write per request would queue every
request behind the wallet writes, so each process counts for itself (the README says so)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from sqlalchemy import BigInteger, Integer, String, bindparam, delete, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.domain.errors import ResourceLocked
from app.persistence.tables import rate_limit_counter_table as counters
from app.settings import Settings

_PURGE_EVERY_S = 60.0
T = TypeVar("T")

# Built once: the keys travel as one array, so every hit, of one key or several, is this statement.
_UPSERT = text(
    f"""
    INSERT INTO {counters.name} (key, window_start, hits, expires_at)
    SELECT hit_key, :window_start, :amount, :expires_at
    FROM unnest(:keys) AS hit_key
    CROSS JOIN (SELECT set_config('synchronous_commit', 'off', true)) AS commit_without_flush
    WHERE true
    ON CONFLICT (key, window_start) DO UPDATE SET hits = {counters.name}.hits + EXCLUDED.hits
    RETURNING key, hits
    """
).bindparams(
    bindparam("keys", type_=ARRAY(String)),
    bindparam("window_start", type_=BigInteger),
    bindparam("amount", type_=Integer),
    bindparam("expires_at", type_=BigInteger),
)


def _raise_busy_if_transient(exc: BaseException) -> None:
    """Every pooled connection busy for the pool timeout, or the connection lost: what a unit of
    work says then (ResourceLocked: retry shortly). Anything else (a missing table) is a bug, and
    stays the server error it is."""
    transient = isinstance(exc, (PoolTimeout, OSError)) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated
    )
    if transient:
        raise ResourceLocked("the server is busy; retry shortly", retry_after_ms=1000) from exc


class SqlWindowCounter:
    def __init__(self, engine: AsyncEngine, *, owned: bool = False) -> None:
        self._owned = engine if owned else None
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._next_purge = 0.0

    async def close(self) -> None:
        if self._owned is not None:
            await self._owned.dispose()

    async def hit(self, key: str, window_start_ms: int, *, expires_at_ms: int, amount: int = 1) -> int:
        [hits] = await self.hit_all([key], window_start_ms, expires_at_ms=expires_at_ms, amount=amount)
        return hits

    async def hit_all(
        self, keys: Sequence[str], window_start_ms: int, *, expires_at_ms: int, amount: int = 1
    ) -> list[int]:
        values = {
            "keys": list(dict.fromkeys(keys)),
            "window_start": window_start_ms,
            "amount": amount,
            "expires_at": expires_at_ms,
        }

        async def upsert(connection: AsyncConnection) -> dict[str, int]:
            found = {key: int(hits) for key, hits in (await connection.execute(_UPSERT, values)).all()}
            if time.monotonic() >= self._next_purge:
                self._next_purge = time.monotonic() + _PURGE_EVERY_S
                await connection.execute(delete(counters).where(counters.c.expires_at < window_start_ms))
            return found

        found = await self._on_a_connection(upsert)
        return [found[key] for key in keys]

    async def count(self, key: str, window_start_ms: int) -> int:
        statement = select(counters.c.hits).where(
            counters.c.key == key, counters.c.window_start == window_start_ms
        )

        async def read(connection: AsyncConnection) -> int:
            return int((await connection.execute(statement)).scalar() or 0)

        return await self._on_a_connection(read)

    async def _on_a_connection(self, action: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """`action` on a pooled connection. One that the server closed meanwhile (a restart, a
        terminated backend) fails its first statement and is thrown away: the action runs once
        more on a fresh one, so a count costs no ping and a dead pool heals within one request.
        What still fails transiently is ResourceLocked (a retryable 503)."""
        for attempt in (1, 2):
            try:
                async with self._engine.connect() as connection:
                    return await action(connection)
            except DBAPIError as exc:
                if exc.connection_invalidated and attempt == 1:
                    continue
                _raise_busy_if_transient(exc)
                raise
            except (PoolTimeout, OSError) as exc:
                _raise_busy_if_transient(exc)
                raise
        raise AssertionError("unreachable: the second attempt returns or raises")


class MemoryWindowCounter:
    """This process's counts; windows past their expiry are dropped as new ones start."""

    def __init__(self) -> None:
        self._hits: dict[tuple[str, int], tuple[int, int]] = {}
        self._purge_at = 0

    async def hit(self, key: str, window_start_ms: int, *, expires_at_ms: int, amount: int = 1) -> int:
        if window_start_ms >= self._purge_at:  # a window start is never in the future: now >= it
            self._hits = {k: v for k, v in self._hits.items() if v[1] > window_start_ms}
            self._purge_at = window_start_ms + int(_PURGE_EVERY_S * 1000)
        hits = self._hits.get((key, window_start_ms), (0, 0))[0] + amount
        self._hits[(key, window_start_ms)] = (hits, expires_at_ms)
        return hits

    async def hit_all(
        self, keys: Sequence[str], window_start_ms: int, *, expires_at_ms: int, amount: int = 1
    ) -> list[int]:
        return [
            await self.hit(key, window_start_ms, expires_at_ms=expires_at_ms, amount=amount) for key in keys
        ]

    async def count(self, key: str, window_start_ms: int) -> int:
        return self._hits.get((key, window_start_ms), (0, 0))[0]

    async def close(self) -> None:
        return None


def window_counter(settings: Settings) -> SqlWindowCounter | MemoryWindowCounter:
    """The counter for a server of `settings`. On PostgreSQL with an engine of its own, without the
    wallet engine's pre-ping: a count is one statement, and a ping before it would double its
    round trips; a connection found dead is replaced and the count run again on a fresh one."""
    if settings.is_sqlite:
        return MemoryWindowCounter()
    engine = create_async_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        pool_timeout=max(settings.lock_timeout_ms / 1000, 0.5),
    )
    return SqlWindowCounter(engine, owned=True)
