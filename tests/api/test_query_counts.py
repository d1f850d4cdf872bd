"""N+1 guard: a wallet page costs the same number of SQL statements whatever its size."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from sqlalchemy import event

from app.domain import earning
from app.domain.clock import now_ms
from app.domain.ids import new_object_id
from app.domain.models import EarnedFromType
from app.persistence.database import Database
from app.persistence.uow import SqlUnitOfWork
from tests.conftest import ORG_ID
from tests.support import ClientCredentials, GraphQLClient

WALLET = """query($id: Long!, $first: Int) {
  wallet(customerId: $id, first: $first) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id status validTill promotion { id name } } } } }"""


_TRANSACTION_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")


@contextmanager
def sql_statements(database: Database) -> Iterator[list[str]]:
    """Every SQL statement sent to any of the database's engines while the block runs, except
    transaction control (SQLite's `BEGIN` is sent as a statement, PostgreSQL's is not: the counts
    would differ)."""
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(_TRANSACTION_CONTROL):
            statements.append(statement)

    engines = [engine.sync_engine for engine in database.engines]
    for engine in engines:
        event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", record)


async def seed_wallet(
    database: Database, gql: GraphQLClient, customer_id: int, entries: int, promotions: int = 3
) -> None:
    """`entries` wallet entries spread over `promotions` promotions, written through the
    repositories (independent of the earning mutations)."""
    await gql.create_customers(customer_id)
    promotion_ids = [(await gql.create_promotion(name=f"Promo {n}"))["id"] for n in range(promotions)]
    now = now_ms()
    async with SqlUnitOfWork(database, write=True) as uow:
        found = await uow.promotions.get_many(ORG_ID, promotion_ids)
        rows = [
            earning.new_earned_promotion(
                entry_id=new_object_id(),
                promotion=found[promotion_ids[n % promotions]],
                customer_id=customer_id,
                earned_from_type=EarnedFromType.ACTIVITY,
                earned_from_id=f"activity-{n}",
                instance=0,
                event_time=now - n,
                event_details=None,
                timezone="UTC",
                now=now,
            )
            for n in range(entries)
        ]
        await uow.earnings.insert_new(rows)
        await uow.commit()


async def wallet_statements(database: Database, gql: GraphQLClient, customer_id: int) -> tuple[int, dict]:
    await gql.data("{ __typename }")  # authenticates once: the verified secret is cached
    with sql_statements(database) as statements:
        data = await gql.data(WALLET, {"id": customer_id, "first": 100})
    return len(statements), data["wallet"]


async def test_a_wallet_page_costs_the_same_statements_for_1_and_200_entries(
    gql: GraphQLClient, database: Database
) -> None:
    # given
    await seed_wallet(database, gql, 1001, entries=1, promotions=1)
    await seed_wallet(database, gql, 1002, entries=200, promotions=3)
    # when
    small_count, small = await wallet_statements(database, gql, 1001)
    large_count, large = await wallet_statements(database, gql, 1002)
    # then
    assert small["totalCount"] == 1 and len(small["edges"]) == 1
    assert large["totalCount"] == 200 and len(large["edges"]) == 100 and large["pageInfo"]["hasNextPage"]
    assert {edge["node"]["promotion"]["name"] for edge in large["edges"]} == {"Promo 0", "Promo 1", "Promo 2"}
    assert small_count == large_count, (small_count, large_count)
    # The page, its promotions and its total come from one statement (the issue allows 3).
    assert large_count == 1, large_count


async def test_customer_wallet_also_loads_promotions_in_one_batch(
    gql: GraphQLClient, database: Database
) -> None:
    # given
    await seed_wallet(database, gql, 1003, entries=50, promotions=5)
    await gql.data("{ __typename }")
    # when
    with sql_statements(database) as statements:
        data = await gql.data(
            """query($id: Long!) { customer(id: $id) { wallet(first: 100) {
                 totalCount edges { node { promotion { name } } } } } }""",
            {"id": 1003},
        )
    # then the customer is one statement; the page with its promotions and total another
    assert data["customer"]["wallet"]["totalCount"] == 50
    assert len({edge["node"]["promotion"]["name"] for edge in data["customer"]["wallet"]["edges"]}) == 5
    assert len(statements) == 2, statements
    assert all("earned_promotion" in s for s in statements if "FROM promotion" in s or "JOIN promotion" in s)


async def test_entries_outside_a_wallet_page_batch_their_promotions_through_the_loader(
    gql: GraphQLClient, database: Database
) -> None:
    # given two promotions; an earn result's entries come without their promotions
    first = await gql.create_promotion(name="First")
    second = await gql.create_promotion(name="Second")
    await gql.data("{ __typename }")

    async def earn_both_twice(customer_id: int, entry_fields: str) -> tuple[list[dict[str, Any]], int]:
        await gql.create_customers(customer_id)
        earned = [
            {"promotionId": promotion["id"], "earnCount": 2, "earnedFromId": f"activity-{n}"}
            for n, promotion in enumerate((first, second))
        ]
        with sql_statements(database) as statements:
            data = await gql.data(
                "mutation($input: EarnPromotionsInput!) { earnPromotions(input: $input) {"
                " ... on EarnPromotionsSuccess { results { customerEarnedPromotions { "
                + entry_fields
                + " } } } } }",
                {
                    "input": {
                        "customerId": customer_id,
                        "eventTime": now_ms(),
                        "earnedFromType": "ACTIVITY",
                        "eventDetails": {"id": "activity", "type": "ACTIVITY"},
                        "earnedPromotions": earned,
                    }
                },
            )
        results = data["earnPromotions"]["results"]
        return [e for r in results for e in r["customerEarnedPromotions"]], len(statements)

    # when both are earned twice, once without and once with every entry's promotion
    _, without_promotions = await earn_both_twice(1004, "promotionId")
    entries, with_promotions = await earn_both_twice(1005, "promotionId promotion { id name }")
    # then each entry names its own promotion, and the four cost one statement together
    assert [(e["promotionId"], e["promotion"]["id"], e["promotion"]["name"]) for e in entries] == [
        (first["id"], first["id"], "First"),
        (first["id"], first["id"], "First"),
        (second["id"], second["id"], "Second"),
        (second["id"], second["id"], "Second"),
    ]
    assert with_promotions == without_promotions + 1, (without_promotions, with_promotions)


async def test_the_frontend_fields_keep_a_wallet_page_one_statement_on_both_faces(
    gql: GraphQLClient,
    database: Database,
    http: httpx.AsyncClient,
    org_clients: dict[str, ClientCredentials],
) -> None:
    # given
    await seed_wallet(database, gql, 1006, entries=30, promotions=2)
    await gql.data("{ __typename }")
    document = """query($id: Long!) { wallet(customerId: $id, first: 100) { totalCount
      edges { node { id redemptionsRemaining redeemable validTillLocal promotion { name } } } } }"""
    # when the page is read with validTillLocal, which needs the org's timezone
    with sql_statements(database) as graphql_statements:
        data = await gql.data(document, {"id": 1006})
    with sql_statements(database) as rest_statements:
        response = await http.get(
            "/api_gateway/v1/promotions/customer/1006",
            params={"limit": 100},
            headers=org_clients["admin"].headers,
        )
    # then the timezone came with the page: one statement each, every entry in Asia/Kolkata
    nodes = [edge["node"] for edge in data["wallet"]["edges"]]
    assert len(nodes) == 30 and all(n["validTillLocal"].endswith("+05:30") for n in nodes)
    assert len(graphql_statements) == 1, graphql_statements
    assert response.status_code == 200, response.text
    entries = response.json()["data"]["customerEarnedPromotions"]
    assert len(entries) == 30 and all(e["validTillLocal"].endswith("+05:30") for e in entries)
    assert len(rest_statements) == 1, rest_statements


async def test_entries_outside_a_wallet_page_read_the_timezone_once_for_all_of_them(
    gql: GraphQLClient, database: Database
) -> None:
    # given a promotion; an issue result's entries come without the org's timezone
    promotion = await gql.create_promotion()
    await gql.create_customers(1007, 1008, 1009)
    await gql.data("{ __typename }")
    issue = """mutation($p: String!, $c: String!, $ids: [Long]!) {
      issuePromotion(promotionId: $p, contextId: $c, customerIds: $ids) {
        ... on IssuePromotionSuccess { earnedPromotions { FIELDS } } } }"""

    async def issued(context: str, fields: str) -> tuple[list[dict[str, Any]], int]:
        with sql_statements(database) as statements:
            data = await gql.data(
                issue.replace("FIELDS", fields),
                {"p": promotion["id"], "c": context, "ids": [1007, 1008, 1009]},
            )
        return data["issuePromotion"]["earnedPromotions"], len(statements)

    # when three entries are issued, once without and once with validTillLocal
    _, without_local = await issued("ctx-1", "id")
    entries, with_local = await issued("ctx-2", "id validTillLocal")
    # then the three share one read of the timezone
    assert len(entries) == 3 and all(e["validTillLocal"].endswith("+05:30") for e in entries)
    assert with_local == without_local + 1, (without_local, with_local)
