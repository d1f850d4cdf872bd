"""earnPromotions costs a fixed number of SQL statements whatever the number of entries."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from app.domain.commands import EarnEntryRequest, EarnPromotions
from app.domain.models import EarnedFromType, EventDetails, Principal, Scope
from app.persistence.database import Database
from app.persistence.uow import SqlUnitOfWorkFactory
from app.services.earn import earn_promotions
from tests.support import GraphQLClient

ORG_ID = 100737
CUSTOMER = 566881933
PRINCIPAL = Principal(org_id=ORG_ID, client_id=1, username="admin-100737", scopes=frozenset(Scope))
# BEGIN/SET lock_timeout, org, customer lock, promotions, active count, 713 types, existing
# entries, earn counts, entries INSERT, ledger INSERT: ten, plus slack for driver housekeeping.
MAX_STATEMENTS = 12


@contextmanager
def counting(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(database.writer.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(database.writer.sync_engine, "before_cursor_execute", record)


def command(promotion_ids: list[str], source: str) -> EarnPromotions:
    return EarnPromotions(
        customer_id=CUSTOMER,
        event_time=1761750000000,
        earned_from_type=EarnedFromType.ACTIVITY,
        event_details=EventDetails(id="event", type="ACTIVITY"),
        entries=[EarnEntryRequest(p, 2, source) for p in promotion_ids],
    )


async def earn_counting(database: Database, promotion_ids: list[str], source: str) -> list[str]:
    with counting(database) as statements:
        result = await earn_promotions(
            SqlUnitOfWorkFactory(database), PRINCIPAL, command(promotion_ids, source), max_instances=1000
        )
    assert all(o.error is None and o.successful_count == 2 for o in result.outcomes)
    return statements


async def test_ten_entries_cost_the_same_statements_as_one(gql: GraphQLClient, database: Database) -> None:
    # given promotions with an earn limit, so that every lookup runs
    await gql.create_customers(CUSTOMER)
    ids = [(await gql.create_promotion(maxEarnsPerCustomer=5))["id"] for _ in range(11)]
    # when
    one = await earn_counting(database, ids[:1], "one")
    ten = await earn_counting(database, ids[1:], "ten")
    replay = await earn_counting(database, ids[1:], "ten")
    # then
    assert len(one) == len(ten) <= MAX_STATEMENTS, (one, ten)
    assert len(replay) == len(ten) - 2  # a replay inserts neither entries nor ledger rows
