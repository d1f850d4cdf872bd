"""Benchmark of a bulk issue job (startIssueJob, DESIGN §8.4) of a million customers.

    .venv/bin/python bench/issue_job.py                      # a temporary SQLite file, 1,000,000 ids
    .venv/bin/python bench/issue_job.py --size 100000        # a quicker run
    .venv/bin/python bench/issue_job.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

In one run it prints:
- the request: `{ __typename }` latency (the baseline of any request), startIssueJob's latency with
  the million ids (parse, checks, one stored blob), and the floor: the same request refused by its
  shape (the last id null, 1006) before any database work, which costs the transport and the
  parsing of the ids alone;
- the job: its rows/s from the start's answer to SUCCEEDED, run by the server's own job runner
  (a real uvicorn process, pinned to CPU 0 as in bench/issue_bulk.py), ÷ a raw SQLAlchemy Core
  insert of as many rows into `earned_promotion` (also on CPU 0, one transaction, 100,000 rows per
  executemany, each batch's rows built before its clock starts), with the target 0.5. The job
  writes a ledger row per entry too, which the raw insert does not (as in bench/issue_bulk.py);
- the growth of the server's peak RSS (VmHWM) from before the million-id requests to the job's
  end: the requests' ids parsed, checked and stored, and the job's run (target ≤ 300 MB);
- the longest wait of a redemption during the job's run (and apart, during the start's request),
  next to the average chunk's time: a probe in this process takes the wallet lock
  of a customer in the middle of the list 50 times a second, as a redemption does (the job is
  timed with the probe running: on SQLite each probe takes the database's write lock);
- the ids' storage, measured apart: the million ids as one blob against one row per id.

On PostgreSQL it works in a scratch database of its own, created and dropped here.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import BigInteger, Column, Integer, LargeBinary, MetaData, String, Table, insert, select

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from issue_bulk import (  # noqa: E402
    CLIENT_CPU,
    ORG_ID,
    PASSWORD,
    PROBE_INTERVAL_S,
    SERVER_CPU,
    USERNAME,
    can_pin,
    new_promotion,
    on_cpu,
    peak_rss_kb,
    remove_raw_rows,
    scratch_database,
)

from app.domain.clock import now_ms  # noqa: E402
from app.domain.earning import new_earned_promotion  # noqa: E402
from app.domain.ids import new_object_ids  # noqa: E402
from app.domain.models import EarnedFromType, EventDetails, Principal, Scope  # noqa: E402
from app.persistence.database import Database, create_database  # noqa: E402
from app.persistence.repositories.jobs import pack_ids  # noqa: E402
from app.persistence.repositories.wallet import earned_promotion_to_row  # noqa: E402
from app.persistence.tables import customer_table, earned_promotion_table, issue_job_table  # noqa: E402
from app.persistence.uow import SqlUnitOfWork, SqlUnitOfWorkFactory  # noqa: E402
from app.services import admin  # noqa: E402
from app.settings import Settings  # noqa: E402
from tests.support import server_process  # noqa: E402

START = """mutation($p: String!, $c: String!, $ids: [Long]!) {
  startIssueJob(promotionId: $p, contextId: $c, customerIds: $ids) { __typename
    ... on StartIssueJobSuccess { job { id state total } } ... on Error { code message } } }"""
RAW_BATCH = 100_000
TARGET_RATIO = 0.5
TARGET_RSS_MB = 300


async def seed(settings: Settings, size: int) -> Principal:
    database = create_database(settings)
    uow_factory = SqlUnitOfWorkFactory(database)
    try:
        await admin.create_org(uow_factory, org_id=ORG_ID, name="Bench org", timezone="Asia/Kolkata")
        await admin.create_client(
            uow_factory, org_id=ORG_ID, name="bench", scopes=["wallet:write", "wallet:read"],
            username=USERNAME, password=PASSWORD,
        )  # fmt: skip
        created = now_ms()
        async with database.writer.begin() as connection:  # straight in: importing is not measured
            for start in range(1, size + 1, RAW_BATCH):
                rows = [
                    {"org_id": ORG_ID, "id": i, "created_at": created}
                    for i in range(start, min(start + RAW_BATCH, size + 1))
                ]
                await connection.execute(insert(customer_table), rows)
    finally:
        await database.dispose()
    return Principal(org_id=ORG_ID, client_id=0, username="bench", scopes=frozenset(Scope))


async def raw_seconds(settings: Settings, principal: Principal, size: int) -> float:
    """The baseline: `size` rows into `earned_promotion` in one transaction, an executemany of
    RAW_BATCH rows at a time (a million row dicts at once would not fit), into a table that grows
    as the job's does; only the executes are timed, each batch's rows built before its clock."""
    database = create_database(settings)
    try:
        promotion = await new_promotion(database, principal, "raw")
        now = now_ms()
        template = new_earned_promotion(
            entry_id="", promotion=promotion, customer_id=0, earned_from_type=EarnedFromType.BULK_ISSUE,
            earned_from_id="raw", instance=1, event_time=now,
            event_details=EventDetails("raw", "BULK_ISSUE"), timezone="Asia/Kolkata", now=now,
        )  # fmt: skip
        base = earned_promotion_to_row(template)
        ids = sorted(new_object_ids(size))
        total = 0.0
        async with database.writer.begin() as connection:
            for start in range(0, size, RAW_BATCH):
                rows = [
                    base | {"id": ids[n], "customer_id": n + 1}
                    for n in range(start, min(start + RAW_BATCH, size))
                ]
                started = time.perf_counter()
                await connection.execute(insert(earned_promotion_table), rows)
                total += time.perf_counter() - started
        await remove_raw_rows(database, promotion.id)
        return total
    finally:
        await database.dispose()


async def id_storage_seconds(settings: Settings, size: int) -> tuple[float, float]:
    """(one blob of `size` ids, one row per id) into scratch tables, each in one transaction."""
    metadata = MetaData()
    blobs = Table("bench_job_blob", metadata, Column("job_id", String(24), primary_key=True),
                  Column("ids", LargeBinary))  # fmt: skip
    rows = Table(
        "bench_job_row",
        metadata,
        Column("job_id", String(24), primary_key=True),
        Column("position", Integer, primary_key=True),
        Column("customer_id", BigInteger),
    )
    database = create_database(settings)
    try:
        async with database.writer.begin() as connection:
            await connection.run_sync(metadata.create_all)
        ids = list(range(1, size + 1))
        started = time.perf_counter()
        async with database.writer.begin() as connection:
            await connection.execute(insert(blobs).values(job_id="a" * 24, ids=pack_ids(ids)))
        blob_s = time.perf_counter() - started
        batches = [
            [
                {"job_id": "a" * 24, "position": p, "customer_id": c}
                for p, c in enumerate(ids[s : s + RAW_BATCH], s)
            ]
            for s in range(0, size, RAW_BATCH)
        ]
        started = time.perf_counter()
        async with database.writer.begin() as connection:
            for batch in batches:
                await connection.execute(insert(rows), batch)
        rows_s = time.perf_counter() - started
        async with database.writer.begin() as connection:
            await connection.run_sync(metadata.drop_all)
        return blob_s, rows_s
    finally:
        await database.dispose()


async def lock_waits(settings: Settings, customer_id: int, done: asyncio.Event) -> list[tuple[float, float]]:
    """bench/issue_bulk.py's probe, keeping every wait: (when it started, how long it waited, s),
    so that the waits during the start's request and during the job's run are told apart."""
    patient = settings.model_copy(update={"lock_timeout_ms": 600_000})
    database = create_database(patient)
    waits: list[tuple[float, float]] = []
    try:
        while not done.is_set():
            started = time.perf_counter()
            async with SqlUnitOfWork(database, write=True) as uow:
                await uow.customers.lock_wallets(ORG_ID, [customer_id])
                waits.append((started, time.perf_counter() - started))
            await asyncio.sleep(PROBE_INTERVAL_S)
    finally:
        await database.dispose()
    return waits


async def latency_ms(client: httpx.AsyncClient, body: dict[str, object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        response = await client.post("/graphql", json=body)
        times.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return statistics.median(times)


async def job_state(database: Database, job_id: str) -> tuple[str, int, int, int]:
    async with database.reader.connect() as connection:
        j = issue_job_table.c
        row = (
            await connection.execute(
                select(j.state, j.processed, j.issued_count, j.already_issued_count).where(j.id == job_id)
            )
        ).one()
        return str(row[0]), int(row[1]), int(row[2]), int(row[3])


async def measure(
    settings: Settings, base_url: str, pid: int, principal: Principal, size: int
) -> dict[str, float]:
    database = create_database(settings)
    try:
        promotion = await new_promotion(database, principal, "job")
        floor_promotion = await new_promotion(database, principal, "floor")
    finally:
        await database.dispose()
    ids: list[int | None] = list(range(1, size + 1))
    figures: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=base_url, timeout=600, auth=(USERNAME, PASSWORD)) as client:
        figures["typename_ms"] = await latency_ms(client, {"query": "{ __typename }"}, 50)
        # From here on: the requests' million ids (parsed, checked, stored) and the job's run.
        before = peak_rss_kb(pid)
        refused = {
            "query": START,
            "variables": {"p": floor_promotion.id, "c": "floor", "ids": [*ids[:-1], None]},
        }
        figures["floor_ms"] = await latency_ms(client, refused, 3)
        done = asyncio.Event()
        probe = asyncio.create_task(lock_waits(settings, size // 2 + 1, done))
        body = {"query": START, "variables": {"p": promotion.id, "c": "bench-job", "ids": ids}}
        started = time.perf_counter()
        response = await client.post("/graphql", json=body)
        answered = time.perf_counter()
        response.raise_for_status()
        payload = response.json()["data"]["startIssueJob"]
        if payload["__typename"] != "StartIssueJobSuccess":
            raise RuntimeError(f"unexpected answer: {payload}")
        figures["start_ms"] = (answered - started) * 1000
        job_id = payload["job"]["id"]
        watcher = create_database(settings)
        try:
            state = await job_state(watcher, job_id)
            while state[0] in ("QUEUED", "RUNNING"):
                await asyncio.sleep(0.2)  # any process may run the job: its row is the only news
                state = await job_state(watcher, job_id)
        finally:
            await watcher.dispose()
        finished = time.perf_counter()
        done.set()
        waits = await probe
        figures["start_wait_ms"] = max((w for at, w in waits if at < answered), default=0.0) * 1000
        figures["wait_ms"] = max((w for at, w in waits if at >= answered), default=0.0) * 1000
        figures["chunks"] = -(-size // 5000)
        figures["rss_mb"] = (peak_rss_kb(pid) - before) / 1024
        if state != ("SUCCEEDED", size, size, 0):
            raise RuntimeError(f"the job ended (state, processed, issued, already issued) = {state}")
        figures["job_s"] = finished - answered
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="postgresql+asyncpg://... (default: a temporary SQLite file)")
    parser.add_argument(
        "--size", type=int, default=1_000_000, help="customers in the job (default 1,000,000)"
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="leave the server and the raw insert to the scheduler"
    )
    arguments = parser.parse_args()
    kind = "PostgreSQL" if arguments.database_url else "SQLite"
    pin = can_pin() and not arguments.no_pin
    size = arguments.size
    with scratch_database(arguments.database_url) as database_url:
        settings = Settings(database_url=database_url, demo_mode=False, _env_file=None)  # type: ignore[call-arg]
        principal = asyncio.run(seed(settings, size))
        with on_cpu(SERVER_CPU if pin else None):
            raw_s = asyncio.run(raw_seconds(settings, principal, size))
            blob_s, rows_s = asyncio.run(id_storage_seconds(settings, size))
        env = {"PROMO_WALLET_JOB_POLL_SECONDS": "0.1", "PROMO_WALLET_MAX_JOB_IDS": str(max(size, 1_000_000))}
        with (
            server_process(database_url, cpu=SERVER_CPU if pin else None, **env) as running,
            on_cpu(CLIENT_CPU if pin else None),
        ):
            figures = asyncio.run(measure(settings, running.url, running.pid, principal, size))
    job_rate, raw_rate = size / figures["job_s"], size / raw_s
    placement = (
        f"server and raw insert on CPU {SERVER_CPU}, client on CPU {CLIENT_CPU}" if pin else "not pinned"
    )
    print(f"bulk issue job benchmark on {kind}, {size:,} customers ({placement})")
    print(f"  {{__typename}}                        : {figures['typename_ms']:9.1f} ms (median of 50)")
    print(
        f"  startIssueJob, {size:,} ids           : {figures['start_ms']:9.1f} ms "
        f"(÷ {{__typename}} {figures['start_ms'] / figures['typename_ms']:.0f}x)"
    )
    print(
        f"  floor: the same refused by its shape : {figures['floor_ms']:9.1f} ms "
        f"(transport and parsing of the ids; the start is "
        f"{figures['start_ms'] / figures['floor_ms']:.2f}x it)"
    )
    print(
        f"  job: {job_rate:,.0f} rows/s ({figures['job_s']:.1f} s) ÷ raw Core insert {raw_rate:,.0f} rows/s "
        f"({raw_s:.1f} s) = ratio {job_rate / raw_rate:.2f} (target ≥ {TARGET_RATIO})"
    )
    print(
        f"  peak RSS growth of the server        : {figures['rss_mb']:9.1f} MB (target ≤ {TARGET_RSS_MB} MB)"
    )
    print(
        f"  longest redemption wait during it    : {figures['wait_ms']:9.0f} ms "
        f"(target: one chunk, here {figures['job_s'] * 1000 / figures['chunks']:.0f} ms on average; "
        f"during the start's request: {figures['start_wait_ms']:.0f} ms)"
    )
    print(
        f"  ids stored: one blob {blob_s * 1000:.0f} ms, a row per id {rows_s * 1000:.0f} ms "
        f"({rows_s / blob_s:.0f}x)"
    )


if __name__ == "__main__":
    main()
