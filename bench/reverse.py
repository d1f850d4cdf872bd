"""Benchmark: reverseRedemption/s next to redeemPromotions/s, each ÷ `{ __typename }` req/s, on one
real uvicorn process, with one async HTTP client, in one run.

    .venv/bin/python bench/reverse.py                                   # temporary SQLite file
    .venv/bin/python bench/reverse.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Seeding and placement as in bench/redeem.py (whose helpers this reuses): one single-use entry per
customer; the server pinned to CPU 0, this process to CPU 1. Then, in order: `{__typename}`; one
redemption per customer (the redemptions to reverse); one full reversal of each, by its
transactionIdentifier; and the floor: the same reversal refused by its shape (an empty
reversalIdentifier) before any database work, which no reversal can outrun. Every redemption and
reversal must succeed. The httpx client caps the `{__typename}` half (see bench/redeem.py), so the
ratios are overstated alike; compare them with each other and with the floor's.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redeem as redeem_bench  # bench/redeem.py: seed, server, pinning, load

REVERSE = """mutation($input: ReverseRedemptionInput!) { reverseRedemption(input: $input) {
  __typename ... on ReverseRedemptionSuccess { reversal { id } } ... on Error { code message }
  ... on ResourceLockedError { retryAfterMs } } }"""


async def measure(
    base_url: str, promotion_id: str, customers: int, concurrency: int, typename_requests: int
) -> None:
    auth = httpx.BasicAuth(redeem_bench.USERNAME, redeem_bench.PASSWORD)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, auth=auth, limits=limits, timeout=30) as client:

        async def call(field: str, query: str, variables: dict[str, object]) -> str:
            # A 521 is retryable by contract and the identifiers make the retry safe.
            for _ in range(10):
                payload = (
                    await client.post("/graphql", json={"query": query, "variables": variables})
                ).json()["data"][field]
                if payload["__typename"] != "ResourceLockedError":
                    return str(payload["__typename"])
                await asyncio.sleep(payload["retryAfterMs"] / 1000)
            return "gave up"

        async def typename(_: int) -> str:
            response = await client.post("/graphql", json={"query": "{ __typename }"})
            return str(response.json()["data"]["__typename"])

        async def redeem(n: int) -> str:
            body = redeem_bench.purchase(promotion_id, n + 1, f"bench-{n}", f"bill-{n}")
            return await call("redeemPromotions", redeem_bench.REDEEM, {"input": body})

        async def reverse(n: int) -> str:
            body = {"transactionIdentifier": f"bench-{n}", "reversalIdentifier": f"undo-{n}"}
            return await call("reverseRedemption", REVERSE, {"input": body})

        async def refused(n: int) -> str:
            body = {"transactionIdentifier": f"bench-{n}", "reversalIdentifier": ""}
            return await call("reverseRedemption", REVERSE, {"input": body})

        await redeem_bench.throughput(200, concurrency, typename)  # warm-up
        typename_rate, _ = await redeem_bench.throughput(typename_requests, concurrency, typename)
        redeem_rate, redeemed = await redeem_bench.throughput(customers, concurrency, redeem)
        reverse_rate, reversed_ = await redeem_bench.throughput(customers, concurrency, reverse)
        floor_rate, floor = await redeem_bench.throughput(customers, concurrency, refused)
    redeem_bench.print_rates(
        typename_rate,
        typename_requests,
        [
            ("redeemPromotions", redeem_rate, redeemed),
            ("reverseRedemption", reverse_rate, reversed_),
        ],
    )
    print(
        f"  floor (refused)   : {floor_rate:8.1f} /s  ratio {floor_rate / typename_rate:5.2f}  {dict(floor)}"
        "  (a reversal refused before the database: the most any reversal could reach)"
    )
    print(
        f"reversal ratio {reverse_rate / typename_rate:.2f} (target >= 0.3, as redeem's), "
        f"{reverse_rate / floor_rate:.0%} of the floor; redeem ratio {redeem_rate / typename_rate:.2f}"
    )
    expected = (
        Counter({"RedeemPromotionsSuccess": customers}),
        Counter({"ReverseRedemptionSuccess": customers}),
        Counter({"InvalidRequestError": customers}),
    )
    if (redeemed, reversed_, floor) != expected:
        raise SystemExit("some requests did not answer as expected")


def main() -> None:
    args = redeem_bench.lifecycle_arguments(__doc__, "redemptions and reversals, one per customer")
    redeem_bench.run_lifecycle_bench(args, measure)


if __name__ == "__main__":
    main()
