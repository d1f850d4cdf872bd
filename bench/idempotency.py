"""Benchmark: what carrying an Idempotency-Key costs a redemption (DESIGN §8.3): redemptions/s with
a new key per request ÷ redemptions/s without one, on one real uvicorn process, in one run.

    .venv/bin/python bench/idempotency.py                                   # temporary SQLite file
    .venv/bin/python bench/idempotency.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Seeding, placement and load as in bench/redeem.py (whose helpers this reuses): one single-use entry
per customer, every redemption a new customer; the server on CPU 0, the load on CPU 1 when there are
two. The two kinds alternate in rounds, so that a machine whose speed drifts during the run (a
shared one) weighs on both alike; the ratio is of the summed rounds. A key costs two short write
transactions (the claim, then the stored answer), whatever the mutation.

Also printed, the floor: the same ratio for a redemption refused by its shape before any database
work, where the key's two transactions are the only database work there is: the lowest ratio a
keyed mutation can show. The httpx client may cap that half (see bench/redeem.py); redemptions
are far below its limit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redeem as redeem_bench

from app.persistence.migrate import upgrade

TARGET = 0.8


async def measure(base_url: str, promotion_id: str, per_round: int, rounds: int, concurrency: int) -> None:
    auth = httpx.BasicAuth(redeem_bench.USERNAME, redeem_bench.PASSWORD)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, auth=auth, limits=limits, timeout=30) as client:
        next_customer = iter(range(1, 10**9))
        retries: Counter[str] = Counter()

        def make_redeem(keyed: bool, refused: bool = False) -> Callable[[int], Awaitable[str]]:
            async def redeem(n: int) -> str:
                customer = next(next_customer)
                body = redeem_bench.purchase(promotion_id, customer, f"bench-{customer}", f"bill-{customer}")
                if refused:
                    body |= {"amount": "-1"}
                headers = {"Idempotency-Key": f"bench-key-{customer}"} if keyed else {}
                for _ in range(10):
                    response = await client.post(
                        "/graphql",
                        json={"query": redeem_bench.REDEEM, "variables": {"input": body}},
                        headers=headers,
                    )
                    payload = response.json()["data"]["redeemPromotions"]
                    if payload["__typename"] != "ResourceLockedError":
                        return str(payload["__typename"])
                    # Not stored: a retry with the same key executes (as a real till retries).
                    retries["ResourceLockedError"] += 1
                    await asyncio.sleep(payload["retryAfterMs"] / 1000)
                return "gave up"

            return redeem

        await redeem_bench.throughput(100, concurrency, make_redeem(False, refused=True))  # warm-up
        totals = {"plain": 0.0, "keyed": 0.0, "plain refused": 0.0, "keyed refused": 0.0}
        kinds: dict[str, Counter[str]] = {name: Counter() for name in totals}
        for round_number in range(rounds):
            order = ["plain", "keyed"] if round_number % 2 == 0 else ["keyed", "plain"]
            for name in [*order, *(f"{x} refused" for x in order)]:
                call = make_redeem(name.startswith("keyed"), refused=name.endswith("refused"))
                rate, seen = await redeem_bench.throughput(per_round, concurrency, call)
                totals[name] += per_round / rate
                kinds[name] += seen
    rates = {name: per_round * rounds / seconds for name, seconds in totals.items()}
    print(f"{rounds} alternating rounds of {per_round} requests each, concurrency {concurrency}")
    for name, rate in rates.items():
        print(f"  {name:14}: {rate:8.1f} req/s  {dict(kinds[name])}")
    print(f"  retries       : {dict(retries)}")
    ratio = rates["keyed"] / rates["plain"]
    floor = rates["keyed refused"] / rates["plain refused"]
    print(f"ratio (with key / without): {ratio:6.2f}  (target >= {TARGET})")
    print(f"floor (refused before the database, with / without key): {floor:6.2f}")
    expected = {"plain": "RedeemPromotionsSuccess", "keyed": "RedeemPromotionsSuccess"}
    for name, typename in expected.items():
        if set(kinds[name]) != {typename}:
            raise SystemExit(f"some {name} redemptions did not succeed: {dict(kinds[name])}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="postgresql+asyncpg://... (default: a temporary SQLite file)")
    parser.add_argument("--per-round", type=int, default=300, help="requests per kind per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the server and the load to separate CPUs"
    )
    args = parser.parse_args()
    with redeem_bench.scratch_database(args.database_url) as database_url:
        upgrade(database_url)
        # Each round uses new customers for its two redeeming kinds (and the refused ones too).
        customers = args.per_round * args.rounds * 4 + 200
        promotion_id = asyncio.run(redeem_bench.seed(database_url, customers))
        pin = redeem_bench.can_pin() and not args.no_pin
        placement = (
            f"server on CPU {redeem_bench.SERVER_CPU}, load on CPU {redeem_bench.LOAD_CPU}"
            if pin
            else "not pinned"
        )
        print(f"database: {database_url.split('@')[-1]}  {placement}  load average: {os.getloadavg()[0]:.2f}")
        with redeem_bench.server(database_url, pin=pin) as base_url:
            if pin:
                os.sched_setaffinity(0, {redeem_bench.LOAD_CPU})
            asyncio.run(measure(base_url, promotion_id, args.per_round, args.rounds, args.concurrency))


if __name__ == "__main__":
    main()
