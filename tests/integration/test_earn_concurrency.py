"""earnPromotions under real concurrency: two uvicorn processes on one database, and a wallet
lock held by someone else. Nothing here measures time."""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any

import asyncpg
import httpx
import pytest

from app.settings import Settings
from tests.support import ClientCredentials, GraphQLClient, is_postgres, live_server

CUSTOMER = 566881933
EARN = """mutation($input: EarnPromotionsInput!) { earnPromotions(input: $input) { __typename
  ... on EarnPromotionsSuccess { results { successfulEarnCount failedEarnCount error { code }
      customerEarnedPromotions { id } } }
  ... on ResourceLockedError { code retryable retryAfterMs } } }"""


def earn_input(*entries: tuple[str, str, int]) -> dict[str, Any]:
    return {
        "customerId": CUSTOMER,
        "eventTime": 1761750000000,
        "earnedFromType": "REWARD",
        "eventDetails": {"id": "reward-run", "type": "REWARD"},
        "earnedPromotions": [
            {"promotionId": p, "earnedFromId": source, "earnCount": count} for p, source, count in entries
        ],
    }


async def wallet_size(gql: GraphQLClient) -> int:
    data = await gql.data(f"{{ wallet(customerId: {CUSTOMER}) {{ totalCount }} }}")
    return int(data["wallet"]["totalCount"])


async def post_many(
    base_urls: list[str], credentials: ClientCredentials, inputs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(timeout=30) as client:

        async def one(index: int, input_: dict[str, Any]) -> dict[str, Any]:
            response = await client.post(
                f"{base_urls[index % len(base_urls)]}/graphql",
                json={"query": EARN, "variables": {"input": input_}},
                headers=credentials.headers,
            )
            assert response.status_code == 200, response.text
            body = response.json()
            assert "errors" not in body, body
            return body["data"]["earnPromotions"]  # type: ignore[no-any-return]

        return await asyncio.gather(*(one(i, x) for i, x in enumerate(inputs)))


async def test_concurrent_repeats_in_two_processes_create_each_instance_once(
    gql: GraphQLClient, database_url: str
) -> None:
    # given
    await gql.create_customers(CUSTOMER)
    first = (await gql.create_promotion())["id"]
    second = (await gql.create_promotion())["id"]
    request = earn_input((first, "order-1", 3), (second, "order-1", 2))
    with live_server(database_url) as one, live_server(database_url) as two:
        # when the same request arrives twelve times at once, through two servers
        payloads = await post_many([one, two], gql.clients["writer"], [request] * 12)
    # then every answer that is not "retry" reports the same entries, and no more exist
    done = [p for p in payloads if p["__typename"] == "EarnPromotionsSuccess"]
    assert done and all(p["__typename"] in ("EarnPromotionsSuccess", "ResourceLockedError") for p in payloads)
    assert all(p["results"] == done[0]["results"] for p in done)
    assert [r["successfulEarnCount"] for r in done[0]["results"]] == [3, 2]
    assert await wallet_size(gql) == 5


async def test_concurrent_earns_from_different_sources_respect_the_earn_limit(
    gql: GraphQLClient, database_url: str
) -> None:
    # given a promotion a customer may earn at most 4 times
    await gql.create_customers(CUSTOMER)
    limited = (await gql.create_promotion(maxEarnsPerCustomer=4))["id"]
    inputs = [earn_input((limited, f"order-{i}", 1)) for i in range(10)]
    with live_server(database_url) as one, live_server(database_url) as two:
        # when ten different orders each earn it once, at the same time
        payloads = await post_many([one, two], gql.clients["writer"], inputs)
    # then exactly four succeed
    done = [p["results"][0] for p in payloads if p["__typename"] == "EarnPromotionsSuccess"]
    earned = sum(r["successfulEarnCount"] for r in done)
    assert await wallet_size(gql) == earned
    locked = len(payloads) - len(done)
    assert earned == 4 or (earned < 4 and locked > 0)
    assert all(r["error"] is None or r["error"]["code"] == 400 for r in done)


@pytest.fixture
def settings(database_url: str) -> Settings:
    """A short lock wait, so a held wallet lock turns into a 521 quickly."""
    return Settings(database_url=database_url, demo_mode=False, lock_timeout_ms=200, _env_file=None)  # type: ignore[call-arg]


async def test_a_wallet_lock_held_elsewhere_is_a_retryable_521(gql: GraphQLClient, database_url: str) -> None:
    # given someone else holds the customer's wallet lock
    await gql.create_customers(CUSTOMER)
    promotion = (await gql.create_promotion())["id"]
    if is_postgres():
        holder = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
        await holder.execute("BEGIN")
        await holder.execute("SELECT id FROM customer WHERE id = $1 FOR UPDATE", CUSTOMER)
    else:
        sqlite_holder = sqlite3.connect(database_url.split(":///", 1)[1], isolation_level=None)
        sqlite_holder.execute("BEGIN IMMEDIATE")
    try:
        # when
        data = await gql.data(EARN, {"input": earn_input((promotion, "order-1", 1))})
    finally:
        if is_postgres():
            await holder.execute("ROLLBACK")
            await holder.close()
        else:
            sqlite_holder.execute("ROLLBACK")
            sqlite_holder.close()
    # then
    payload = data["earnPromotions"]
    assert (payload["__typename"], payload["code"], payload["retryable"]) == (
        "ResourceLockedError",
        521,
        True,
    )
    assert payload["retryAfterMs"] > 0
    assert await wallet_size(gql) == 0
