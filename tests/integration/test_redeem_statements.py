"""redeemPromotions costs a fixed, small number of SQL statements, and a new transaction does not
pay for the replay lookup that only a repeated one needs."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event

from app.domain.commands import RedeemPromotions
from app.domain.models import Principal, RedemptionLine, Scope
from app.persistence import direct
from app.persistence.database import Database
from app.persistence.uow import SqlUnitOfWorkFactory
from app.services.redeem import redeem_promotions
from tests.integration.test_earn_statements import counting
from tests.support import GraphQLClient

ORG_ID = 100737
PRINCIPAL = Principal(org_id=ORG_ID, client_id=1, username="admin-100737", scopes=frozenset(Scope))
ISSUE = """mutation($p: String!, $ids: [Long]!) { issuePromotion(promotionId: $p, contextId: "stmts",
  customerIds: $ids) { __typename } }"""
# SQLite's BEGIN IMMEDIATE, the customer (and its wallet lock) with its org, the promotions with
# the customer's entries of them, the guarded UPDATE of the entry, the redemption, its lines and
# its consumption, and its ledger row: eight. PostgreSQL's BEGIN carries the SET LOCAL
# lock_timeout in its round trip (neither is a statement of SQLAlchemy's), and the redemption,
# its lines, its consumption and its ledger row are one statement: four.
SQLITE_NEW_REDEMPTION_STATEMENTS = 8
POSTGRES_NEW_REDEMPTION_STATEMENTS = 4


def new_redemption_statements(database: Database) -> int:
    return SQLITE_NEW_REDEMPTION_STATEMENTS if database.is_sqlite else POSTGRES_NEW_REDEMPTION_STATEMENTS


def purchase(customer_id: int, promotion_id: str, txn: str) -> RedeemPromotions:
    one = Decimal(1)
    return RedeemPromotions(
        transaction_identifier=txn,
        transaction_number="bill-1",
        transaction_date=1743521508000,
        amount=Decimal(1000),
        customer_id=customer_id,
        line_items=[RedemptionLine(promotion_id, 1, Decimal(100), one, one)],
    )


async def test_a_new_redemption_costs_a_fixed_few_statements_and_a_replay_is_still_answered(
    gql: GraphQLClient, database: Database
) -> None:
    # given a customer holding a two-use entry
    await gql.create_customers(7)
    promotion = (await gql.create_promotion(maxRedemptionsPerEarn=2))["id"]
    assert (await gql.data(ISSUE, {"p": promotion, "ids": [7]}))["issuePromotion"]["__typename"] == (
        "IssuePromotionSuccess"
    )
    # when it is redeemed once, and the same transaction is sent again
    with counting(database) as new:
        first = await redeem_promotions(
            SqlUnitOfWorkFactory(database), PRINCIPAL, purchase(7, promotion, "txn-1")
        )
    with counting(database):
        replay = await redeem_promotions(
            SqlUnitOfWorkFactory(database), PRINCIPAL, purchase(7, promotion, "txn-1")
        )
    # then the new one costs its fixed count, and the replay answers the recorded redemption
    assert len(new) == new_redemption_statements(database), new
    assert replay.id == first.id
    assert [(c.earned_promotion_id, c.count) for c in replay.consumed] == [
        (c.earned_promotion_id, c.count) for c in first.consumed
    ]
    wallet = await gql.data("{ wallet(customerId: 7, first: 1) { edges { node { redemptionsUsed } } } }")
    assert wallet["wallet"]["edges"] == [{"node": {"redemptionsUsed": 1}}]  # counted once


async def test_every_statement_of_a_redemption_is_compiled_once_and_then_cached(
    gql: GraphQLClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given two customers holding an entry each, and a first redemption (which compiles)
    await gql.create_customers(8, 9)
    promotion = (await gql.create_promotion())["id"]
    await gql.data(ISSUE, {"p": promotion, "ids": [8, 9]})
    await redeem_promotions(SqlUnitOfWorkFactory(database), PRINCIPAL, purchase(8, promotion, "txn-8"))
    # when the second customer redeems
    kinds: list[str] = []
    compiled_directly: list[str] = []

    class Compiled(direct._Compiled):
        def __post_init__(self) -> None:
            compiled_directly.append(self.sql)

    monkeypatch.setattr(direct, "_Compiled", Compiled)

    def record(_conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool) -> None:
        if context is None:  # run on the driver connection (persistence/direct.py)
            kinds.append("DIRECT")
        elif context.compiled is not None:  # not SQLite's raw BEGIN IMMEDIATE
            kinds.append(context.cache_hit.name)

    event.listen(database.writer.sync_engine, "before_cursor_execute", record)
    try:
        await redeem_promotions(SqlUnitOfWorkFactory(database), PRINCIPAL, purchase(9, promotion, "txn-9"))
    finally:
        event.remove(database.writer.sync_engine, "before_cursor_execute", record)
    # then SQLAlchemy took every statement it ran from its compiled cache (a multi-row
    # `.values([...])` has no cache key and would be compiled on every redemption), and none of
    # those run on the driver connection was compiled again
    assert len(kinds) >= new_redemption_statements(database) - 1
    assert set(kinds) <= {"CACHE_HIT", "DIRECT"}, kinds
    assert "DIRECT" in kinds
    assert compiled_directly == []
