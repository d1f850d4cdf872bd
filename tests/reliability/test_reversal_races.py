"""Reversals racing each other and new redemptions over real HTTP (two server processes on
PostgreSQL, one on SQLite; the `cluster` of conftest.py). Whatever the interleaving, nothing is
given back twice, no entry goes above its allowed redemptions or below zero used, and the invariant
checker passes afterwards (the `org` fixture runs it)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from tests.lifecycle_documents import REVERSE
from tests.reliability.harness import REDEEM, Org, entries_of, scalar
from tests.wallet_world import line, purchase


async def redeemed(org: Org, customer: int, promotion: str, count: int, txn: str) -> dict[str, Any]:
    payload = await org.call_until_done(
        REDEEM, {"input": purchase(customer, line(promotion, count), txn=txn)}
    )
    assert payload["__typename"] == "RedeemPromotionsSuccess", payload
    return payload["redemption"]  # type: ignore[no-any-return]


async def reversal_rows(org: Org) -> int:
    return int(
        await scalar(
            org.database_url, "SELECT count(*) FROM redemption_reversal WHERE org_id = :o", o=org.org_id
        )
    )


async def test_twenty_identical_concurrent_reversals_record_one_and_restore_once(org: Org) -> None:
    # given a three-use entry, fully redeemed
    promotion = await org.promotion(maxRedemptionsPerEarn=3)
    await org.customers([2001])
    [entry] = (await org.issue(promotion, "wave-1", [2001])).values()
    await redeemed(org, 2001, promotion, 3, "rev-same")
    body = {
        "transactionIdentifier": "rev-same",
        "reversalIdentifier": "refund-same",
        "lines": [{"promotionId": promotion, "redemptionCount": 2}],
    }
    # when the same reversal is sent 20 times at once
    payloads = await asyncio.gather(*(org.call_until_done(REVERSE, {"input": body}) for _ in range(20)))
    # then every caller is told of the one reversal, and two counts came back once
    assert {p["__typename"] for p in payloads} == {"ReverseRedemptionSuccess"}, payloads
    assert len({p["reversal"]["id"] for p in payloads}) == 1
    assert (await entries_of(org.database_url, org.org_id))[entry]["redemptions_used"] == 1
    assert await reversal_rows(org) == 1


async def test_concurrent_partial_reversals_never_give_back_more_than_was_consumed(org: Org) -> None:
    # given a redemption of 6 spanning two three-use entries
    promotion = await org.promotion(maxRedemptionsPerEarn=3)
    await org.customers([2002])
    await org.issue(promotion, "wave-1", [2002])
    await org.issue(promotion, "wave-2", [2002])
    await redeemed(org, 2002, promotion, 6, "rev-part")
    # when 12 different reversals of one count each race
    bodies = [
        {
            "transactionIdentifier": "rev-part",
            "reversalIdentifier": f"refund-part-{n}",
            "lines": [{"promotionId": promotion, "redemptionCount": 1}],
        }
        for n in range(12)
    ]
    payloads = await asyncio.gather(*(org.call_until_done(REVERSE, {"input": b}) for b in bodies))
    # then exactly six were accepted, the rest refused as exceeding the redemption
    kinds = Counter(p["__typename"] for p in payloads)
    assert kinds == {"ReverseRedemptionSuccess": 6, "ReversalExceedsRedemptionError": 6}, kinds
    entries = await entries_of(org.database_url, org.org_id)
    assert [row["redemptions_used"] for row in entries.values()] == [0, 0]
    assert await reversal_rows(org) == 6


async def test_reversals_racing_new_redemptions_of_the_same_entries_stay_within_bounds(org: Org) -> None:
    # given four customers, each with one two-use entry fully redeemed by one purchase
    promotion = await org.promotion(maxRedemptionsPerEarn=2)
    customers = [2101, 2102, 2103, 2104]
    await org.customers(customers)
    await org.issue(promotion, "wave-1", customers)
    for customer in customers:
        await redeemed(org, customer, promotion, 2, f"first-{customer}")
    # when, per customer, the purchase is reversed while four new one-count purchases race it
    calls = []
    for customer in customers:
        reversal = {"transactionIdentifier": f"first-{customer}", "reversalIdentifier": f"undo-{customer}"}
        calls.append(org.call_until_done(REVERSE, {"input": reversal}))
        calls.extend(
            org.call_until_done(
                REDEEM, {"input": purchase(customer, line(promotion), txn=f"again-{customer}-{n}")}
            )
            for n in range(4)
        )
    payloads = await asyncio.gather(*calls)
    # then every reversal went through, and the new purchases took at most what it gave back
    kinds = Counter(str(p.get("reason") or p["__typename"]) for p in payloads)
    assert kinds["ReverseRedemptionSuccess"] == 4, kinds
    assert set(kinds) <= {"ReverseRedemptionSuccess", "RedeemPromotionsSuccess", "ALREADY_REDEEMED"}, kinds
    entries = await entries_of(org.database_url, org.org_id)
    successes = Counter(
        int(p["redemption"]["customerId"]) for p in payloads if p["__typename"] == "RedeemPromotionsSuccess"
    )
    for row in entries.values():
        assert 0 <= row["redemptions_used"] <= row["redemptions_allowed"]
        assert row["redemptions_used"] == successes[row["customer_id"]]
