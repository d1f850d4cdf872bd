"""Races over real HTTP: two uvicorn processes on one PostgreSQL (one process on SQLite, whose
file lock serialises writers anyway), many requests at once. Afterwards the invariant checker
passes and every success a client saw is in the database exactly as it was told. Nothing here
measures time; the request counts are small enough for a shared CI machine."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from tests.reliability.harness import (
    EARN,
    ISSUE,
    REDEEM,
    REVOKE,
    Org,
    entries_of,
    redemptions_of,
    told,
)
from tests.wallet_world import line, purchase


def outcome(payload: dict[str, Any]) -> str:
    return str(payload.get("reason") or payload["__typename"])


async def test_concurrent_redemptions_of_shared_multi_use_entries_never_over_redeem(org: Org) -> None:
    # given four customers, each with two entries of three redemptions each (6 per customer)
    promotion = await org.promotion(maxRedemptionsPerEarn=3)
    customers = [1001, 1002, 1003, 1004]
    await org.customers(customers)
    first = await org.issue(promotion, "wave-1", customers)
    await org.issue(promotion, "wave-2", customers)
    # when each asks for 12 redemptions in 8 concurrent purchases (some naming an entry)
    requests: list[dict[str, Any]] = []
    for customer in customers:
        for n in range(8):
            extra = {"earnedPromotionId": first[customer]} if n % 4 == 0 else {}
            requests.append(
                purchase(customer, line(promotion, 1 + n % 2, **extra), txn=f"race-{customer}-{n}")
            )
    payloads = await asyncio.gather(*(org.call_until_done(REDEEM, {"input": body}) for body in requests))
    # then the successes add up to exactly what the wallets lost, never more than they held
    kinds = Counter(outcome(p) for p in payloads)
    assert set(kinds) <= {"RedeemPromotionsSuccess", "ALREADY_REDEEMED", "ResourceLockedError"}, kinds
    entries = await entries_of(org.database_url, org.org_id)
    recorded = await redemptions_of(org.database_url, org.org_id)
    for customer in customers:
        won = [
            (body, p)
            for body, p in zip(requests, payloads, strict=True)
            if body["customerId"] == customer and p["__typename"] == "RedeemPromotionsSuccess"
        ]
        used = sum(x["redemptions_used"] for x in entries.values() if x["customer_id"] == customer)
        assert used == sum(body["lineItems"][0]["redemptionCount"] for body, _ in won) <= 6
        assert won, f"customer {customer}: no purchase succeeded"
    # and every success is recorded with exactly the consumptions its client was told
    for body, payload in zip(requests, payloads, strict=True):
        if payload["__typename"] == "RedeemPromotionsSuccess":
            assert recorded[body["transactionIdentifier"]] == told(payload)
        else:
            assert body["transactionIdentifier"] not in recorded
    assert all(x["redemptions_used"] <= x["redemptions_allowed"] for x in entries.values())


async def test_concurrent_identical_issue_requests_create_one_entry_per_customer(org: Org) -> None:
    # given
    promotion = await org.promotion()
    customers = list(range(5001, 5301))
    await org.customers(customers)
    variables = {"p": promotion, "c": "campaign-7", "ids": customers}
    # when the same request is sent six times at once
    payloads = await asyncio.gather(*(org.call_until_done(ISSUE, variables) for _ in range(6)))
    # then all succeed, the creations add up to one per customer, and all name the same entries
    assert all(p["__typename"] == "IssuePromotionSuccess" for p in payloads), payloads
    assert sum(p["issuedCount"] for p in payloads) == len(customers)
    assert all(p["issuedCount"] + p["alreadyIssuedCount"] == len(customers) for p in payloads)
    reported = [{(x["customerId"], x["id"]) for x in p["earnedPromotions"]} for p in payloads]
    assert all(r == reported[0] for r in reported)
    entries = await entries_of(org.database_url, org.org_id)
    assert {(x["customer_id"], x["id"]) for x in entries.values()} == reported[0]


async def test_concurrent_identical_earn_requests_create_each_instance_once(org: Org) -> None:
    # given
    first, second = await org.promotion(), await org.promotion(maxRedemptionsPerEarn=2)
    await org.customers([77])
    request = {
        "customerId": 77,
        "eventTime": 1761750000000,
        "earnedFromType": "ACTIVITY",
        "eventDetails": {"id": "visit-1", "type": "ACTIVITY"},
        "earnedPromotions": [
            {"promotionId": first, "earnedFromId": "order-9", "earnCount": 3},
            {"promotionId": second, "earnedFromId": "order-9", "earnCount": 2},
        ],
    }
    # when it arrives ten times at once
    payloads = await asyncio.gather(*(org.call_until_done(EARN, {"input": request}) for _ in range(10)))
    # then every answer reports the same five entries, and those are the only ones
    assert all(p["__typename"] == "EarnPromotionsSuccess" for p in payloads), payloads
    assert all(p["results"] == payloads[0]["results"] for p in payloads)
    assert [r["successfulEarnCount"] for r in payloads[0]["results"]] == [3, 2]
    reported = {x["id"] for r in payloads[0]["results"] for x in r["customerEarnedPromotions"]}
    assert set(await entries_of(org.database_url, org.org_id)) == reported


async def test_redemption_racing_revocation_is_one_or_the_other(org: Org) -> None:
    # given three customers with four two-use entries each
    promotion = await org.promotion(maxRedemptionsPerEarn=2)
    customers = [31, 32, 33]
    await org.customers(customers)
    entries = [
        (customer, entry)
        for batch in range(4)
        for customer, entry in (await org.issue(promotion, f"batch-{batch}", customers)).items()
    ]
    # when each entry is redeemed (by name) and revoked at the same time, plus a redemption per
    # customer that may take any entry
    calls = []
    for n, (customer, entry) in enumerate(entries):
        calls.append(
            org.call_until_done(
                REDEEM,
                {"input": purchase(customer, line(promotion, earnedPromotionId=entry), txn=f"named-{n}")},
            )
        )
        calls.append(org.call_until_done(REVOKE, {"c": customer, "ids": [entry]}))
    for customer in customers:
        calls.append(
            org.call_until_done(REDEEM, {"input": purchase(customer, line(promotion), txn=f"any-{customer}")})
        )
    payloads = await asyncio.gather(*calls)
    # then no entry is both redeemed and revoked, and each side's answer agrees with the database
    state = await entries_of(org.database_url, org.org_id)
    recorded = await redemptions_of(org.database_url, org.org_id)
    for n, (_, entry) in enumerate(entries):
        redeemed, revoked = payloads[2 * n], payloads[2 * n + 1]
        row = state[entry]
        assert not (row["revoked_at"] is not None and row["redemptions_used"] > 0), row
        was_revoked = (
            revoked["__typename"] == "RevokeEarnedPromotionsSuccess" and revoked["revokedCount"] == 1
        )
        assert was_revoked == (row["revoked_at"] is not None), (revoked, row)
        if redeemed["__typename"] == "RedeemPromotionsSuccess":
            assert not was_revoked
            assert recorded[f"named-{n}"] == told(redeemed)
            assert revoked["__typename"] == "ResourceLockedError" or (
                revoked["results"][0]["error"]["reason"] == "ALREADY_REDEEMED"
            ), revoked
        if was_revoked:
            assert outcome(redeemed) in {"REVOKED", "ResourceLockedError"}, redeemed
            assert f"named-{n}" not in recorded
    for payload, customer in zip(payloads[2 * len(entries) :], customers, strict=True):
        if payload["__typename"] == "RedeemPromotionsSuccess":
            assert recorded[f"any-{customer}"] == told(payload)
            assert all(state[e]["revoked_at"] is None for e, _, _ in told(payload)[2])
