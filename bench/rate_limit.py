"""Benchmark: what the per-client rate limit (DESIGN §8.7) costs a redemption: redemptions/s with the
limit on ÷ with it off, in one run, on two real uvicorn processes over the same database (one with
PROMO_WALLET_RATE_LIMIT_PER_MINUTE set so high that nothing is refused, so every request is
counted; one with 0, off), used in alternating rounds.

    .venv/bin/python bench/rate_limit.py                                   # temporary SQLite file
    .venv/bin/python bench/rate_limit.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Seeding and load as in bench/redeem.py: one single-use entry per customer, every redemption a new
customer; both servers on CPU 0 (one loaded at a time), the load on CPU 1 when there are two. On
PostgreSQL a counted request costs one upsert of its client's counter row (autocommit, outside the
wallet transaction); on SQLite it is counted in the process.

Also printed, the floor: the same ratio for `{__typename}`, where the count is most of the work.
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
from tests.support import server_process

TARGET = 0.9
COUNTED_BUT_NEVER_REFUSED = str(10**9)


async def measure(
    urls: dict[str, str], promotion_id: str, per_round: int, rounds: int, concurrency: int
) -> None:
    auth = httpx.BasicAuth(redeem_bench.USERNAME, redeem_bench.PASSWORD)
    # keepalive_expiry under uvicorn's 5 s: a connection idle through the other server's round is not reused
    # as the server closes it
    limits = httpx.Limits(
        max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2
    )
    clients = {
        name: httpx.AsyncClient(base_url=url, auth=auth, limits=limits, timeout=30)
        for name, url in urls.items()
    }
    next_customer = iter(range(1, 10**9))
    try:
        def make_call(name: str, typename: bool) -> Callable[[int], Awaitable[str]]:
            client = clients[name]

            async def call(n: int) -> str:
                if typename:
                    response = await client.post("/graphql", json={"query": "{ __typename }"})
                    assert "ratelimit-limit" in response.headers or name == "off", response.headers
                    return str(response.status_code)
                customer = next(next_customer)
                body = redeem_bench.purchase(promotion_id, customer, f"bench-{customer}", f"bill-{customer}")
                for _ in range(10):
                    response = await client.post(
                        "/graphql", json={"query": redeem_bench.REDEEM, "variables": {"input": body}}
                    )
                    payload = response.json()["data"]["redeemPromotions"]
                    if payload["__typename"] != "ResourceLockedError":
                        return str(payload["__typename"])
                    await asyncio.sleep(payload["retryAfterMs"] / 1000)
                return "gave up"

            return call

        for name in urls:  # warm-up: connections, the authenticator's cache
            await redeem_bench.throughput(100, concurrency, make_call(name, typename=True))
        totals = {"off": 0.0, "on": 0.0, "off typename": 0.0, "on typename": 0.0}
        kinds: dict[str, Counter[str]] = {name: Counter() for name in totals}
        for round_number in range(rounds):
            order = ["off", "on"] if round_number % 2 == 0 else ["on", "off"]
            for name in [*order, *(f"{x} typename" for x in order)]:
                server = name.split()[0]
                rate, seen = await redeem_bench.throughput(
                    per_round, concurrency, make_call(server, typename=name.endswith("typename"))
                )
                totals[name] += per_round / rate
                kinds[name] += seen
    finally:
        for client in clients.values():
            await client.aclose()
    rates = {name: per_round * rounds / seconds for name, seconds in totals.items()}
    print(f"{rounds} alternating rounds of {per_round} requests each, concurrency {concurrency}")
    for name, rate in rates.items():
        print(f"  {name:13}: {rate:8.1f} req/s  {dict(kinds[name])}")
    print(f"ratio (redeem, limit on / off): {rates['on'] / rates['off']:6.2f}  (target >= {TARGET})")
    print(f"floor ({{__typename}}, limit on / off): {rates['on typename'] / rates['off typename']:6.2f}")
    for name in ("off", "on"):
        if set(kinds[name]) != {"RedeemPromotionsSuccess"}:
            raise SystemExit(f"some redemptions ({name}) did not succeed: {dict(kinds[name])}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="postgresql+asyncpg://... (default: a temporary SQLite file)")
    parser.add_argument("--per-round", type=int, default=300, help="requests per kind per round")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--no-pin", action="store_true", help="do not pin the servers and the load")
    args = parser.parse_args()
    with redeem_bench.scratch_database(args.database_url) as database_url:
        upgrade(database_url)
        customers = args.per_round * args.rounds * 2 + 200
        promotion_id = asyncio.run(redeem_bench.seed(database_url, customers))
        pin = redeem_bench.can_pin() and not args.no_pin
        cpu = redeem_bench.SERVER_CPU if pin else None
        where = database_url.split("@")[-1]
        print(f"database: {where}  pinned: {pin}  load average: {os.getloadavg()[0]:.2f}")
        with server_process(database_url, cpu=cpu, PROMO_WALLET_RATE_LIMIT_PER_MINUTE="0") as off, \
                server_process(database_url, cpu=cpu,
                               PROMO_WALLET_RATE_LIMIT_PER_MINUTE=COUNTED_BUT_NEVER_REFUSED) as on:
            if pin:
                os.sched_setaffinity(0, {redeem_bench.LOAD_CPU})
            asyncio.run(measure({"off": off.url, "on": on.url}, promotion_id, args.per_round, args.rounds,
                                args.concurrency))


if __name__ == "__main__":
    main()
