"""SQLite writers: this process's queue on the write gate, and the unit of work's own wait for a
lock held by another process (app/persistence/uow.py)."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest
from sqlalchemy import func, select

from app.domain.errors import ResourceLocked
from app.persistence.database import Database
from app.persistence.tables import earned_promotion_table
from app.persistence.uow import SqlUnitOfWork
from tests.integration.test_issue_chunks import given_org, issue
from tests.support import is_postgres

pytestmark = pytest.mark.skipif(is_postgres(), reason="SQLite's database-wide write lock")


def outside_writer(database: Database) -> sqlite3.Connection:
    """Another process's view of the file: a plain connection holding the write lock."""
    holder = sqlite3.connect(database.url.split(":///", 1)[1], isolation_level=None)
    # WAL, as the service leaves the file (a fresh file would be switched by the service's first
    # connection, which needs the lock held here)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN IMMEDIATE")
    return holder


async def entries_seen_by_a_writer(database: Database) -> int:
    async with SqlUnitOfWork(database, write=True) as uow:
        result = await uow.session.execute(select(func.count()).select_from(earned_promotion_table))
        return int(result.scalar_one())


async def test_a_writer_queued_during_a_chunked_issue_gets_in_after_the_current_chunk(
    database: Database,
) -> None:
    # given a chunked issue of 12 customers, two per chunk, under way
    customers = list(range(1, 13))
    promotion = await given_org(database, *customers)
    issuing = asyncio.create_task(issue(database, promotion, "gate", list(customers), include_entries=False))
    for _ in range(100_000):  # until the first chunk holds the write lock
        if database.write_gate.locked():
            break
        await asyncio.sleep(0)
    else:
        pytest.fail("the issue never took the write gate")
    # when another writer of this process asks for the lock
    seen = await entries_seen_by_a_writer(database)
    # then it gets it as soon as the first chunk commits, ahead of the issue's other five
    assert seen == 2
    result = await issuing
    assert (result.issued_count, result.already_issued_count) == (12, 0)


async def test_a_failed_unit_of_work_leaves_the_gate_free(database: Database) -> None:
    with pytest.raises(RuntimeError):
        async with SqlUnitOfWork(database, write=True):
            raise RuntimeError("the service failed half-way")
    assert not database.write_gate.locked()
    assert await entries_seen_by_a_writer(database) == 0


async def test_writers_queued_behind_another_processs_lock_all_get_521_and_free_the_gate(
    database: Database,
) -> None:
    holder = outside_writer(database)
    try:
        outcomes = await asyncio.gather(
            *(entries_seen_by_a_writer(database) for _ in range(3)), return_exceptions=True
        )
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert all(isinstance(outcome, ResourceLocked) for outcome in outcomes), outcomes
    assert not database.write_gate.locked()
    assert await entries_seen_by_a_writer(database) == 0


async def test_a_writer_polls_another_processs_lock_and_gets_it_once_released(
    database: Database, session_kinds: list[tuple[bool, bool]]
) -> None:
    # given another process holding the write lock for a quarter of the lock timeout
    holder = outside_writer(database)
    release = asyncio.get_running_loop().call_later(
        database.lock_timeout_ms / 1000 / 4, holder.execute, "ROLLBACK"
    )
    try:
        # when this process writes, then it waits the lock out instead of failing
        assert await entries_seen_by_a_writer(database) == 0
    finally:
        release.cancel()
        holder.close()
    # by trying BEGIN IMMEDIATE every few ms (~100 times in 0.5 s), where SQLite's busy handler
    # would have made one attempt that sleeps up to 100 ms between its polls
    attempts = sum(write for write, _ in session_kinds)
    assert attempts > 10, attempts
    assert not database.write_gate.locked()


async def test_writers_cancelled_while_waiting_free_the_gate_and_their_connections(
    database: Database,
) -> None:
    # given another process holding the lock, and two writers waiting: one polling, one queued
    holder = outside_writer(database)
    try:
        waiting = [asyncio.create_task(entries_seen_by_a_writer(database)) for _ in range(2)]
        await asyncio.sleep(0.05)
        # when both requests are cancelled (say, the server shuts down)
        for task in waiting:
            task.cancel()
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # then neither holds the gate or a connection, and the next writer gets in
    assert all(isinstance(outcome, asyncio.CancelledError) for outcome in outcomes), outcomes
    assert not database.write_gate.locked()
    assert database.writer.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert await entries_seen_by_a_writer(database) == 0
