"""The hold invariant queries (app/persistence/hold_invariants.py) on a real database: silent on
what the services write, and each kind found when the rows say something impossible."""

from __future__ import annotations

from sqlalchemy import update

from app.domain.clock import now_ms
from app.domain.commands import HoldPromotions
from app.domain.models import HoldStatus, LedgerKind
from app.persistence.database import Database
from app.persistence.hold_invariants import HoldViolationKind, check_holds
from app.persistence.tables import hold_allocation_table, hold_table, wallet_ledger_table
from app.persistence.uow import SqlUnitOfWork, SqlUnitOfWorkFactory
from app.services.holds import commit_hold, hold_promotions, release_hold
from tests.integration.test_redeem_statements import ISSUE, PRINCIPAL, purchase
from tests.support import GraphQLClient


async def kinds(database: Database) -> set[HoldViolationKind]:
    async with database.reader.connect() as connection:
        return {v.kind for v in await check_holds(connection, now=now_ms())}


async def held(gql: GraphQLClient, database: Database, customer: int, txn: str) -> str:
    await gql.create_customers(customer)
    promotion = (await gql.create_promotion(maxRedemptionsPerEarn=1))["id"]
    issued = await gql.data(ISSUE, {"p": promotion, "ids": [customer]})
    assert issued["issuePromotion"]["__typename"] == "IssuePromotionSuccess"
    hold = await hold_promotions(
        SqlUnitOfWorkFactory(database), PRINCIPAL, HoldPromotions(purchase(customer, promotion, txn))
    )
    return hold.id


async def test_what_the_services_write_passes_and_impossible_rows_are_found(
    gql: GraphQLClient, database: Database
) -> None:
    # given a committed, a released and a live hold
    factory = SqlUnitOfWorkFactory(database)
    committed = await held(gql, database, 11, "inv-1")
    await commit_hold(factory, PRINCIPAL, committed)
    released = await held(gql, database, 12, "inv-2")
    await release_hold(factory, PRINCIPAL, released)
    live = await held(gql, database, 13, "inv-3")
    assert await kinds(database) == set()
    # when a live hold reserves more than its entry allows, and a marker carries a quantity
    async with SqlUnitOfWork(database, write=True) as uow:
        await uow.session.execute(
            update(hold_allocation_table).where(hold_allocation_table.c.hold_id == live).values(count=2)
        )
        await uow.session.execute(
            update(wallet_ledger_table)
            .where(
                wallet_ledger_table.c.source == released, wallet_ledger_table.c.kind == LedgerKind.HELD.value
            )
            .values(quantity=-1)
        )
        # and a released hold claims it was committed
        await uow.session.execute(
            update(hold_table).where(hold_table.c.id == released).values(status=HoldStatus.COMMITTED.value)
        )
        await uow.commit()
    # then
    assert await kinds(database) == {
        HoldViolationKind.HOLD_OVER_RESERVED,
        HoldViolationKind.HOLD_LEDGER_MISMATCH,
        HoldViolationKind.HOLD_COMMIT_MISMATCH,
    }
