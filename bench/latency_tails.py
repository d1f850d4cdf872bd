"""Latency tails at 32 connections: p50, p99 and p99 ÷ p50 of four requests on one real server.

    .venv/bin/python bench/latency_tails.py                       # temporary SQLite file
    .venv/bin/python bench/latency_tails.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

One uvicorn process (one worker, pinned to CPU 0 when there are two CPUs), loaded from CPU 1 by
wrk (`--latency`, one thread, 32 connections) with, in turn:

  {__typename}        the cheapest GraphQL request
  GraphQL wallet      bench/graphql_throughput.py's wallet-of-20 document
  REST wallet         GET /api_gateway/v1/promotions/customer/{id}, the same 20 entries
  redemption          bench/redeem.py's redeemPromotions, a new customer per request

Each gets a warm-up run, then `--rounds` measured runs of `--duration` seconds; it prints each
run's req/s, p50, p99 and p99 ÷ p50, and the median ratio per request against the target (≤ 5: a
p99 far above the median under a steady load is a stall — a GC pause, a checkpoint, a lock —
not queueing, which moves the median as much as the tail).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import statistics
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import graphql_throughput as reads  # noqa: E402
import redeem as writes  # noqa: E402

from app.persistence.migrate import upgrade  # noqa: E402
from tests.support import server_process  # noqa: E402

CONNECTIONS = 32
TARGET = 5.0
FIRST_REDEEMING_CUSTOMER = 1  # the reads' customer is graphql_throughput.CUSTOMER_ID, far above


@dataclass
class Tail:
    label: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def ratio(self) -> float:
        return self.p99_ms / self.p50_ms


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _post_script(body: str, authorization: str) -> str:
    return (
        'wrk.method = "POST"\n'
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = {json.dumps(authorization)}\n'
        f"wrk.body = {json.dumps(body)}\n"
    )


def _get_script(authorization: str) -> str:
    return f'wrk.method = "GET"\nwrk.headers["Authorization"] = {json.dumps(authorization)}\n'


class RedeemScript:
    """bench/redeem.py's wrk script (a new customer per request), its next customer moved on
    after every run so that each run redeems customers no other run used."""

    def __init__(self, promotion_id: str) -> None:
        self.promotion_id = promotion_id
        self.next_customer = FIRST_REDEEMING_CUSTOMER

    def text(self) -> str:
        redeem_input = writes.purchase(self.promotion_id, 0, "tails-%d", "bill-%d")
        template = json.dumps({"query": writes.REDEEM, "variables": {"input": redeem_input}})
        template = template.replace('"customerId": 0', '"customerId": %d', 1)
        return writes._WRK_REDEEM % {
            "authorization": writes._lua_string(_basic(writes.USERNAME, writes.PASSWORD)),
            "template": writes._lua_string(template.replace("%", "%%").replace("%%d", "%d")),
            "first_customer": self.next_customer,
        }

    def used(self, wrk_output: str) -> None:
        found = re.search(r"REDEEMED (\d+) OTHER (\d+)", wrk_output)
        assert found, wrk_output
        if int(found.group(2)):
            raise SystemExit(f"{found.group(2)} redemptions did not succeed (too few customers seeded?)")
        # wrk may have sent requests it did not count before it stopped: skip well past them.
        self.next_customer += int(found.group(1)) + 10 * CONNECTIONS


def wrk(label: str, url: str, script: str, seconds: int, workdir: Path, pin: bool) -> tuple[Tail, str]:
    run, output = reads.run_wrk(
        label,
        url,
        script,
        duration=seconds,
        connections=CONNECTIONS,
        workdir=workdir,
        cpu=writes.LOAD_CPU if pin else None,
        # A long timeout: a stall must show in the latencies, not be dropped as a socket error.
        extra_args=("--timeout", "30s"),
    )
    return Tail(run.label, run.requests_per_second, run.p50_ms, run.p99_ms, run.errors), output


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="postgresql+asyncpg://... (default: a temporary SQLite file)")
    parser.add_argument("--duration", type=int, default=8, help="seconds per measured run (default 8)")
    parser.add_argument("--rounds", type=int, default=2, help="measured runs per request (default 2)")
    parser.add_argument(
        "--customers", type=int, default=12000, help="customers seeded for the redemptions (default 12000)"
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="do not pin the server and wrk to separate CPUs"
    )
    args = parser.parse_args()
    pin = writes.can_pin() and not args.no_pin
    with writes.scratch_database(args.database_url) as database_url, tempfile.TemporaryDirectory() as work:
        upgrade(database_url)
        asyncio.run(reads.seed(database_url))  # the org, a reading client, a wallet of 20
        promotion_id = asyncio.run(
            writes.seed(database_url, args.customers, first_customer=FIRST_REDEEMING_CUSTOMER, new_org=False)
        )
        workdir = Path(work)
        env = {"PROMO_WALLET_AUTH_CACHE_SECONDS": "3600"}
        cpu = writes.SERVER_CPU if pin else None
        with server_process(database_url, cpu=cpu, log_path=workdir / "server.log", **env) as running:
            if pin:
                os.sched_setaffinity(0, {writes.LOAD_CPU})
            base = running.url
            reads.check(base, reads.WALLET)
            reader = _basic(reads.USERNAME, reads.PASSWORD)
            redeem = RedeemScript(promotion_id)
            requests = [
                (
                    "{__typename}",
                    f"{base}/graphql",
                    lambda: _post_script(reads._body(reads.TYPENAME), reader),
                ),
                (
                    "GraphQL wallet",
                    f"{base}/graphql",
                    lambda: _post_script(reads._body(reads.WALLET), reader),
                ),
                (
                    "REST wallet",
                    f"{base}/api_gateway/v1/promotions/customer/{reads.CUSTOMER_ID}",
                    lambda: _get_script(reader),
                ),
                ("redemption", f"{base}/graphql", redeem.text),
            ]
            print(
                f"database: {database_url.split('@')[-1]}  {CONNECTIONS} connections, wrk --latency, "
                f"{args.rounds} x {args.duration} s per request"
                + ("  server on CPU 0, wrk on CPU 1" if pin else "  not pinned")
            )
            print(f"  {'request':<15} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99÷p50':>8}")
            medians: list[tuple[str, float]] = []
            for label, url, script in requests:
                tails: list[Tail] = []
                for round_ in range(args.rounds + 1):  # round 0: the warm-up
                    tail, output = wrk(
                        label, url, script(), 2 if round_ == 0 else args.duration, workdir, pin
                    )
                    if script is redeem.text:
                        redeem.used(output)
                    if tail.errors:
                        raise SystemExit(f"{label}: {tail.errors} errors\n{output}")
                    if round_:
                        tails.append(tail)
                        print(
                            f"  {label:<15} {tail.requests_per_second:8.1f} {tail.p50_ms:8.2f} "
                            f"{tail.p99_ms:8.2f} {tail.ratio:8.2f}"
                        )
                medians.append((label, statistics.median(t.ratio for t in tails)))
            print(f"p99 ÷ p50 at {CONNECTIONS} connections, median of the runs (target <= {TARGET:g}):")
            for label, ratio in medians:
                print(f"  {label:<15} {ratio:6.2f}  {'ok' if ratio <= TARGET else 'ABOVE TARGET'}")


if __name__ == "__main__":
    main()
