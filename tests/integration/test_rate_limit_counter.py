"""The window counter behind rate limits and the sign-in throttle: on PostgreSQL one statement per
hit, and one count for every process (two databases objects stand for two processes here); on
SQLite a count per process, as the README says."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event

from app.persistence.counters import MemoryWindowCounter, SqlWindowCounter
from app.persistence.database import create_database
from app.settings import Settings
from tests.support import is_postgres


def _database(url: str) -> Any:
    return create_database(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]


@pytest.mark.skipif(not is_postgres(), reason="the shared count is PostgreSQL's")
async def test_two_processes_share_one_count_with_one_statement_per_hit(database_url: str) -> None:
    first, second = _database(database_url), _database(database_url)
    statements: list[str] = []
    event.listen(first.writer.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    try:
        one, two = SqlWindowCounter(first.writer), SqlWindowCounter(second.writer)
        await one.hit("k", 0, expires_at_ms=1)  # the first hit of a process may purge old windows
        statements.clear()
        counts = await asyncio.gather(*(c.hit("k", 60_000, expires_at_ms=120_000) for c in [one, two] * 10))
        assert sorted(counts) == list(range(1, 21))
        assert await two.count("k", 60_000) == 20
        assert len([s for s in statements if "rate_limit_counter" in s]) == 10
    finally:
        await first.dispose()
        await second.dispose()


async def test_sqlite_counts_in_the_process() -> None:
    counter = MemoryWindowCounter()
    assert [await counter.hit("k", 0, expires_at_ms=60_000) for _ in range(3)] == [1, 2, 3]
    assert await counter.count("k", 0) == 3
    # a later window starts again, and the old one is dropped
    assert await counter.hit("k", 120_000, expires_at_ms=180_000) == 1
    assert await counter.count("k", 0) == 0


@pytest.mark.skipif(not is_postgres(), reason="the pooled counter is PostgreSQL's")
async def test_a_counter_waiting_past_the_pool_timeout_says_resource_locked_not_a_pool_error(
    database_url: str,
) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    from app.domain.errors import ResourceLocked

    engine = create_async_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    try:
        counter = SqlWindowCounter(engine)
        async with engine.connect():  # the only connection, held
            with pytest.raises(ResourceLocked):
                await counter.hit("k", 0, expires_at_ms=1)
    finally:
        await engine.dispose()


@pytest.mark.skipif(not is_postgres(), reason="the shared count is PostgreSQL's")
async def test_a_count_leaves_its_connection_as_it_found_it(database_url: str) -> None:
    database = _database(database_url)
    try:
        counter = SqlWindowCounter(database.writer.execution_options(isolation_level="AUTOCOMMIT"))
        async with database.writer.connect() as connection:
            before = (await connection.exec_driver_sql("SHOW synchronous_commit")).scalar()
        assert await counter.hit_all(["a", "b", "a"], 60_000, expires_at_ms=120_000) == [1, 1, 1]
        assert await counter.hit("a", 60_000, expires_at_ms=120_000) == 2
        # The pool's one connection ran the counts: its session setting is the server's still.
        async with database.writer.connect() as connection:
            assert (await connection.exec_driver_sql("SHOW synchronous_commit")).scalar() == before
    finally:
        await database.dispose()
