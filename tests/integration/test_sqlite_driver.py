"""Where SQLite runs: ordinary units of work on the event loop's thread, bulk ones (an issue's) on a
thread of their own (app/persistence/sqlite_driver.py)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.persistence.database import Database
from app.persistence.uow import SqlUnitOfWork
from tests.integration.test_issue_chunks import given_org, issue
from tests.support import is_postgres

pytestmark = pytest.mark.skipif(is_postgres(), reason="SQLite's drivers")


def report_threads(engine: AsyncEngine) -> None:
    """`thread_id()` in SQL: the thread SQLite runs the statement on (new connections only)."""

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.create_function("thread_id", 0, threading.get_ident)


async def thread_of(database: Database, *, write: bool, bulk: bool) -> int:
    async with SqlUnitOfWork(database, write=write, bulk=bulk) as uow:
        return int((await uow.session.execute(text("SELECT thread_id()"))).scalar_one())


@pytest.mark.parametrize("write", [False, True], ids=["read", "write"])
async def test_ordinary_units_of_work_run_sqlite_on_the_event_loops_thread(
    database: Database, write: bool
) -> None:
    # given fresh pools whose connections report their thread
    await database.dispose()
    for engine in database.engines:
        report_threads(engine)
    loop_thread = threading.get_ident()
    # then an ordinary unit of work runs SQLite right here, a bulk one elsewhere
    assert await thread_of(database, write=write, bulk=False) == loop_thread
    assert await thread_of(database, write=write, bulk=True) != loop_thread


async def test_a_statement_error_on_the_loop_is_the_dialects_usual_exception(database: Database) -> None:
    # the dialect still sees sqlite3's own exceptions, so a unique violation is an IntegrityError
    async with SqlUnitOfWork(database, write=True) as uow:
        await uow.session.execute(text("CREATE TEMP TABLE probe (id INTEGER PRIMARY KEY)"))
        await uow.session.execute(text("INSERT INTO probe VALUES (1)"))
        with pytest.raises(IntegrityError):
            await uow.session.execute(text("INSERT INTO probe VALUES (1)"))


async def test_an_issue_asks_only_for_bulk_units_of_work(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given a chunked issue, with every session it opens recorded
    customers = list(range(1, 7))
    promotion = await given_org(database, *customers)
    kinds: list[tuple[bool, bool]] = []
    open_session = database.session

    def recording_session(*, write: bool, bulk: bool = False) -> AsyncSession:
        kinds.append((write, bulk))
        return open_session(write=write, bulk=bulk)

    monkeypatch.setattr(database, "session", recording_session)
    result = await issue(database, promotion, "bulk", list(customers), include_entries=False)
    # then everything was issued, by a read-only pass and three chunks, all of them bulk
    assert result.issued_count == 6
    assert kinds == [(False, True)] + [(True, True)] * 3
