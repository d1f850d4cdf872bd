"""Idempotency-Key races over real HTTP (two server processes on PostgreSQL, one on SQLite; the
`cluster` of conftest.py): 20 concurrent requests with one key and one body execute once, whatever
process each reaches; every answer is the stored response or a 409, and every later replay is the
stored bytes. Keys of two clients never meet, and a 521 is not stored. The invariant checker runs
after each test (the `org` fixture)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from sqlalchemy import text

from app.domain.clock import DAY_MS, now_ms
from tests.reliability.harness import CREATE_PROMOTION, REDEEM, Org, engine_for, new_org, scalar
from tests.support import is_postgres
from tests.wallet_world import line, purchase


async def keyed(
    org: Org, key: str, query: str, variables: dict[str, Any], base_url: str | None = None
) -> httpx.Response:
    return await org.http.post(
        f"{base_url or org.next_url()}/graphql",
        content=json.dumps({"query": query, "variables": variables}).encode(),
        headers=org.headers | {"Idempotency-Key": key, "content-type": "application/json"},
    )


async def stored_body(org: Org, key: str) -> bytes:
    return bytes(
        await scalar(
            org.database_url,
            "SELECT k.response_body FROM idempotency_key k JOIN api_client c ON c.id = k.client_id"
            " WHERE c.org_id = :o AND k.idempotency_key = :k",
            o=org.org_id,
            k=key,
        )
    )


async def stored_count(org: Org, key: str) -> int:
    return int(
        await scalar(
            org.database_url,
            "SELECT count(*) FROM idempotency_key k JOIN api_client c ON c.id = k.client_id"
            " WHERE c.org_id = :o AND k.idempotency_key = :k",
            o=org.org_id,
            k=key,
        )
    )


def promotion_input() -> dict[str, Any]:
    now = now_ms()
    return {"name": "Keyed race", "type": "CUSTOMER", "startDate": now - DAY_MS, "endDate": now + 30 * DAY_MS}


async def promotions_of(org: Org) -> int:
    return int(
        await scalar(org.database_url, "SELECT count(*) FROM promotion WHERE org_id = :o", o=org.org_id)
    )


async def test_twenty_concurrent_creations_with_one_key_create_one_promotion_and_agree_byte_for_byte(
    org: Org,
) -> None:
    # given a mutation that, without a key, creates a promotion per request
    variables = {"input": promotion_input()}
    # when 20 copies of it are sent at once, spread over the servers
    responses = await asyncio.gather(
        *(keyed(org, "race-create", CREATE_PROMOTION, variables) for _ in range(20))
    )
    # then it ran once; every other answer is the stored one or a 409
    assert await promotions_of(org) == 1
    stored = await stored_body(org, "race-create")
    assert json.loads(stored)["data"]["createPromotion"]["__typename"] == "CreatePromotionSuccess"
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 409}, [r.text for r in responses]
    assert all(r.content == stored for r in responses if r.status_code == 200)
    assert all(
        json.loads(r.content)["errors"][0]["extensions"]["code"] == "IDEMPOTENCY_KEY_IN_PROGRESS"
        and int(r.headers["Retry-After"]) >= 1
        for r in responses
        if r.status_code == 409
    )
    assert sum(1 for r in responses if r.status_code == 200 and "Idempotent-Replayed" not in r.headers) == 1
    # and afterwards every replay, from every server, is the stored bytes
    for base_url in org.base_urls:
        replay = await keyed(org, "race-create", CREATE_PROMOTION, variables, base_url)
        assert (replay.status_code, replay.content) == (200, stored)
        assert replay.headers["Idempotent-Replayed"] == "true"
    assert await promotions_of(org) == 1


async def test_twenty_concurrent_rest_redemptions_with_one_key_record_one_redemption(org: Org) -> None:
    # given a customer holding a five-use entry
    promotion = await org.promotion(maxRedemptionsPerEarn=5)
    await org.customers([3001])
    await org.issue(promotion, "wave-1", [3001])
    body = {
        "customerId": 3001,
        "transactionIdentifier": "race-rest",
        "transactionNumber": "bill-1",
        "transactionDate": 1743521508000,
        "amount": 1000,
        "lineItems": [
            {
                "promotionId": promotion,
                "redemptionCount": 1,
                "discount": 100,
                "discountAppliedOnQuantity": 1,
                "promotionAppliedOnQuantity": 1,
            }
        ],
    }

    async def post(base_url: str) -> httpx.Response:
        return await org.http.post(
            f"{base_url}/api_gateway/v1/promotions/redemptions",
            content=json.dumps(body).encode(),
            headers=org.headers | {"Idempotency-Key": "race-rest", "content-type": "application/json"},
        )

    # when
    responses = await asyncio.gather(*(post(org.next_url()) for _ in range(20)))
    # then one redemption, one ledger row; every answer the stored one or a 409
    stored = await stored_body(org, "race-rest")
    assert {r.status_code for r in responses} <= {200, 409}, [r.text for r in responses]
    assert all(r.content == stored for r in responses if r.status_code == 200)
    assert (
        await scalar(org.database_url, "SELECT count(*) FROM redemption WHERE org_id = :o", o=org.org_id) == 1
    )
    assert (
        await scalar(
            org.database_url,
            "SELECT count(*) FROM wallet_ledger WHERE org_id = :o AND kind = 'REDEEMED'",
            o=org.org_id,
        )
        == 1
    )
    for base_url in org.base_urls:
        replay = await post(base_url)
        assert (replay.status_code, replay.content, replay.headers["Idempotent-Replayed"]) == (
            200,
            stored,
            "true",
        )


async def test_the_same_key_of_two_clients_sent_at_once_executes_once_for_each(
    org: Org, cluster: tuple[str, list[str]]
) -> None:
    # given a second client (of an org of its own) using the very same key and body
    other = await new_org(*cluster)
    try:
        variables = {"input": promotion_input()}
        # when both send it ten times at once
        responses = await asyncio.gather(
            *(keyed(client, "shared-key", CREATE_PROMOTION, variables) for client in [org, other] * 10)
        )
        # then each client got its own promotion, exactly one
        assert {r.status_code for r in responses} <= {200, 409}
        assert (await promotions_of(org), await promotions_of(other)) == (1, 1)
        mine, theirs = await stored_body(org, "shared-key"), await stored_body(other, "shared-key")
        assert mine != theirs
        assert all(r.content == mine for r in responses[0::2] if r.status_code == 200)
        assert all(r.content == theirs for r in responses[1::2] if r.status_code == 200)
    finally:
        await other.close()


async def test_a_521_is_not_stored_and_the_retry_with_the_same_key_executes(org: Org) -> None:
    # given the customer's wallet locked from outside (PostgreSQL: its row; SQLite: the write lock)
    promotion = await org.promotion()
    await org.customers([3002])
    await org.issue(promotion, "wave-1", [3002])
    variables = {"input": purchase(3002, line(promotion), txn="race-521")}
    engine = engine_for(org.database_url)
    try:
        async with engine.connect() as connection:
            if is_postgres():
                await connection.execute(text("BEGIN"))
                await connection.execute(
                    text("SELECT 1 FROM customer WHERE org_id = :o AND id = 3002 FOR UPDATE"),
                    {"o": org.org_id},
                )
            else:
                await connection.exec_driver_sql("BEGIN IMMEDIATE")
            # when a keyed redemption comes while it is held
            locked = await keyed(org, "key-521", REDEEM, variables)
            await connection.rollback()
    finally:
        await engine.dispose()
    # then it was told to retry (a 521 in the payload, or, when not even the claim could be
    # written, a 503), and nothing was kept under the key
    answer = locked.json()
    if locked.status_code == 200:
        assert answer["data"]["redeemPromotions"]["__typename"] == "ResourceLockedError", answer
    else:
        assert locked.status_code == 503, locked.text
        assert answer["errors"][0]["extensions"]["code"] == "RESOURCE_LOCKED"
    assert await stored_count(org, "key-521") == 0
    # when the client retries with the same key, the redemption is made, and that answer is kept
    retry = await keyed(org, "key-521", REDEEM, variables)
    assert retry.json()["data"]["redeemPromotions"]["__typename"] == "RedeemPromotionsSuccess", retry.text
    assert "Idempotent-Replayed" not in retry.headers
    assert await stored_body(org, "key-521") == retry.content
