"""Crash in the middle of a 100,000-customer issuePromotion: the server is SIGKILLed while the
request is writing, restarted, and the same request retried. issuePromotion commits in chunks of
customers (app/services/issue.py), so the crash keeps whole chunks, never half of one (an entry
without its ledger row); the retry, being idempotent, completes the rest."""

from __future__ import annotations

import asyncio
import time

import httpx
from sqlalchemy import func, select

from app.persistence.tables import earned_promotion_table
from tests.reliability.harness import (
    ISSUE_COUNTS,
    assert_invariants_hold,
    counts,
    engine_for,
    insert_customers,
    new_org,
)
from tests.support import server_process

CUSTOMERS = 100_000
FIRST_ID = 9_000_000_001
CONTEXT = "crash-campaign"


async def test_a_server_killed_during_a_100k_issue_loses_nothing_and_the_retry_completes_it(
    database_url: str,
) -> None:
    # given an org with 100,000 customers and a promotion
    org = await new_org(database_url, [])
    customer_ids = await insert_customers(database_url, org.org_id, FIRST_ID, CUSTOMERS)
    variables = {"p": "", "c": CONTEXT, "ids": customer_ids}
    e = earned_promotion_table.c
    try:
        with server_process(database_url) as server:
            org.base_urls = [server.url]
            variables["p"] = await org.promotion()
            # when the issue is in flight and its first chunk is committed, the server is SIGKILLed
            request = asyncio.create_task(org.call(ISSUE_COUNTS, variables))
            engine = engine_for(database_url)
            try:
                async with engine.connect() as connection:
                    written = 0
                    deadline = time.monotonic() + 120
                    while written == 0 and not request.done() and time.monotonic() < deadline:
                        await asyncio.sleep(0.01)
                        written = (
                            await connection.execute(select(func.count()).where(e.org_id == org.org_id))
                        ).scalar_one()
                        await connection.rollback()  # PostgreSQL: the next count sees new commits
                    assert not request.done(), "the issue finished before the server could be killed"
                    server.kill()
            finally:
                await engine.dispose()
            try:
                await request
                raise AssertionError("the request survived its server")
            except httpx.TransportError:
                pass  # the client saw the connection drop: it does not know what was done
        # then whole chunks survived, each entry with its ledger row, and the database is consistent
        entries, holders, ledger = await counts(database_url, org.org_id)
        assert 0 < entries < CUSTOMERS, entries
        assert holders == entries == ledger
        await assert_invariants_hold(database_url)

        # when a restarted server gets the same request again
        with server_process(database_url) as server:
            org.base_urls = [server.url]
            payload = await org.call_until_done(ISSUE_COUNTS, variables)
        # then it completes what the crash left: exactly one entry per customer
        assert payload["__typename"] == "IssuePromotionSuccess", payload
        assert (payload["issuedCount"], payload["alreadyIssuedCount"]) == (CUSTOMERS - entries, entries)
        assert await counts(database_url, org.org_id) == (CUSTOMERS, CUSTOMERS, CUSTOMERS)
        await assert_invariants_hold(database_url)
    finally:
        await org.close()
