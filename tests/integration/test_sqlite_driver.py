"""Where SQLite runs: ordinary units of work on the event loop's thread, bulk ones (an issue's) on a
thread of their own (app/persistence/sqlite_driver.py)."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.commands import CreateCustomer
from app.persistence.database import Database, create_database
from app.persistence.uow import SqlUnitOfWork, SqlUnitOfWorkFactory
from app.services.admin import import_customers
from app.services.queries import redemptions_count
from app.settings import Settings
from tests.integration.test_issue_chunks import PRINCIPAL, given_org, issue
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
    database: Database, session_kinds: list[tuple[bool, bool]]
) -> None:
    # given a chunked issue, with every session it opens recorded
    customers = list(range(1, 7))
    promotion = await given_org(database, *customers)
    session_kinds.clear()
    result = await issue(database, promotion, "bulk", list(customers), include_entries=False)
    # then everything was issued, by a read-only pass and three chunks, all of them bulk
    assert result.issued_count == 6
    assert session_kinds == [(False, True)] + [(True, True)] * 3


async def test_a_customer_import_and_an_org_wide_redemption_count_ask_for_bulk_units_of_work(
    database: Database, session_kinds: list[tuple[bool, bool]]
) -> None:
    # given an org
    await given_org(database)
    session_kinds.clear()
    # when customers are imported, and the org's redemptions are counted
    result = await import_customers(
        SqlUnitOfWorkFactory(database), PRINCIPAL, [CreateCustomer(id=n) for n in range(1, 4)]
    )
    count = await redemptions_count(
        SqlUnitOfWorkFactory(database),
        PRINCIPAL,
        customer_id=None,
        promotion_id=None,
        transaction_identifier=None,
    )
    # then both ran off the event loop
    assert (result.created_count, count) == (3, 0)
    assert session_kinds == [(True, True), (False, True)]


async def test_the_file_and_its_options_come_from_the_url_as_sqlalchemy_reads_them(tmp_path: Path) -> None:
    # given a database file, and a URL that opens it read-only through a `file:` URI
    path = tmp_path / "options.db"
    owner = sqlite3.connect(path)  # kept open: its WAL files stay for the read-only readers
    owner.executescript("PRAGMA journal_mode=WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1);")
    url = f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true"
    database = create_database(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    try:
        # then both kinds of connection read it, and neither may write it
        for bulk in (False, True):
            async with SqlUnitOfWork(database, bulk=bulk) as uow:
                assert (await uow.session.execute(text("SELECT x FROM t"))).scalar_one() == 1
                with pytest.raises(OperationalError, match="readonly"):
                    await uow.session.execute(text("INSERT INTO t VALUES (2)"))
    finally:
        await database.dispose()
        owner.close()
