"""Benchmark of issuePromotion with large customer lists.

    .venv/bin/python bench/issue_bulk.py                       # a temporary SQLite file
    .venv/bin/python bench/issue_bulk.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

For each size it prints the rows/s of the mutation end to end over HTTP (a real uvicorn process,
the client selecting only the counts), timed at the client from the request sent (its body
encoded) to the answer parsed, the rows/s of a raw SQLAlchemy Core insert of as many
rows into the same table (`earned_promotion`, rows built before the clock starts), their ratio,
and the growth of the server's peak RSS (VmHWM). In a second issue of the same size it plays a
redemption 50 times a second (taking one of the customers' wallet lock) and prints the longest
wait: how long the mutation can keep a concurrent redemption waiting (the lock timeout is 2 s).
Times are medians over --rounds rounds. On PostgreSQL it works in a scratch database of its
own, created and dropped here; the database named in the URL is only used to connect.

Placement, as in the other benches: the server runs pinned to CPU 0 and the raw insert runs on
CPU 0 too (while the server idles), so both sides of the ratio get one core of Python; the HTTP
client waits on CPU 1. Unpinned, the scheduler moves aiosqlite's thread to the other core from
time to time, and each statement's hand-offs then cost more on whichever side it happens to
(`--no-pin` shows it: 10k ratios from 0.44 to 1.0 between runs on this machine).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from sqlalchemy import delete, func, insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.domain.clock import DAY_MS, now_ms  # noqa: E402
from app.domain.commands import CreateCustomer, CreatePromotion  # noqa: E402
from app.domain.earning import new_earned_promotion  # noqa: E402
from app.domain.ids import new_object_ids  # noqa: E402
from app.domain.models import EarnedFromType, EventDetails, Principal, Promotion, PromotionType, Scope  # noqa: E402
from app.persistence.database import Database, create_database  # noqa: E402
from app.persistence.migrate import upgrade  # noqa: E402
from app.persistence.repositories.wallet import earned_promotion_to_row  # noqa: E402
from app.persistence.tables import earned_promotion_table, wallet_ledger_table  # noqa: E402
from app.persistence.uow import SqlUnitOfWork, SqlUnitOfWorkFactory  # noqa: E402
from app.services import admin  # noqa: E402
from app.settings import Settings  # noqa: E402
from tests.support import server_process  # noqa: E402

ORG_ID = 100737
SERVER_CPU = 0
CLIENT_CPU = 1
# How often the lock probe plays a redemption: 50 per second, a busy till.
PROBE_INTERVAL_S = 0.02
USERNAME = "bench-writer"
PASSWORD = "bench-secret-password"
ISSUE_COUNTS_ONLY = """mutation($p: String!, $c: String!, $ids: [Long]!) {
  issuePromotion(promotionId: $p, contextId: $c, customerIds: $ids) {
    __typename ... on IssuePromotionSuccess { issuedCount alreadyIssuedCount }
    ... on Error { code message } } }"""
# --with-entries: the client also reads every entry back (100k objects in the response).
ISSUE_WITH_ENTRIES = """mutation($p: String!, $c: String!, $ids: [Long]!) {
  issuePromotion(promotionId: $p, contextId: $c, customerIds: $ids) {
    __typename ... on IssuePromotionSuccess { issuedCount alreadyIssuedCount
      earnedPromotions { id customerId validTill status } }
    ... on Error { code message } } }"""


@dataclass
class Figures:
    size: int
    mutation_seconds: float
    raw_seconds: float
    rss_growth_mb: float
    longest_wait_ms: float

    @property
    def mutation_rate(self) -> float:
        return self.size / self.mutation_seconds

    @property
    def raw_rate(self) -> float:
        return self.size / self.raw_seconds


# --- databases ---------------------------------------------------------------------------------


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def _pg_admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@contextmanager
def scratch_database(url: str | None) -> Iterator[str]:
    """A migrated, empty database of the bench's own, removed afterwards."""
    if url is None:
        with tempfile.TemporaryDirectory(prefix="issue-bench-") as directory:
            scratch = f"sqlite+aiosqlite:///{directory}/bench.db"
            upgrade(scratch)
            yield scratch
        return
    name = f"pw_bench_{uuid.uuid4().hex[:10]}"
    asyncio.run(_pg_admin(url, f'CREATE DATABASE "{name}"'))
    try:
        scratch = _with_database(url, name)
        upgrade(scratch)
        yield scratch
    finally:
        asyncio.run(_pg_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- the server ----------------------------------------------------------------------------------


@contextmanager
def server(database_url: str, *, pin: bool) -> Iterator[tuple[str, int]]:
    """A real uvicorn process; yields its base URL and pid."""
    with server_process(database_url, cpu=SERVER_CPU if pin else None) as running:
        yield running.url, running.pid


def can_pin() -> bool:
    return hasattr(os, "sched_setaffinity") and {SERVER_CPU, CLIENT_CPU} <= os.sched_getaffinity(0)


@contextmanager
def on_cpu(cpu: int | None) -> Iterator[None]:
    """This process on `cpu` only for the block (no-op for None)."""
    if cpu is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {cpu})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("VmHWM not found")


# --- the measurements ----------------------------------------------------------------------------


async def seed(database: Database, max_size: int) -> Principal:
    await admin.create_org(
        SqlUnitOfWorkFactory(database), org_id=ORG_ID, name="Bench org", timezone="Asia/Kolkata"
    )
    await admin.create_client(
        SqlUnitOfWorkFactory(database), org_id=ORG_ID, name="bench", scopes=["wallet:write", "wallet:read"],
        username=USERNAME, password=PASSWORD,
    )  # fmt: skip
    principal = Principal(org_id=ORG_ID, client_id=0, username="bench", scopes=frozenset(Scope))
    await admin.import_customers(
        SqlUnitOfWorkFactory(database),
        principal,
        [CreateCustomer(id=i) for i in range(1, max_size + 1)],
        max_batch=max_size,
    )
    return principal


async def new_promotion(database: Database, principal: Principal, name: str) -> Promotion:
    now = now_ms()
    return await admin.create_promotion(
        SqlUnitOfWorkFactory(database),
        principal,
        CreatePromotion(
            name=name, type=PromotionType.CUSTOMER, start_date=now - DAY_MS, end_date=now + 30 * DAY_MS
        ),
    )


async def raw_insert_seconds(database: Database, promotion: Promotion, size: int) -> float:
    """The baseline: one Core INSERT executed with `size` parameter sets, one transaction."""
    now = now_ms()
    template = new_earned_promotion(
        entry_id="", promotion=promotion, customer_id=0, earned_from_type=EarnedFromType.BULK_ISSUE,
        earned_from_id="raw", instance=1, event_time=now, event_details=EventDetails("raw", "BULK_ISSUE"),
        timezone="Asia/Kolkata", now=now,
    )  # fmt: skip
    base = earned_promotion_to_row(template)
    # Ascending ids, as the mutation writes them: the baseline gets the same index locality.
    ids = sorted(new_object_ids(size))
    rows = [base | {"id": i, "customer_id": c} for i, c in zip(ids, range(1, size + 1), strict=True)]
    started = time.perf_counter()
    async with database.writer.begin() as connection:
        await connection.execute(insert(earned_promotion_table), rows)
    return time.perf_counter() - started


async def issue_over_http(
    base_url: str, promotion_id: str, size: int, *, with_entries: bool = False
) -> float:
    body = {
        "query": ISSUE_WITH_ENTRIES if with_entries else ISSUE_COUNTS_ONLY,
        "variables": {"p": promotion_id, "c": f"bench-{size}", "ids": list(range(1, size + 1))},
    }
    async with httpx.AsyncClient(base_url=base_url, timeout=600, auth=(USERNAME, PASSWORD)) as client:
        # Timed at the client, as the issue asks: request sent (its JSON encoded) to answer parsed.
        started = time.perf_counter()
        response = await client.post("/graphql", json=body)
        answer = response.json()
        elapsed = time.perf_counter() - started
    response.raise_for_status()
    payload = answer["data"]["issuePromotion"]
    entries = payload.pop("earnedPromotions", [])
    if payload != {"__typename": "IssuePromotionSuccess", "issuedCount": size, "alreadyIssuedCount": 0}:
        raise RuntimeError(f"unexpected answer: {payload}")
    if with_entries and len(entries) != size:
        raise RuntimeError(f"{len(entries)} entries returned for {size} ids")
    return elapsed


async def longest_lock_wait_ms(settings: Settings, customer_id: int, done: asyncio.Event) -> float:
    """While the mutation runs, take the wallet lock of one of its customers over and over, the
    way a redemption does (SQLite: BEGIN IMMEDIATE; PostgreSQL: SELECT ... FOR UPDATE), and
    return the longest wait: how long the mutation kept a concurrent redemption waiting."""
    patient = settings.model_copy(update={"lock_timeout_ms": 600_000})
    database = create_database(patient)
    longest = 0.0
    try:
        while not done.is_set():
            started = time.perf_counter()
            async with SqlUnitOfWork(database, write=True) as uow:
                await uow.customers.lock_wallets(ORG_ID, [customer_id])
                longest = max(longest, time.perf_counter() - started)
            await asyncio.sleep(PROBE_INTERVAL_S)
    finally:
        await database.dispose()
    return longest * 1000


async def issue_while_probing(settings: Settings, base_url: str, promotion_id: str, size: int) -> float:
    """Another issue of `size` ids, with the lock probe running; returns the longest wait."""
    done = asyncio.Event()
    probe = asyncio.create_task(longest_lock_wait_ms(settings, size // 2 + 1, done))
    try:
        await issue_over_http(base_url, promotion_id, size)
    finally:
        done.set()
    return await probe


async def row_count(database: Database, promotion_id: str) -> int:
    async with database.reader.connect() as connection:
        result = await connection.execute(
            select(func.count())
            .select_from(earned_promotion_table)
            .where(earned_promotion_table.c.promotion_id == promotion_id)
        )
        return int(result.scalar_one())


async def remove_raw_rows(database: Database, promotion_id: str) -> None:
    async with database.writer.begin() as connection:
        await connection.execute(
            delete(earned_promotion_table).where(earned_promotion_table.c.promotion_id == promotion_id)
        )
        await connection.execute(
            delete(wallet_ledger_table).where(wallet_ledger_table.c.promotion_id == promotion_id)
        )


def run(
    database_url: str, sizes: list[int], *, rounds: int, pin: bool, with_entries: bool = False
) -> list[Figures]:
    """Per size, the median over `rounds` of the mutation and raw insert times (this machine is
    shared: single runs vary by ±50%), the largest peak-RSS growth and the longest lock wait."""
    settings = Settings(database_url=database_url, demo_mode=False, _env_file=None)

    async def prepare() -> dict[tuple[int, int], tuple[Promotion, Promotion, Promotion]]:
        database = create_database(settings)
        try:
            principal = await seed(database, max(sizes))
            return {
                (round_, size): (
                    await new_promotion(database, principal, f"raw {size} #{round_}"),
                    await new_promotion(database, principal, f"issue {size} #{round_}"),
                    await new_promotion(database, principal, f"probed {size} #{round_}"),
                )
                for round_ in range(rounds)
                for size in sizes
            }
        finally:
            await database.dispose()

    promotions = asyncio.run(prepare())
    samples: dict[int, list[Figures]] = {size: [] for size in sizes}
    with server(database_url, pin=pin) as (base_url, pid), on_cpu(CLIENT_CPU if pin else None):
        # Warm the server (imports, pools, caches) so the RSS growth is the request's own.
        asyncio.run(_warm(settings, base_url))
        for round_ in range(rounds):
            for size in sizes:
                raw_promotion, issue_promotion, probed_promotion = promotions[(round_, size)]
                with on_cpu(SERVER_CPU if pin else None):
                    raw_seconds = asyncio.run(_raw(settings, raw_promotion, size))
                before = peak_rss_kb(pid)
                mutation_seconds = asyncio.run(
                    issue_over_http(base_url, issue_promotion.id, size, with_entries=with_entries)
                )
                growth_mb = (peak_rss_kb(pid) - before) / 1024
                written = asyncio.run(_count(settings, issue_promotion.id))
                if written != size:
                    raise RuntimeError(f"{written} rows written for {size} ids")
                # A separate run: the probe's own lock takes would otherwise slow the timed one.
                waited_ms = asyncio.run(issue_while_probing(settings, base_url, probed_promotion.id, size))
                sample = Figures(size, mutation_seconds, raw_seconds, growth_mb, waited_ms)
                samples[size].append(sample)
                print(
                    f"  round {round_ + 1} {size:>7} ids: mutation {mutation_seconds:.2f} s, "
                    f"raw {raw_seconds:.2f} s, ratio {sample.mutation_rate / sample.raw_rate:.2f}",
                    flush=True,
                )
    return [
        Figures(
            size,
            statistics.median(f.mutation_seconds for f in runs),
            statistics.median(f.raw_seconds for f in runs),
            max(f.rss_growth_mb for f in runs),
            max(f.longest_wait_ms for f in runs),
        )
        for size, runs in samples.items()
    ]


async def _warm(settings: Settings, base_url: str) -> None:
    database = create_database(settings)
    try:
        principal = Principal(org_id=ORG_ID, client_id=0, username="bench", scopes=frozenset(Scope))
        promotion = await new_promotion(database, principal, "warm-up")
        await issue_over_http(base_url, promotion.id, 100)
    finally:
        await database.dispose()


async def _raw(settings: Settings, promotion: Promotion, size: int) -> float:
    database = create_database(settings)
    try:
        seconds = await raw_insert_seconds(database, promotion, size)
        # The raw rows are removed again so the mutation meets the same table size as the raw insert.
        await remove_raw_rows(database, promotion.id)
        return seconds
    finally:
        await database.dispose()


async def _count(settings: Settings, promotion_id: str) -> int:
    database = create_database(settings)
    try:
        return await row_count(database, promotion_id)
    finally:
        await database.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="postgresql+asyncpg://... (default: a temporary SQLite file)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--rounds", type=int, default=3, help="medians over this many rounds (default 3)")
    parser.add_argument(
        "--no-pin", action="store_true", help="leave the server and the raw insert to the scheduler"
    )
    parser.add_argument(
        "--with-entries", action="store_true", help="select earnedPromotions too (default: only the counts)"
    )
    arguments = parser.parse_args()
    kind = "PostgreSQL" if arguments.database_url else "SQLite"
    pin = can_pin() and not arguments.no_pin
    with scratch_database(arguments.database_url) as database_url:
        figures = run(
            database_url,
            arguments.sizes,
            rounds=arguments.rounds,
            pin=pin,
            with_entries=arguments.with_entries,
        )
    selected = "counts and every entry" if arguments.with_entries else "counts only"
    placement = (
        f"server and raw insert on CPU {SERVER_CPU}, client on CPU {CLIENT_CPU}" if pin else "not pinned"
    )
    print(
        f"issuePromotion bulk benchmark on {kind} (the client selects {selected}; {placement}; "
        f"times are medians of {arguments.rounds} rounds, RSS and lock wait the largest)"
    )
    print(
        f"{'ids':>8} {'mutation s':>11} {'mutation rows/s':>16} {'raw insert s':>13} {'raw rows/s':>11} "
        f"{'ratio':>6} {'peak RSS +MB':>13} {'longest lock wait ms':>21}"
    )
    for f in figures:
        print(
            f"{f.size:>8} {f.mutation_seconds:>11.2f} {f.mutation_rate:>16,.0f} {f.raw_seconds:>13.2f} "
            f"{f.raw_rate:>11,.0f} {f.mutation_rate / f.raw_rate:>6.2f} {f.rss_growth_mb:>13.1f} "
            f"{f.longest_wait_ms:>21.0f}"
        )


if __name__ == "__main__":
    main()
