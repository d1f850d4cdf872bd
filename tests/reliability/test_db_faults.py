"""Database faults: what a client sees, and what is left in the database.

SQLite: another process holds the write lock (a plain sqlite3 connection in BEGIN IMMEDIATE):
every wallet mutation answers ResourceLockedError (521, retryable) within the lock timeout, and
reads are still served (WAL readers never wait for the writer).

PostgreSQL: the server's connections are killed under it (pg_terminate_backend), between
requests and in the middle of them: every answer is a success or a retryable error (never an
HTTP 500 or a stack trace), the pool recovers by itself (pool_pre_ping), and nothing is half
written (the invariant checker passes, every success is recorded as told).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import asyncpg
import pytest
from sqlalchemy import insert

from app.domain.clock import now_ms
from app.graphql.extensions import INTERNAL_MESSAGE
from app.persistence.tables import customer_table
from app.settings import Settings
from tests.conftest import ORG_ID
from tests.reliability.harness import (
    EARN,
    ISSUE,
    ISSUE_COUNTS,
    REDEEM,
    REVOKE,
    assert_invariants_hold,
    engine_for,
    entries_of,
    redemptions_of,
    told,
)
from tests.support import GraphQLClient, is_postgres
from tests.wallet_world import line, purchase

LOCK_TIMEOUT_MS = 1000
# On top of the lock timeout (+10 %): the in-process request around it, on a loaded machine.
REQUEST_ALLOWANCE_S = 0.5
WALLET = "query($c: Long!) { wallet(customerId: $c) { totalCount edges { node { id status } } } }"
RETRYABLE = {"ResourceLockedError", "InternalError"}


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        database_url=database_url, demo_mode=False, lock_timeout_ms=LOCK_TIMEOUT_MS, _env_file=None
    )


def earn_input(customer: int, promotion: str, source: str) -> dict[str, Any]:
    return {
        "customerId": customer,
        "eventTime": 1761750000000,
        "earnedFromType": "ACTIVITY",
        "eventDetails": {"id": source, "type": "ACTIVITY"},
        "earnedPromotions": [{"promotionId": promotion, "earnedFromId": source, "earnCount": 1}],
    }


# --- SQLite: the file locked by an outside writer --------------------------------------------


@pytest.mark.skipif(is_postgres(), reason="SQLite's database-wide write lock")
async def test_sqlite_locked_by_an_outside_writer_gives_521_within_the_lock_timeout_and_still_serves_reads(
    gql: GraphQLClient, database_url: str
) -> None:
    # given a customer with a wallet entry
    promotion = (await gql.create_promotion(maxRedemptionsPerEarn=2))["id"]
    await gql.create_customers(42)
    issued = (await gql.data(ISSUE, {"p": promotion, "c": "before", "ids": [42]}))["issuePromotion"]
    [entry] = issued["earnedPromotions"]
    mutations = {
        "issuePromotion": (ISSUE_COUNTS, {"p": promotion, "c": "during", "ids": [42]}),
        "earnPromotions": (EARN, {"input": earn_input(42, promotion, "order-1")}),
        "redeemPromotions": (REDEEM, {"input": purchase(42, line(promotion), txn="locked-out")}),
        "revokeEarnedPromotions": (REVOKE, {"c": 42, "ids": [entry["id"]]}),
    }
    holder = sqlite3.connect(database_url.split(":///", 1)[1], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        for name, (query, variables) in mutations.items():
            # when a wallet mutation needs the write lock
            started = time.perf_counter()
            payload = (await gql.data(query, variables))[name]
            elapsed = time.perf_counter() - started
            # then it is refused as retryable within the lock timeout
            assert payload["__typename"] == "ResourceLockedError", (name, payload)
            assert (payload["code"], payload["retryable"]) == (521, True)
            assert elapsed < LOCK_TIMEOUT_MS / 1000 * 1.1 + REQUEST_ALLOWANCE_S, (name, elapsed)
        # and reads are still served
        wallet = await gql.data(WALLET, {"c": 42})
        assert wallet["wallet"]["totalCount"] == 1
        assert wallet["wallet"]["edges"][0]["node"]["status"] == "UNLOCKED"
        assert (await gql.data("{ customer(id: 42) { id } }"))["customer"] == {"id": 42}
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # once the lock is gone the same mutations go through, and nothing refused left a trace
    for name, (query, variables) in mutations.items():
        payload = (await gql.data(query, variables))[name]
        assert payload["__typename"] != "ResourceLockedError", (name, payload)
    await assert_invariants_hold(database_url)


# --- PostgreSQL: a table lock held past the lock timeout ---------------------------------------


@pytest.mark.skipif(not is_postgres(), reason="PostgreSQL table locks")
async def test_postgres_reads_wait_out_a_table_lock_held_longer_than_the_lock_timeout(
    gql: GraphQLClient, database_url: str
) -> None:
    # given a wallet, and a client whose credentials are already verified
    promotion = (await gql.create_promotion())["id"]
    await gql.create_customers(9)
    await gql.data(ISSUE, {"p": promotion, "c": "ctx", "ids": [9]})
    await gql.data("{ __typename }")
    holder = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        # when something DDL-like (a migration) holds the wallet table past the lock timeout
        await holder.execute("BEGIN")
        await holder.execute("LOCK TABLE earned_promotion IN ACCESS EXCLUSIVE MODE")
        read = asyncio.create_task(gql.data(WALLET, {"c": 9}))
        await asyncio.sleep(LOCK_TIMEOUT_MS / 1000 * 1.5)
        assert not read.done(), read  # still waiting, not refused
        await holder.execute("COMMIT")
        # then the read is answered once the lock is gone: the lock timeout bounds wallet
        # writes (a 521 for the caller to retry), not reads
        wallet = await asyncio.wait_for(read, timeout=10)
    finally:
        await holder.close()
    assert wallet["wallet"]["totalCount"] == 1


# --- PostgreSQL: the server's connections terminated -----------------------------------------


async def terminate_backends(database_url: str) -> int:
    """Kill every other connection to this test database (only this test's own server uses it)."""
    connection = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        rows = await connection.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    return len(rows)


async def answer(gql: GraphQLClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """A mutation's payload, or for a read the data; a masked top-level error is returned as
    {"__typename": "TopLevelInternalError"} after checking it is the masked, retryable one, and a
    sign-in refused as busy (503) as a ResourceLockedError payload."""
    response = await gql.raw(query, variables)
    body = response.json()
    if response.status_code == 503:
        # Sign-in found every pooled connection busy (connections being killed and replaced):
        # the documented retryable refusal, before any operation ran (graphql/router.py).
        [error] = body["errors"]
        extensions = error["extensions"]
        assert extensions["code"] == "RESOURCE_LOCKED" and extensions["retryable"] is True, body
        assert "Retry-After" in response.headers
        return {"__typename": "ResourceLockedError", "retryable": True, "message": error["message"]}
    assert response.status_code == 200, response.text
    if "errors" in body:
        [error] = body["errors"]
        assert error["message"] == INTERNAL_MESSAGE, error
        assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR" and "requestId" in error["extensions"]
        assert "Traceback" not in response.text
        return {"__typename": "TopLevelInternalError"}
    (payload,) = body["data"].values()
    return payload  # type: ignore[no-any-return]


def assert_success_or_retryable(payload: dict[str, Any], success: str) -> None:
    kind = payload.get("__typename")
    assert kind in {success, "TopLevelInternalError", *RETRYABLE}, payload
    if kind in RETRYABLE:
        assert payload["retryable"] is True, payload
        assert "Traceback" not in payload["message"]


@pytest.mark.skipif(not is_postgres(), reason="PostgreSQL connections")
async def test_postgres_connections_killed_between_requests_the_pool_recovers(
    gql: GraphQLClient, database_url: str
) -> None:
    # given a served wallet (so the pool holds open connections)
    promotion = (await gql.create_promotion(maxRedemptionsPerEarn=5))["id"]
    await gql.create_customers(7)
    await gql.data(ISSUE, {"p": promotion, "c": "ctx", "ids": [7]})
    assert (await gql.data(WALLET, {"c": 7}))["wallet"]["totalCount"] == 1
    for round_ in range(3):
        # when every connection of the server is terminated
        assert await terminate_backends(database_url) >= 1
        # then the next read and the next write are a success or a retryable error...
        read = await answer(gql, WALLET, {"c": 7})
        assert read.get("__typename") == "TopLevelInternalError" or read["totalCount"] == 1, read
        body = {"input": purchase(7, line(promotion), txn=f"after-kill-{round_}")}
        write = await answer(gql, REDEEM, body)
        assert_success_or_retryable(write, "RedeemPromotionsSuccess")
        # ...and the one after that succeeds: the pool has recovered
        assert (await gql.data(WALLET, {"c": 7}))["wallet"]["totalCount"] == 1
        retried = (await gql.data(REDEEM, body))["redeemPromotions"]
        assert retried["__typename"] == "RedeemPromotionsSuccess", retried
    await assert_invariants_hold(database_url)


@pytest.mark.skipif(not is_postgres(), reason="PostgreSQL connections")
async def test_postgres_connections_killed_mid_request_leave_nothing_half_written(
    gql: GraphQLClient, database_url: str
) -> None:
    # given 20,000 customers (a 4-chunk issue) and 10 customers with 3-use entries
    promotion = (await gql.create_promotion(maxRedemptionsPerEarn=3))["id"]
    bulk = list(range(10_000_001, 10_020_001))
    engine = engine_for(database_url)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                insert(customer_table), [{"org_id": ORG_ID, "id": i, "created_at": now_ms()} for i in bulk]
            )
    finally:
        await engine.dispose()
    shoppers = list(range(1, 11))
    await gql.create_customers(*shoppers)
    await gql.data(ISSUE, {"p": promotion, "c": "shop", "ids": shoppers})
    issue = {"p": promotion, "c": "bulk", "ids": bulk}
    purchases = [purchase(c, line(promotion), txn=f"p-{c}-{n}") for c in shoppers for n in range(2)]

    async def terminator() -> int:
        killed = 0
        for _ in range(8):
            await asyncio.sleep(0.15)
            killed += await terminate_backends(database_url)
        return killed

    # when the server's connections are killed again and again while it issues and redeems
    killed, issued, *redeemed = await asyncio.gather(
        terminator(),
        answer(gql, ISSUE_COUNTS, issue),
        *(answer(gql, REDEEM, {"input": body}) for body in purchases),
    )
    assert killed >= 1
    # then each answer is a success or a retryable error
    assert_success_or_retryable(issued, "IssuePromotionSuccess")
    for payload in redeemed:
        assert_success_or_retryable(payload, "RedeemPromotionsSuccess")
    # and nothing is half written: the checker passes and every success is recorded as told
    await assert_invariants_hold(database_url)
    recorded = await redemptions_of(database_url, ORG_ID)
    for body, payload in zip(purchases, redeemed, strict=True):
        if payload["__typename"] == "RedeemPromotionsSuccess":
            assert recorded[body["transactionIdentifier"]] == told(payload)
    # and retrying what was refused completes it, exactly once
    for _ in range(10):
        if issued["__typename"] == "IssuePromotionSuccess":
            break
        issued = await answer(gql, ISSUE_COUNTS, issue)
    assert issued["__typename"] == "IssuePromotionSuccess", issued
    for body, payload in zip(purchases, redeemed, strict=True):
        if payload["__typename"] != "RedeemPromotionsSuccess":
            again = (await gql.data(REDEEM, {"input": body}))["redeemPromotions"]
            assert again["__typename"] == "RedeemPromotionsSuccess", again
    entries = await entries_of(database_url, ORG_ID)
    assert sorted(x["customer_id"] for x in entries.values() if x["earned_from_id"] == "bulk") == bulk
    assert sum(x["redemptions_used"] for x in entries.values()) == len(purchases)
    await assert_invariants_hold(database_url)
