"""Benchmark of importCustomers with 100,000 rows over HTTP.

    .venv/bin/python bench/import_customers.py                    # a temporary SQLite file
    .venv/bin/python bench/import_customers.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Per round and kind of row (ids only; ids with a mobile, an email and an externalId each) it
prints the rows/s of the mutation timed at the client, from the request sent to the answer parsed
(JSON encoding and decoding included), on a real uvicorn process; the rows/s of a raw SQLAlchemy
Core insert of the same rows (customers, and for the second kind their identifier rows too: as
many rows as the import writes), rows built before the clock starts; their ratio (target 0.5);
and the floor: the same request with one row more than `PROMO_WALLET_MAX_BATCH`, which the
service refuses before any database work, so its time is transport, JSON, GraphQL parsing and the
coercion and conversion of every row: what any import of that many rows costs. Figures are
medians over --rounds rounds. Placement as in bench/issue_bulk.py: the server and the raw insert
on CPU 0, the client on CPU 1. PostgreSQL: a scratch database of its own, created and dropped here.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import delete, insert

sys.path.insert(0, str(Path(__file__).resolve().parent))

import issue_bulk  # bench/issue_bulk.py: scratch database, server, pinning

from app.domain.clock import now_ms
from app.domain.models import CustomerIdentifierType
from app.persistence.database import create_database
from app.persistence.tables import customer_identifier_table, customer_table
from app.persistence.uow import SqlUnitOfWorkFactory
from app.services import admin
from app.settings import Settings

ORG_ID = issue_bulk.ORG_ID
USERNAME = "bench-admin"
PASSWORD = "bench-admin-password"
IMPORT = """mutation($customers: [CreateCustomerInput!]!) { importCustomers(customers: $customers) {
  __typename ... on ImportCustomersSuccess { createdCount skippedCount rejected { index } }
  ... on Error { code message } } }"""
TYPENAME = {"query": "{ __typename }"}


@dataclass
class Sample:
    rows: int
    mutation_seconds: float
    raw_seconds: float
    floor_seconds: float
    typename_ms: float


def customers(first_id: int, count: int, *, identifiers: bool) -> list[dict[str, Any]]:
    if not identifiers:
        return [{"id": first_id + i} for i in range(count)]
    return [
        {"id": first_id + i, "mobile": f"9{first_id + i:012d}", "email": f"c{first_id + i}@example.com",
         "externalId": f"x{first_id + i}"}
        for i in range(count)
    ]  # fmt: skip


async def seed(settings: Settings) -> None:
    database = create_database(settings)
    try:
        factory = SqlUnitOfWorkFactory(database)
        await admin.create_org(factory, org_id=ORG_ID, name="Bench org")
        await admin.create_client(
            factory, org_id=ORG_ID, name="bench", scopes=["admin"], username=USERNAME, password=PASSWORD
        )
    finally:
        await database.dispose()


async def raw_insert_seconds(settings: Settings, rows: list[dict[str, Any]]) -> float:
    """The baseline: one Core INSERT per table executed with every row's parameters, one
    transaction; the rows are deleted again so each import meets the same table size."""
    now = now_ms()
    people = [{"org_id": ORG_ID, "id": row["id"], "created_at": now} for row in rows]
    fields = {"mobile": CustomerIdentifierType.MOBILE, "email": CustomerIdentifierType.EMAIL,
              "externalId": CustomerIdentifierType.EXTERNAL_ID}  # fmt: skip
    identifiers = [
        {"org_id": ORG_ID, "customer_id": row["id"], "type": kind.value, "value": row[field]}
        for row in rows
        for field, kind in fields.items()
        if field in row
    ]
    database = create_database(settings)
    try:
        started = time.perf_counter()
        async with database.writer.begin() as connection:
            await connection.execute(insert(customer_table), people)
            if identifiers:
                await connection.execute(insert(customer_identifier_table), identifiers)
        seconds = time.perf_counter() - started
        ids = [row["id"] for row in rows]
        async with database.writer.begin() as connection:
            for start in range(0, len(ids), 5000):
                chunk = ids[start : start + 5000]
                await connection.execute(
                    delete(customer_identifier_table).where(
                        customer_identifier_table.c.org_id == ORG_ID,
                        customer_identifier_table.c.customer_id.in_(chunk),
                    )
                )
                await connection.execute(
                    delete(customer_table).where(
                        customer_table.c.org_id == ORG_ID, customer_table.c.id.in_(chunk)
                    )
                )
        return seconds
    finally:
        await database.dispose()


async def post_seconds(client: httpx.AsyncClient, body: dict[str, Any]) -> tuple[float, Any]:
    """Request sent to answer parsed, JSON both ways included."""
    started = time.perf_counter()
    response = await client.post("/graphql", json=body)
    payload = response.json()
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed, payload


async def import_over_http(
    base_url: str, rows: list[dict[str, Any]], floor_rows: list[dict[str, Any]]
) -> tuple[float, float, float]:
    async with httpx.AsyncClient(base_url=base_url, timeout=600, auth=(USERNAME, PASSWORD)) as client:
        typename = min([(await post_seconds(client, TYPENAME))[0] for _ in range(5)])
        floor, refused = await post_seconds(client, {"query": IMPORT, "variables": {"customers": floor_rows}})
        if refused["data"]["importCustomers"]["__typename"] != "InvalidRequestError":
            raise RuntimeError(f"the floor request was not refused: {refused}")
        seconds, answer = await post_seconds(client, {"query": IMPORT, "variables": {"customers": rows}})
    expected = {
        "__typename": "ImportCustomersSuccess",
        "createdCount": len(rows),
        "skippedCount": 0,
        "rejected": [],
    }
    if answer["data"]["importCustomers"] != expected:
        raise RuntimeError(f"unexpected answer: {str(answer)[:500]}")
    return seconds, floor, typename * 1000


def run(database_url: str, count: int, *, rounds: int, pin: bool) -> dict[bool, list[Sample]]:
    settings = Settings(database_url=database_url, demo_mode=False, _env_file=None)
    asyncio.run(seed(settings))
    samples: dict[bool, list[Sample]] = {False: [], True: []}
    server_cpu = issue_bulk.SERVER_CPU if pin else None
    env = {"PROMO_WALLET_MAX_BATCH": str(count), "PROMO_WALLET_RATE_LIMIT_PER_MINUTE": "0"}
    with (
        issue_bulk.server_process(database_url, cpu=server_cpu, **env) as running,
        issue_bulk.on_cpu(issue_bulk.CLIENT_CPU if pin else None),
    ):
        # Warm the server (imports, pools, caches) before the first timed call.
        warm = customers(1, 100, identifiers=True)
        asyncio.run(import_over_http(running.url, warm, customers(1, count + 1, identifiers=False)))
        first_id = 1_000_000
        for round_ in range(rounds):
            for identifiers in (False, True):
                raw_rows = customers(first_id, count, identifiers=identifiers)
                rows = customers(first_id + count, count, identifiers=identifiers)
                floor_rows = customers(first_id + 2 * count, count + 1, identifiers=identifiers)
                first_id += 3 * count
                with issue_bulk.on_cpu(server_cpu):
                    raw = asyncio.run(raw_insert_seconds(settings, raw_rows))
                seconds, floor, typename_ms = asyncio.run(import_over_http(running.url, rows, floor_rows))
                sample = Sample(count, seconds, raw, floor, typename_ms)
                samples[identifiers].append(sample)
                kind = "ids + 3 identifiers" if identifiers else "ids only"
                print(
                    f"  round {round_ + 1} {kind:>19}: import {seconds:.2f} s, raw {raw:.2f} s, "
                    f"ratio {raw / seconds:.2f}, floor {floor:.2f} s, {{__typename}} {typename_ms:.1f} ms",
                    flush=True,
                )
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="postgresql+asyncpg://... (default: a temporary SQLite file)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3, help="medians over this many rounds (default 3)")
    parser.add_argument(
        "--no-pin", action="store_true", help="leave the server and the raw insert to the scheduler"
    )
    arguments = parser.parse_args()
    kind = "PostgreSQL" if arguments.database_url else "SQLite"
    pin = issue_bulk.can_pin() and not arguments.no_pin
    with issue_bulk.scratch_database(arguments.database_url) as database_url:
        samples = run(database_url, arguments.rows, rounds=arguments.rounds, pin=pin)
    placement = "server and raw insert on CPU 0, client on CPU 1" if pin else "not pinned"
    print(
        f"importCustomers of {arguments.rows:,} rows over HTTP on {kind}, timed at the client "
        f"(request sent to answer parsed); {placement}; medians of {arguments.rounds} rounds"
    )
    print(
        f"{'rows':>20} {'import s':>9} {'import rows/s':>14} {'raw insert s':>13} {'raw rows/s':>11} "
        f"{'ratio':>6} {'target':>7} {'floor s':>8} {'floor ÷ import':>15} {'{__typename} ms':>16}"
    )
    for identifiers, runs in samples.items():
        mutation = statistics.median(s.mutation_seconds for s in runs)
        raw = statistics.median(s.raw_seconds for s in runs)
        floor = statistics.median(s.floor_seconds for s in runs)
        typename = statistics.median(s.typename_ms for s in runs)
        count = arguments.rows
        label = "ids + 3 identifiers" if identifiers else "ids only"
        print(
            f"{label:>20} {mutation:>9.2f} {count / mutation:>14,.0f} {raw:>13.2f} {count / raw:>11,.0f} "
            f"{raw / mutation:>6.2f} {'0.5':>7} {floor:>8.2f} {floor / mutation:>15.2f} {typename:>16.1f}"
        )


if __name__ == "__main__":
    main()
