"""Benchmark: holdPromotions/s and commitHold/s next to redeemPromotions/s, each ÷ `{ __typename }`
req/s, on one real uvicorn process, with one async HTTP client, in one run.

    .venv/bin/python bench/holds.py                                   # temporary SQLite file
    .venv/bin/python bench/holds.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Seeding and placement as in bench/redeem.py (whose helpers this reuses): one single-use entry per
customer. Then, in order: `{__typename}`; one plain redemption per customer of the first
half (the comparison); one hold per customer of the second half; one commit of each hold. Every
hold, commit and redemption must succeed. A hold pays for what a redemption pays, plus two lookups
of its transactionIdentifier; a commit for a hold read (three statements) and the redemption writes.
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redeem as redeem_bench  # bench/redeem.py: seed, server, pinning, load

HOLD = """mutation($input: HoldPromotionsInput!) { holdPromotions(input: $input) {
  __typename ... on HoldPromotionsSuccess { hold { id } } ... on Error { code message }
  ... on ResourceLockedError { retryAfterMs } } }"""
COMMIT = """mutation($id: String!) { commitHold(holdId: $id) {
  __typename ... on RedeemPromotionsSuccess { redemption { id } } ... on Error { code message }
  ... on ResourceLockedError { retryAfterMs } } }"""


async def measure(
    base_url: str, promotion_id: str, customers: int, concurrency: int, typename_requests: int
) -> None:
    auth = httpx.BasicAuth(redeem_bench.USERNAME, redeem_bench.PASSWORD)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, auth=auth, limits=limits, timeout=30) as client:
        hold_ids: dict[int, str] = {}

        async def call(field: str, query: str, variables: dict[str, object]) -> dict[str, object]:
            # A 521 is retryable by contract and the identifiers make the retry safe.
            for _ in range(10):
                payload = (
                    await client.post("/graphql", json={"query": query, "variables": variables})
                ).json()["data"][field]
                if payload["__typename"] != "ResourceLockedError":
                    return payload  # type: ignore[no-any-return]
                await asyncio.sleep(payload["retryAfterMs"] / 1000)
            return {"__typename": "gave up"}

        async def typename(_: int) -> str:
            response = await client.post("/graphql", json={"query": "{ __typename }"})
            return str(response.json()["data"]["__typename"])

        half = customers // 2

        async def redeem(n: int) -> str:
            body = redeem_bench.purchase(promotion_id, n + 1, f"bench-{n}", f"bill-{n}")
            return str((await call("redeemPromotions", redeem_bench.REDEEM, {"input": body}))["__typename"])

        async def hold(n: int) -> str:
            body = redeem_bench.purchase(promotion_id, half + n + 1, f"hold-{n}", f"bill-h{n}")
            payload = await call("holdPromotions", HOLD, {"input": {"redemption": body}})
            if payload["__typename"] == "HoldPromotionsSuccess":
                hold_ids[n] = payload["hold"]["id"]  # type: ignore[index]
            return str(payload["__typename"])

        async def commit(n: int) -> str:
            return str((await call("commitHold", COMMIT, {"id": hold_ids[n]}))["__typename"])

        await redeem_bench.throughput(200, concurrency, typename)  # warm-up
        typename_rate, _ = await redeem_bench.throughput(typename_requests, concurrency, typename)
        redeem_rate, redeemed = await redeem_bench.throughput(half, concurrency, redeem)
        hold_rate, held = await redeem_bench.throughput(half, concurrency, hold)
        commit_rate, committed = await redeem_bench.throughput(half, concurrency, commit)
    redeem_bench.print_rates(
        typename_rate,
        typename_requests,
        [
            ("redeemPromotions", redeem_rate, redeemed),
            ("holdPromotions", hold_rate, held),
            ("commitHold", commit_rate, committed),
        ],
    )
    expected = (
        Counter({"RedeemPromotionsSuccess": half}),
        Counter({"HoldPromotionsSuccess": half}),
        Counter({"RedeemPromotionsSuccess": half}),
    )
    if (redeemed, held, committed) != expected:
        raise SystemExit("some requests did not answer as expected")


def main() -> None:
    args = redeem_bench.lifecycle_arguments(__doc__, "customers: half redeemed, half held then committed")
    redeem_bench.run_lifecycle_bench(args, measure)


if __name__ == "__main__":
    main()
