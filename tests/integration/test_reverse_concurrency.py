"""Exactly-once reversal under real concurrency, with one and with two server processes on the
database chosen by PROMO_WALLET_TEST_DATABASE_URL, and the wallet lock's 521 for a reversal. The
two-process cluster and the outside lock holder are redeem's (test_redeem_concurrency.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from app.persistence.tables import redemption_reversal_table
from tests.integration.test_redeem_concurrency import cluster, hold_wallet_lock, warm_up
from tests.lifecycle_documents import REVERSE
from tests.wallet_world import World, close_world, line, make_world, purchase

__all__ = ["cluster"]  # the module-scoped fixture, shared with the redeem tests


async def reverse(world: World, base_url: str, **input_: Any) -> dict[str, Any]:
    response = await world.http.post(
        f"{base_url}/graphql", json={"query": REVERSE, "variables": {"input": input_}}, headers=world.headers
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]["reverseRedemption"]  # type: ignore[no-any-return]


async def reversals_recorded(world: World) -> int:
    async with world.database.reader.connect() as connection:
        query = select(func.count()).select_from(redemption_reversal_table)
        return int(
            (
                await connection.execute(query.where(redemption_reversal_table.c.org_id == world.org_id))
            ).scalar_one()
        )


async def twenty_identical_reversals(database_url: str, base_urls: list[str]) -> None:
    world = await make_world(database_url, base_urls[0])
    try:
        # given a three-use entry, fully redeemed
        promotion = await world.promotion(max_redemptions=3)
        customer = await world.customer(566881933)
        [entry] = await world.entries(customer, promotion)
        redeemed = await world.redeem(**purchase(customer, line(promotion, count=3), txn="txn-1"))
        assert redeemed["__typename"] == "RedeemPromotionsSuccess", redeemed
        await warm_up(world, base_urls)
        body = {
            "transactionIdentifier": "txn-1",
            "reversalIdentifier": "refund-1",
            "lines": [{"promotionId": promotion.id, "redemptionCount": 2}],
        }
        # when the same reversal is sent 20 times at once, spread over the servers
        results = await asyncio.gather(
            *(reverse(world, base_urls[n % len(base_urls)], **body) for n in range(20))
        )
        # then each caller gets the one recorded reversal (or a retryable 521), two counts came back once
        kinds = {r["__typename"] for r in results}
        assert kinds <= {"ReverseRedemptionSuccess", "ResourceLockedError"}, results
        assert (
            len({r["reversal"]["id"] for r in results if r["__typename"] == "ReverseRedemptionSuccess"}) == 1
        )
        assert await world.used(entry) == 1
        assert await reversals_recorded(world) == 1
    finally:
        await close_world(world)


async def test_twenty_identical_concurrent_reversals_on_one_server_restore_once(
    cluster: tuple[str, list[str]],
) -> None:
    database_url, base_urls = cluster
    await twenty_identical_reversals(database_url, base_urls[:1])


async def test_twenty_identical_concurrent_reversals_on_two_servers_restore_once(
    cluster: tuple[str, list[str]],
) -> None:
    await twenty_identical_reversals(*cluster)


async def test_a_held_wallet_lock_makes_a_reversal_a_retryable_521_that_writes_nothing(
    cluster: tuple[str, list[str]],
) -> None:
    database_url, [base_url, _] = cluster
    world = await make_world(database_url, base_url)
    try:
        promotion = await world.promotion()
        customer = await world.customer(78)
        [entry] = await world.entries(customer, promotion)
        redeemed = await world.redeem(**purchase(customer, line(promotion), txn="txn-locked"))
        assert redeemed["__typename"] == "RedeemPromotionsSuccess", redeemed
        body = {"transactionIdentifier": "txn-locked", "reversalIdentifier": "refund-locked"}
        async with hold_wallet_lock(database_url, world.org_id, customer):
            result = await reverse(world, base_url, **body)
        assert (result["__typename"], result["code"], result["retryable"]) == (
            "ResourceLockedError",
            521,
            True,
        )
        assert await world.used(entry) == 1 and await reversals_recorded(world) == 0
        # the lock released, the retry goes through
        retried = await reverse(world, base_url, **body)
        assert retried["__typename"] == "ReverseRedemptionSuccess", retried
        assert await world.used(entry) == 0
    finally:
        await close_world(world)
