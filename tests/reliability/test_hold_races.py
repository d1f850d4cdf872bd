"""Holds racing each other, their commits, releases, redemptions and their own expiry over real HTTP
(two server processes on PostgreSQL, one on SQLite; the `cluster` of conftest.py). Whatever the
interleaving, a single-use entry is held by one hold at a time, consumed at most once, and a commit
and a release (or the expiry) of one hold are one or the other, never both. After each test the
hold invariants hold (here) and the whole database passes the main checker (the `org` fixture)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from app.domain.clock import now_ms
from app.persistence.hold_invariants import check_holds
from tests.lifecycle_documents import COMMIT_HOLD, HOLD, READ_HOLD, RELEASE_HOLD
from tests.reliability.harness import REDEEM, Org, engine_for, entries_of, scalar
from tests.wallet_world import line, purchase


@pytest.fixture(autouse=True)
async def holds_consistent(cluster: tuple[str, list[str]]) -> AsyncIterator[None]:
    yield
    engine = engine_for(cluster[0])
    try:
        async with engine.connect() as connection:
            violations = await check_holds(connection, now=now_ms())
    finally:
        await engine.dispose()
    assert not violations, "\n".join(map(str, violations))


async def single_use_entry(org: Org, customer: int) -> tuple[str, str]:
    promotion = await org.promotion(maxRedemptionsPerEarn=1)
    await org.customers([customer])
    [entry] = (await org.issue(promotion, "wave-1", [customer])).values()
    return promotion, entry


def hold_input(customer: int, promotion: str, txn: str, seconds: int = 900) -> dict[str, Any]:
    return {"input": {"redemption": purchase(customer, line(promotion), txn=txn), "holdSeconds": seconds}}


async def used(org: Org, entry: str) -> int:
    return int((await entries_of(org.database_url, org.org_id))[entry]["redemptions_used"])


async def redemptions_of(org: Org, txn: str) -> int:
    return int(
        await scalar(
            org.database_url,
            "SELECT count(*) FROM redemption WHERE org_id = :o AND transaction_identifier = :t",
            o=org.org_id,
            t=txn,
        )
    )


async def race_holds(org: Org, customer: int, promotion: str, wave: str) -> list[dict[str, Any]]:
    return await asyncio.gather(
        *(org.call_until_done(HOLD, hold_input(customer, promotion, f"{wave}-{n}")) for n in range(50))
    )


async def test_fifty_concurrent_holds_of_a_single_use_entry_hold_it_once_and_after_release_once_again(
    org: Org,
) -> None:
    promotion, entry = await single_use_entry(org, 3001)
    # when 50 holds race
    first = await race_holds(org, 3001, promotion, "first")
    # then one holds it, every other is told its only count is held
    kinds = Counter(p["__typename"] for p in first)
    assert kinds == {"HoldPromotionsSuccess": 1, "PromotionNotRedeemableError": 49}, kinds
    assert {p["reason"] for p in first if "reason" in p} == {"HELD"}
    (winner,) = [p["hold"] for p in first if p["__typename"] == "HoldPromotionsSuccess"]
    # when it is released and 50 more race
    released = await org.call_until_done(RELEASE_HOLD, {"id": winner["id"]})
    assert released["hold"]["status"] == "RELEASED", released
    second = await race_holds(org, 3001, promotion, "second")
    # then exactly one of them wins, and nothing was consumed
    kinds = Counter(p["__typename"] for p in second)
    assert kinds == {"HoldPromotionsSuccess": 1, "PromotionNotRedeemableError": 49}, kinds
    assert await used(org, entry) == 0


async def test_after_a_short_hold_expires_the_entry_is_redeemable_again_with_no_job(org: Org) -> None:
    promotion, entry = await single_use_entry(org, 3002)
    made = await org.call_until_done(HOLD, hold_input(3002, promotion, "short", seconds=1))
    assert made["__typename"] == "HoldPromotionsSuccess", made
    held = made["hold"]
    refused = await org.call_until_done(REDEEM, {"input": purchase(3002, line(promotion), txn="meanwhile")})
    assert refused.get("reason") == "HELD", refused
    # when its expiresAt has passed (waited for by the clock, nothing is run)
    await asyncio.sleep(max(0.0, (held["expiresAt"] - now_ms()) / 1000) + 0.2)
    # then the entry is redeemable, the hold reads EXPIRED and cannot be committed
    redeemed = await org.call_until_done(REDEEM, {"input": purchase(3002, line(promotion), txn="after")})
    assert redeemed["__typename"] == "RedeemPromotionsSuccess", redeemed
    assert (await org.call(READ_HOLD, {"id": held["id"]}))["status"] == "EXPIRED"
    late = await org.call_until_done(COMMIT_HOLD, {"id": held["id"]})
    assert late["__typename"] == "HoldExpiredError", late
    assert await used(org, entry) == 1


async def test_twenty_concurrent_commits_of_one_hold_record_one_redemption_consumed_once(org: Org) -> None:
    promotion, entry = await single_use_entry(org, 3003)
    held = (await org.call_until_done(HOLD, hold_input(3003, promotion, "commit-20")))["hold"]
    # when
    payloads = await asyncio.gather(
        *(org.call_until_done(COMMIT_HOLD, {"id": held["id"]}) for _ in range(20))
    )
    # then every caller is told of the one redemption
    assert {p["__typename"] for p in payloads} == {"RedeemPromotionsSuccess"}, payloads
    assert len({p["redemption"]["id"] for p in payloads}) == 1
    assert await used(org, entry) == 1
    assert await redemptions_of(org, "commit-20") == 1


async def test_a_commit_racing_a_release_is_one_or_the_other(org: Org) -> None:
    promotion = await org.promotion(maxRedemptionsPerEarn=1)
    customers = list(range(3101, 3111))
    await org.customers(customers)
    entries = await org.issue(promotion, "wave-1", customers)
    holds = [
        (await org.call_until_done(HOLD, hold_input(c, promotion, f"race-{c}")))["hold"]["id"]
        for c in customers
    ]
    # when, per hold, a commit and a release are sent at once
    outcomes = await asyncio.gather(
        *(
            asyncio.gather(
                org.call_until_done(COMMIT_HOLD, {"id": hold_id}),
                org.call_until_done(RELEASE_HOLD, {"id": hold_id}),
            )
            for hold_id in holds
        )
    )
    # then either the commit won (the release returns the committed hold) or the release did
    for customer, (commit, release) in zip(customers, outcomes, strict=True):
        consumed = await used(org, entries[customer])
        if commit["__typename"] == "RedeemPromotionsSuccess":
            assert release["hold"]["status"] == "COMMITTED", release
            assert release["hold"]["redemption"]["id"] == commit["redemption"]["id"]
            assert consumed == 1 and await redemptions_of(org, f"race-{customer}") == 1
        else:
            assert commit["__typename"] == "HoldExpiredError", commit
            assert release["hold"]["status"] == "RELEASED", release
            assert consumed == 0 and await redemptions_of(org, f"race-{customer}") == 0


async def test_a_commit_racing_the_holds_expiry_is_committed_and_consumed_or_expired_and_free(
    org: Org,
) -> None:
    promotion, entry = await single_use_entry(org, 3004)
    held = (await org.call_until_done(HOLD, hold_input(3004, promotion, "edge", seconds=1)))["hold"]
    # when commits are sent from just before until just after expiresAt
    await asyncio.sleep(max(0.0, (held["expiresAt"] - now_ms()) / 1000 - 0.1))
    payloads = []
    for _ in range(8):
        payloads.append(await org.call_until_done(COMMIT_HOLD, {"id": held["id"]}))
        await asyncio.sleep(0.03)
    await asyncio.sleep(max(0.0, (held["expiresAt"] - now_ms()) / 1000) + 0.1)
    payloads.append(await org.call_until_done(COMMIT_HOLD, {"id": held["id"]}))
    # then the answers never change once given: all the redemption, or expired from some point on
    kinds = [p["__typename"] for p in payloads]
    if kinds[0] == "RedeemPromotionsSuccess":
        assert set(kinds) == {"RedeemPromotionsSuccess"}, kinds
        assert len({p["redemption"]["id"] for p in payloads}) == 1
        assert await used(org, entry) == 1
    else:
        assert set(kinds) == {"HoldExpiredError"}, kinds
        assert await used(org, entry) == 0
        free = await org.call_until_done(REDEEM, {"input": purchase(3004, line(promotion), txn="free")})
        assert free["__typename"] == "RedeemPromotionsSuccess", free
