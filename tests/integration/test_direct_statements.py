"""Statements run on the driver connection (persistence/direct.py) run inside the unit of work's
transaction, and their errors reach the unit of work as SQLAlchemy's."""

from __future__ import annotations

import pytest

from app.persistence.database import Database
from app.persistence.uow import SqlUnitOfWork
from tests.support import GraphQLClient, is_postgres

ORG_ID = 100737


@pytest.mark.skipif(not is_postgres(), reason="the asyncpg dialect begins a read transaction lazily")
async def test_a_read_unit_of_works_first_statement_on_postgresql_runs_inside_its_transaction(
    gql: GraphQLClient, database: Database
) -> None:
    # given a read unit of work, whose transaction the dialect begins with its first statement
    async with SqlUnitOfWork(database) as uow:
        # when its first statement is one that could run on the driver connection
        org = await uow.orgs.get(ORG_ID)
        # then the transaction was begun for it (not run outside it, in the driver's autocommit)
        connection = (await uow.session.connection()).sync_connection
        assert org is not None
        assert connection.connection.dbapi_connection._transaction is not None


async def test_the_org_and_customer_read_on_the_driver_connection_are_what_the_session_reads(
    gql: GraphQLClient, database: Database
) -> None:
    # given a write unit of work (its statements run on the driver connection)
    async with SqlUnitOfWork(database, write=True) as direct_uow:
        org = await direct_uow.orgs.get(ORG_ID)
        missing = await direct_uow.customers.get(ORG_ID, 987654321, lock_wallet=True)
    # when the same org is read by a read unit of work without a snapshot (through SQLAlchemy)
    async with SqlUnitOfWork(database, snapshot=False) as reads:
        expected = await reads.orgs.get(ORG_ID)
    # then both read the same, typed alike (SQLite's booleans included)
    assert org == expected and org is not None
    assert isinstance(org.settings.redemption_without_evaluation, bool)
    assert missing is None
