"""Latency of earnPromotions with 10 entries vs 1, against a real uvicorn server process.

    .venv/bin/python bench/earn.py                      # a temporary SQLite file
    .venv/bin/python bench/earn.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

For PostgreSQL the URL names the server (and a database to connect to for admin commands); the
benchmark creates a scratch database of its own there and drops it at the end.

Every request writes: each goes to a customer of its own, so both sizes pay for a real insert.
The two sizes alternate, so drift (page cache, WAL growth) hits both alike. Target: the p50 of
10 entries is at most 2x the p50 of 1 entry, because the service's statement count does not grow
with the number of entries (see tests/integration/test_earn_statements.py).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.domain.clock import DAY_MS, now_ms  # noqa: E402
from app.domain.commands import CreateCustomer, CreatePromotion  # noqa: E402
from app.domain.models import Principal, PromotionType, Scope  # noqa: E402
from app.persistence.database import create_database  # noqa: E402
from app.persistence.migrate import upgrade  # noqa: E402
from app.persistence.uow import SqlUnitOfWorkFactory  # noqa: E402
from app.services import admin  # noqa: E402
from app.settings import Settings  # noqa: E402
from tests.support import basic_auth, live_server  # noqa: E402

ORG_ID = 100737
EARN = """mutation($input: EarnPromotionsInput!) { earnPromotions(input: $input) { __typename
  ... on EarnPromotionsSuccess { results { successfulEarnCount failedEarnCount
      customerEarnedPromotions { id eventTimeISO validTill validTillISO } } } } }"""


async def seed(url: str, customers: int, promotions: int) -> tuple[dict[str, str], list[str]]:
    database = create_database(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    try:
        await admin.create_org(
            SqlUnitOfWorkFactory(database), org_id=ORG_ID, name="Bench", timezone="Asia/Kolkata"
        )
        client = await admin.create_client(
            SqlUnitOfWorkFactory(database),
            org_id=ORG_ID,
            name="bench",
            scopes=["wallet:write"],
            username="bench",
            password="bench",
        )
        principal = Principal(org_id=ORG_ID, client_id=0, username="bench", scopes=frozenset(Scope))
        now = now_ms()
        promotion_ids = [
            (
                await admin.create_promotion(
                    SqlUnitOfWorkFactory(database),
                    principal,
                    CreatePromotion(
                        name=f"Bench {i}",
                        type=PromotionType.CUSTOMER,
                        start_date=now - DAY_MS,
                        end_date=now + 60 * DAY_MS,
                    ),
                )
            ).id
            for i in range(promotions)
        ]
        await admin.import_customers(
            SqlUnitOfWorkFactory(database),
            principal,
            [CreateCustomer(id=1_000_000 + i) for i in range(customers)],
        )
        return basic_auth(client.username, client.password), promotion_ids
    finally:
        await database.dispose()


def earn_input(customer_id: int, promotion_ids: list[str], source: str) -> dict[str, Any]:
    return {
        "customerId": customer_id,
        "eventTime": now_ms(),
        "earnedFromType": "ACTIVITY",
        "eventDetails": {"id": source, "type": "ACTIVITY"},
        "earnedPromotions": [
            {"promotionId": p, "earnCount": 1, "earnedFromId": source} for p in promotion_ids
        ],
    }


async def measure(
    base_url: str, headers: dict[str, str], promotion_ids: list[str], rounds: int, warmup: int
) -> None:
    timings: dict[int, list[float]] = {1: [], 10: []}
    customer = iter(range(1_000_000, 1_000_000 + 2 * (rounds + warmup)))
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
        for round_ in range(rounds + warmup):
            for size in (1, 10):
                body = {
                    "query": EARN,
                    "variables": {"input": earn_input(next(customer), promotion_ids[:size], f"r{round_}")},
                }
                started = time.perf_counter()
                response = await client.post("/graphql", json=body)
                elapsed = (time.perf_counter() - started) * 1000
                payload = response.json()["data"]["earnPromotions"]
                assert payload["__typename"] == "EarnPromotionsSuccess", payload
                assert [r["successfulEarnCount"] for r in payload["results"]] == [1] * size, payload
                if round_ >= warmup:
                    timings[size].append(elapsed)
    report(timings)


def percentile(values: list[float], share: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(share * 100) - 1]


def report(timings: dict[int, list[float]]) -> None:
    p50 = {size: statistics.median(values) for size, values in timings.items()}
    p90 = {size: percentile(values, 0.9) for size, values in timings.items()}
    for size in (1, 10):
        print(
            f"earn {size:>2} promotion(s)/request: p50 {p50[size]:6.2f} ms  "
            f"p90 {p90[size]:6.2f} ms  (n={len(timings[size])})"
        )
    ratio = p50[10] / p50[1]
    verdict = "met" if ratio <= 2.0 else "NOT met"
    print(f"ratio 10 vs 1: p50 {ratio:.2f}  p90 {p90[10] / p90[1]:.2f}  (target p50 <= 2.0: {verdict})")


async def pg_admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def run(url: str, rounds: int, warmup: int) -> None:
    customers = 2 * (rounds + warmup)
    print(f"database: {url.split('@')[-1]}")
    upgrade(url)
    headers, promotion_ids = asyncio.run(seed(url, customers, 10))
    with live_server(url) as base_url:
        asyncio.run(measure(base_url, headers, promotion_ids, rounds, warmup))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="postgresql+asyncpg://... (default: a temporary SQLite file)")
    parser.add_argument("--rounds", type=int, default=300, help="measured requests of each size")
    parser.add_argument("--warmup", type=int, default=30, help="requests of each size not measured")
    args = parser.parse_args()
    if not args.database_url:
        with tempfile.TemporaryDirectory() as directory:
            run(f"sqlite+aiosqlite:///{directory}/bench.db", args.rounds, args.warmup)
        return
    if not args.database_url.startswith("postgresql"):
        parser.error("--database-url must be a postgresql+asyncpg:// URL (SQLite is the default)")
    name = f"pw_bench_{uuid.uuid4().hex[:10]}"
    scratch = urlunsplit(urlsplit(args.database_url)._replace(path=f"/{name}"))
    asyncio.run(pg_admin(args.database_url, f'CREATE DATABASE "{name}"'))
    try:
        run(scratch, args.rounds, args.warmup)
    finally:
        asyncio.run(pg_admin(args.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
