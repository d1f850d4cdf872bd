"""Statements run on the driver connection (persistence/direct.py) run inside the unit of work's
transaction, and their errors reach the unit of work as SQLAlchemy's."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import event, update

from app.domain.clock import now_ms
from app.persistence.database import Database
from app.persistence.tables import org_table
from app.persistence.uow import SqlUnitOfWork
from tests.support import GraphQLClient, is_postgres

ORG_ID = 100737
CUSTOMER_ID = 566881933
EARN = """mutation($input: EarnPromotionsInput!) { earnPromotions(input: $input) { __typename } }"""


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
    # when the same org is read by a bulk read unit of work (its first statement goes through
    # SQLAlchemy's execution on either database)
    async with SqlUnitOfWork(database, bulk=True) as reads:
        expected = await reads.orgs.get(ORG_ID)
    # then both read the same, typed alike (SQLite's booleans included)
    assert org == expected and org is not None
    assert isinstance(org.settings.redemption_without_evaluation, bool)
    assert missing is None


async def test_a_wallet_page_read_on_the_driver_connection_is_what_sqlalchemy_reads(
    gql: GraphQLClient, database: Database
) -> None:
    # given a wallet with entries of two promotions
    await gql.create_customers(CUSTOMER_ID)
    promotions = [await gql.create_promotion(maxRedemptionsPerEarn=3), await gql.create_promotion()]
    earned = await gql.data(EARN, {"input": {
        "customerId": CUSTOMER_ID, "eventTime": now_ms(), "earnedFromType": "REWARD",
        "eventDetails": {"id": "direct", "type": "REWARD"},
        "earnedPromotions": [
            {"promotionId": p["id"], "earnedFromId": f"direct-{p['id']}", "earnCount": 1} for p in promotions
        ],
    }})  # fmt: skip
    assert earned["earnPromotions"]["__typename"] == "EarnPromotionsSuccess", earned

    async def page(uow: SqlUnitOfWork) -> Any:
        return await uow.wallet.view(
            ORG_ID, CUSTOMER_ID, statuses=None, promotion_id=None, first=10, after=None, now=now_ms(),
            with_count=True, with_promotions=True, with_timezone=True,
        )  # fmt: skip

    # when it is read without a snapshot (on the driver connection, past SQLAlchemy's execution)
    # and by a bulk read unit of work (through SQLAlchemy's execution)
    async with SqlUnitOfWork(database, snapshot=False) as reads:
        direct_page = await page(reads)
    async with SqlUnitOfWork(database, bulk=True) as reads:
        expected = await page(reads)
    # then both read the same entries, promotions (typed alike: SQLite's booleans), total and zone
    assert direct_page == expected
    assert len(direct_page.page.items) == 2 and direct_page.total_count == 2
    assert all(isinstance(p.active, bool) for p in direct_page.promotions.values())


async def test_the_org_read_with_a_customer_answers_the_org_read_after_it_without_a_statement(
    gql: GraphQLClient, database: Database
) -> None:
    await gql.create_customers(CUSTOMER_ID)
    sent: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        sent.append(statement)

    async with SqlUnitOfWork(database, write=True) as uow:
        assert await uow.customers.get(ORG_ID, CUSTOMER_ID, lock_wallet=True) is not None
        for engine in database.engines:
            event.listen(engine.sync_engine, "before_cursor_execute", record)
        try:
            org = await uow.orgs.get(ORG_ID)
        finally:
            for engine in database.engines:
                event.remove(engine.sync_engine, "before_cursor_execute", record)
    async with SqlUnitOfWork(database, bulk=True) as reads:
        expected = await reads.orgs.get(ORG_ID)
    assert sent == [] and org == expected and org is not None


async def test_an_org_whose_settings_were_saved_or_locked_in_the_unit_of_work_is_read_again(
    gql: GraphQLClient, database: Database
) -> None:
    await gql.create_customers(CUSTOMER_ID)
    async with SqlUnitOfWork(database, write=True) as uow:
        await uow.customers.get(ORG_ID, CUSTOMER_ID, lock_wallet=True)
        before = await uow.orgs.get(ORG_ID)
        assert before is not None
        changed = replace(before.settings, max_active_promotions=before.settings.max_active_promotions + 7)
        await uow.orgs.save_settings(ORG_ID, changed)
        after_save = await uow.orgs.get(ORG_ID)
        # the org read with the customer again, then changed behind the repository's back (as a
        # writer that committed before the lock below would have changed it)
        await uow.customers.get(ORG_ID, CUSTOMER_ID, lock_wallet=True)
        await uow.session.execute(update(org_table).where(org_table.c.id == ORG_ID).values(name="Renamed"))
        await uow.orgs.lock(ORG_ID)
        after_lock = await uow.orgs.get(ORG_ID)
    assert after_save is not None and after_save.settings == changed
    assert after_lock is not None and after_lock.name == "Renamed"
