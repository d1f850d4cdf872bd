"""Reads without a snapshot (`uow_factory(snapshot=False)`): one pooled connection, no ORM session,
no transaction. They see what was committed, can write nothing, and heal a dead pooled connection
within the read."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event, insert, text
from sqlalchemy.exc import DBAPIError

from app.domain.clock import now_ms
from app.domain.errors import ResourceLocked
from app.domain.models import Customer
from app.persistence.database import Database
from app.persistence.tables import customer_table
from app.persistence.uow import SqlUnitOfWork, SqlUnitOfWorkFactory
from tests.conftest import ORG_ID
from tests.support import is_postgres

# Every test here needs the seed org in its database (its customers belong to it).
pytestmark = pytest.mark.usefixtures("org_clients")


async def add_customer(database: Database, customer_id: int) -> None:
    async with SqlUnitOfWork(database, write=True) as uow:
        await uow.customers.add_many([Customer(org_id=ORG_ID, id=customer_id)], created_at=now_ms())
        await uow.commit()


async def test_a_read_without_a_snapshot_sees_what_was_committed_before_it(database: Database) -> None:
    reads = SqlUnitOfWorkFactory(database)
    async with reads(snapshot=False) as uow:
        assert await uow.customers.get(ORG_ID, 990_000_041) is None
    await add_customer(database, 990_000_041)
    async with reads(snapshot=False) as uow:
        found = await uow.customers.get(ORG_ID, 990_000_041)
    assert found is not None and found.id == 990_000_041


async def test_a_read_without_a_snapshot_sends_no_transaction_control(database: Database) -> None:
    # (the customer's read runs on the driver connection: direct.py announces it to listeners)
    await add_customer(database, 990_000_042)
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    for engine in database.engines:
        event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        async with SqlUnitOfWorkFactory(database)(snapshot=False) as uow:
            await uow.customers.get(ORG_ID, 990_000_042)
    finally:
        for engine in database.engines:
            event.remove(engine.sync_engine, "before_cursor_execute", record)
    assert len(sent) == 1 and sent[0].lstrip().upper().startswith("SELECT"), sent


async def test_nothing_can_be_written_through_a_read_without_a_snapshot(database: Database) -> None:
    async with SqlUnitOfWorkFactory(database)(snapshot=False) as uow:
        with pytest.raises(DBAPIError):
            await uow.session.execute(
                insert(customer_table).values(org_id=ORG_ID, id=990_000_043, created_at=now_ms())
            )
        with pytest.raises(RuntimeError):
            await uow.commit()
    async with SqlUnitOfWorkFactory(database)() as uow:
        assert await uow.customers.get(ORG_ID, 990_000_043) is None


def test_a_write_unit_of_work_always_has_its_transaction(database: Database) -> None:
    with pytest.raises(ValueError):
        SqlUnitOfWorkFactory(database)(write=True, snapshot=False)


async def terminate_backends(database_url: str, pids: list[int]) -> None:
    """What a server restart does to these connections' backends."""
    admin = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        for pid in pids:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
    finally:
        await admin.close()


async def wallet_page_size(uow: SqlUnitOfWork, customer_id: int) -> int:
    """A read run on the driver connection (direct.py), past SQLAlchemy's execution."""
    view = await uow.wallet.view(
        ORG_ID,
        customer_id,
        statuses=None,
        promotion_id=None,
        first=5,
        after=None,
        now=now_ms(),
        with_count=True,
        with_promotions=True,
    )
    assert view.total_count is not None
    return view.total_count


@pytest.mark.skipif(not is_postgres(), reason="PostgreSQL server connections")
async def test_a_pooled_connection_the_server_closed_is_replaced_within_the_read(
    database: Database, database_url: str
) -> None:
    # given a pool holding a connection of the reads, whose backend the server then terminates
    await add_customer(database, 990_000_044)
    reads = SqlUnitOfWorkFactory(database)
    async with reads(snapshot=False) as uow:
        pid = await uow.session.scalar(text("SELECT pg_backend_pid()"))
    await terminate_backends(database_url, [pid])
    # when the next read (run on the driver connection, past SQLAlchemy) takes it from the pool:
    # then it is answered, on a fresh connection, and the dead one is not handed out again
    async with reads(snapshot=False) as uow:
        found = await uow.customers.get(ORG_ID, 990_000_044)
        assert await uow.session.scalar(text("SELECT pg_backend_pid()")) != pid
    assert found is not None
    for _ in range(3):
        async with reads(snapshot=False) as uow:
            assert await wallet_page_size(uow, 990_000_044) == 0


async def test_reads_past_the_pools_connections_take_their_turns_in_the_order_they_came(
    database: Database,
) -> None:
    # One turn only: the first read holds it; the others wait and go one by one in arrival order
    # as it is given back (the pool's own wait would hand a freed connection to whoever asks next).
    database.statement_reader_turns = asyncio.Semaphore(1)
    await add_customer(database, 990_000_051)
    reads = SqlUnitOfWorkFactory(database)
    served: list[int] = []
    release, holding = asyncio.Event(), asyncio.Event()

    async def read(number: int, hold: bool) -> None:
        async with reads(snapshot=False) as uow:
            await uow.customers.get(ORG_ID, 990_000_051)
            served.append(number)
            if hold:
                holding.set()
                await release.wait()

    holder = asyncio.create_task(read(1, hold=True))
    await holding.wait()
    waiting = []
    for number in (2, 3, 4):
        waiting.append(asyncio.create_task(read(number, hold=False)))
        await asyncio.sleep(0.01)  # each queues before the next arrives
    assert served == [1]  # the waiting reads have not run a statement
    release.set()
    await asyncio.gather(holder, *waiting)
    assert served == [1, 2, 3, 4]
    assert database.statement_reader_turns._value == 1  # the turn given back


async def test_a_read_that_gets_no_turn_in_time_is_told_to_retry(database: Database) -> None:
    database.statement_reader_turns = asyncio.Semaphore(1)
    database.lock_timeout_ms = 100  # the pool timeout: at least 0.5 s
    await add_customer(database, 990_000_052)
    reads = SqlUnitOfWorkFactory(database)
    async with reads(snapshot=False) as holder:
        await holder.customers.get(ORG_ID, 990_000_052)
        with pytest.raises(ResourceLocked):
            async with reads(snapshot=False) as uow:
                await uow.customers.get(ORG_ID, 990_000_052)
    async with reads(snapshot=False) as uow:  # the turn was given back
        assert await uow.customers.get(ORG_ID, 990_000_052) is not None


async def test_a_reads_connection_is_kept_for_the_next_read_past_the_pools_checkout_and_checkin(
    database: Database,
) -> None:
    await add_customer(database, 990_000_053)
    reads = SqlUnitOfWorkFactory(database)
    await database.close_idle_statement_connections()
    async with reads(snapshot=False) as uow:
        await uow.customers.get(ORG_ID, 990_000_053)
    assert len(database.statement_reader_idle) == 1
    kept = database.statement_reader_idle[0]
    async with reads(snapshot=False) as uow:
        assert await wallet_page_size(uow, 990_000_053) == 0
        assert not database.statement_reader_idle  # taken by this read
    assert database.statement_reader_idle == [kept]


async def test_a_connection_whose_statement_failed_is_not_kept(database: Database) -> None:
    await database.close_idle_statement_connections()
    async with SqlUnitOfWorkFactory(database)(snapshot=False) as uow:
        await uow.customers.get(ORG_ID, 990_000_054)
        with pytest.raises(DBAPIError):
            await uow.session.execute(
                insert(customer_table).values(org_id=ORG_ID, id=990_000_054, created_at=now_ms())
            )
    assert database.statement_reader_idle == []


async def test_the_kept_connections_go_back_when_the_database_is_disposed(database: Database) -> None:
    await add_customer(database, 990_000_055)
    reads = SqlUnitOfWorkFactory(database)
    async with reads(snapshot=False) as first, reads(snapshot=False) as second:
        await first.customers.get(ORG_ID, 990_000_055)
        await second.customers.get(ORG_ID, 990_000_055)
    assert len(database.statement_reader_idle) >= 2
    assert database.statement_reader is not None
    pool: Any = database.statement_reader.sync_engine.pool
    assert pool.checkedout() >= 2
    await database.close_idle_statement_connections()
    assert database.statement_reader_idle == [] and pool.checkedout() == 0


@pytest.mark.skipif(not is_postgres(), reason="PostgreSQL server connections")
async def test_a_server_restart_that_killed_every_kept_connection_costs_a_read_nothing(
    database: Database, database_url: str
) -> None:
    # given three kept connections, whose backends the server then terminates (as a restart would)
    await add_customer(database, 990_000_056)
    await database.close_idle_statement_connections()
    reads = SqlUnitOfWorkFactory(database)
    pids = []
    async with reads(snapshot=False) as a, reads(snapshot=False) as b, reads(snapshot=False) as c:
        for uow in (a, b, c):
            pids.append(await uow.session.scalar(text("SELECT pg_backend_pid()")))
    assert len(database.statement_reader_idle) == 3
    await terminate_backends(database_url, pids)
    # when the next read takes one of them: then it is answered on a fresh connection, the other
    # dead ones are dropped, and the reads after it are answered too
    async with reads(snapshot=False) as uow:
        assert await wallet_page_size(uow, 990_000_056) == 0
        assert await uow.session.scalar(text("SELECT pg_backend_pid()")) not in pids
    assert len(database.statement_reader_idle) == 1
    for _ in range(3):
        async with reads(snapshot=False) as uow:
            assert await wallet_page_size(uow, 990_000_056) == 0
