"""Benchmark: walletHistory (a page of 20) and explainRedemption, each ÷ `{ __typename }` req/s, and
the p50 latency of walletAsOf for a customer with 1,000 ledger rows, on one real uvicorn process,
with one async HTTP client, in one run.

    .venv/bin/python bench/history.py                                   # temporary SQLite file
    .venv/bin/python bench/history.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Seeding and placement as in bench/redeem.py (whose helpers this reuses). One customer has 500
entries, each earned and then redeemed once (1,000 ledger rows, 1,000 events); every history read
is a page of 20 of them with its total, every walletAsOf a first page of that wallet rebuilt. Every
explanation is of a redemption that would succeed (all checks run) by a second customer with one
entry, as each customer of bench/redeem.py has. Each ratio is printed next to its floor: the same
request refused by its arguments before any database work. The throughputs are measured in rounds,
each ratio against the `{__typename}` of its own round (the median over rounds is printed, and
every round's): on a shared machine the load moves within a run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redeem as redeem_bench  # bench/redeem.py: scratch database, server, pinning, load

from app.domain.clock import DAY_MS, now_ms
from app.domain.earning import new_earned_promotion
from app.domain.ids import new_object_id
from app.domain.models import Customer, EarnedFromType, LedgerEntry, LedgerKind, Promotion, PromotionType
from app.persistence.database import create_database
from app.persistence.uow import SqlUnitOfWork, SqlUnitOfWorkFactory
from app.settings import Settings

ORG_ID = redeem_bench.ORG_ID
USERNAME, PASSWORD = "bench-reader", "bench-secret"
CUSTOMER = 1
SHOPPER = 2  # one entry, as each customer of bench/redeem.py: whom the explanations are for
ENTRIES = 500  # each earned, then redeemed once: 1,000 ledger rows
HISTORY = """query($first: Int) { walletHistory(customerId: 1, first: $first) { totalCount
  pageInfo { hasNextPage endCursor }
  edges { cursor node {
    id kind at atISO promotionId earnedPromotionId redemptionId count actor source } } } }"""
EXPLAIN = """query($input: RedeemPromotionsInput!) { explainRedemption(input: $input) {
  wouldSucceed error { __typename code message } checks { name passed detail code }
  allocations { promotionId earnedPromotionId redemptionCount } } }"""
AS_OF = """query($asOf: Long!) { walletAsOf(customerId: 1, asOf: $asOf, first: 20) { totalCount
  edges { node { id status redemptionsUsed redemptionsAllowed validTill } } } }"""
TARGET_RATIO = 0.3  # the redemption's and the wallet read's target (README, Benchmarks)
TARGET_AS_OF_P50_MS = 50.0


async def seed(database_url: str) -> str:
    database = create_database(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
    try:
        uow_factory = SqlUnitOfWorkFactory(database)
        await redeem_bench.create_bench_org(
            uow_factory, ["wallet:read"], username=USERNAME, password=PASSWORD
        )
        now = now_ms()
        promotion = Promotion(
            org_id=ORG_ID,
            id=new_object_id(now),
            name="Bench",
            type=PromotionType.CUSTOMER,
            start_date=now - 30 * DAY_MS,
            end_date=now + 30 * DAY_MS,
            active=True,
            redemption_window_days=None,
            max_redemptions_per_earn=2,
            max_earns_per_customer=None,
            created_at=now,
        )
        start = now - 2 * ENTRIES * 1000  # a change a second, the last one a moment ago
        entries = [
            new_earned_promotion(
                entry_id=new_object_id(start + n * 1000),
                promotion=promotion,
                customer_id=CUSTOMER,
                earned_from_type=EarnedFromType.ACTIVITY,
                earned_from_id=f"order-{n}",
                instance=1,
                event_time=start + n * 1000,
                event_details=None,
                timezone="UTC",
                now=start + n * 1000,
            )
            for n in range(ENTRIES)
        ]
        entries = [replace(x, redemptions_used=1) for x in entries]

        def row(entry_index: int, kind: LedgerKind, at: int) -> LedgerEntry:
            entry = entries[entry_index]
            return LedgerEntry(
                org_id=ORG_ID,
                customer_id=CUSTOMER,
                promotion_id=promotion.id,
                earned_promotion_id=entry.id,
                kind=kind,
                quantity=2 if kind is LedgerKind.EARNED else -1,
                actor=USERNAME,
                source=entry.earned_from_id if kind is LedgerKind.EARNED else f"txn-{entry_index}",
                created_at=at,
            )

        ledger = [row(n, LedgerKind.EARNED, start + n * 1000) for n in range(ENTRIES)]
        ledger += [row(n, LedgerKind.REDEEMED, start + (ENTRIES + n) * 1000) for n in range(ENTRIES)]
        shopper = new_earned_promotion(
            entry_id=new_object_id(now),
            promotion=promotion,
            customer_id=SHOPPER,
            earned_from_type=EarnedFromType.ACTIVITY,
            earned_from_id="order-x",
            instance=1,
            event_time=now,
            event_details=None,
            timezone="UTC",
            now=now,
        )
        async with SqlUnitOfWork(database, write=True) as uow:
            await uow.promotions.add(promotion)
            await uow.customers.add_many(
                [Customer(org_id=ORG_ID, id=CUSTOMER), Customer(org_id=ORG_ID, id=SHOPPER)], created_at=start
            )
            await uow.earnings.insert_new([*entries, shopper])
            await uow.ledger.append(ledger)
            await uow.commit()
        return promotion.id
    finally:
        await database.dispose()


def explanation_input(promotion_id: str, n: int, *, refused: bool = False) -> dict[str, object]:
    body = redeem_bench.purchase(promotion_id, SHOPPER, f"explain-{n}", f"bill-{n}")
    if refused:
        body["amount"] = "-1"  # the request check refuses it before any database work
    return body


async def measure(
    base_url: str, promotion_id: str, concurrency: int, requests: int, as_of_requests: int, rounds: int
) -> None:
    auth = httpx.BasicAuth(USERNAME, PASSWORD)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, auth=auth, limits=limits, timeout=30) as client:

        async def post(query: str, variables: dict[str, object]) -> dict[str, object]:
            response = await client.post("/graphql", json={"query": query, "variables": variables})
            return response.json()  # type: ignore[no-any-return]

        async def typename(_: int) -> str:
            return str((await post("{ __typename }", {}))["data"]["__typename"])  # type: ignore[index]

        async def history(_: int) -> str:
            body = await post(HISTORY, {"first": 20})
            page = body["data"]["walletHistory"]  # type: ignore[index]
            return (
                "page of 20" if len(page["edges"]) == 20 and page["totalCount"] == 2 * ENTRIES else str(body)
            )

        async def history_refused(_: int) -> str:
            return "refused" if "errors" in await post(HISTORY, {"first": 101}) else "answered"

        async def explain(n: int) -> str:
            body = await post(EXPLAIN, {"input": explanation_input(promotion_id, n)})
            return "would succeed" if body["data"]["explainRedemption"]["wouldSucceed"] else str(body)  # type: ignore[index]

        async def explain_refused(n: int) -> str:
            body = await post(EXPLAIN, {"input": explanation_input(promotion_id, n, refused=True)})
            return str(body["data"]["explainRedemption"]["error"]["code"])  # type: ignore[index]

        await redeem_bench.throughput(200, concurrency, typename)  # warm-up
        # Rounds, each measuring `{__typename}` right before the others: on a shared machine the
        # load moves within a run, and each ratio is taken against the baseline of its own round.
        calls = {
            "walletHistory, 20": history,
            "  floor": history_refused,
            "explainRedemption": explain,
            "  floor ": explain_refused,
        }
        ratios: dict[str, list[float]] = {label: [] for label in calls}
        rates: dict[str, list[float]] = {label: [] for label in ["{__typename}", *calls]}
        kinds: dict[str, Counter[str]] = {label: Counter() for label in calls}
        for _ in range(rounds):
            baseline, _kinds = await redeem_bench.throughput(requests // rounds, concurrency, typename)
            rates["{__typename}"].append(baseline)
            for label, call in calls.items():
                rate, answered = await redeem_bench.throughput(requests // 4 // rounds, concurrency, call)
                rates[label].append(rate)
                ratios[label].append(rate / baseline)
                kinds[label] += answered

        latencies: list[float] = []
        typename_latencies: list[float] = []
        for n in range(as_of_requests):
            started = time.perf_counter()
            body = await post(AS_OF, {"asOf": now_ms() - (n % 2) * ENTRIES * 1000})
            latencies.append((time.perf_counter() - started) * 1000)
            assert body["data"]["walletAsOf"]["totalCount"] > 0, body  # type: ignore[index]
            started = time.perf_counter()
            await typename(n)
            typename_latencies.append((time.perf_counter() - started) * 1000)

    baseline_rate = statistics.median(rates["{__typename}"])
    print(f"  {'{__typename}':22}: {baseline_rate:8.1f} req/s (median of {rounds} rounds)")
    for label in calls:
        target = "" if label.strip() == "floor" else f"  (target >= {TARGET_RATIO})"
        shown = "  floor (refused first)" if label.strip() == "floor" else label
        rounds_text = ", ".join(f"{x:.2f}" for x in ratios[label])
        rate, ratio = statistics.median(rates[label]), statistics.median(ratios[label])
        answers = dict(kinds[label])
        print(
            f"  {shown:22}: {rate:8.1f} req/s  ratio {ratio:5.2f}{target}  rounds: {rounds_text}  {answers}"
        )
    p50, p95 = statistics.median(latencies), statistics.quantiles(latencies, n=20)[-1]
    print(
        f"  walletAsOf, {2 * ENTRIES} ledger rows: p50 {p50:6.2f} ms  p95 {p95:6.2f} ms  "
        f"(target p50 <= {TARGET_AS_OF_P50_MS:.0f} ms; {{__typename}} p50 "
        f"{statistics.median(typename_latencies):.2f} ms in the same loop; {as_of_requests} requests in turn)"
    )
    expected = [{"page of 20"}, {"refused"}, {"would succeed"}, {"400"}]
    if [set(x) for x in kinds.values()] != expected:
        raise SystemExit("some requests did not answer as expected")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="postgresql+asyncpg://... (default: a temporary SQLite file)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--requests", type=int, default=4000, help="{__typename} requests; a quarter of it each other"
    )
    parser.add_argument("--as-of-requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the server and the load to separate CPUs"
    )
    args = parser.parse_args()
    with redeem_bench.scratch_database(args.database_url) as database_url:
        redeem_bench.upgrade(database_url)
        promotion_id = asyncio.run(seed(database_url))
        pin = redeem_bench.can_pin() and not args.no_pin
        placement = "server on CPU 0, load on CPU 1" if pin else "not pinned"
        print(f"database: {database_url.split('@')[-1]}  concurrency: {args.concurrency}  {placement}")
        with redeem_bench.server(database_url, pin=pin) as base_url:
            if pin:
                os.sched_setaffinity(0, {redeem_bench.LOAD_CPU})
            asyncio.run(
                measure(
                    base_url, promotion_id, args.concurrency, args.requests, args.as_of_requests, args.rounds
                )
            )


if __name__ == "__main__":
    main()
