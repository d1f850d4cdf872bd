"""What the §8.6 fields cost a wallet read: the wallet-of-20 document with `redemptionsRemaining
redeemable validTillLocal` next to the same document without them, each ÷ `{ __typename }`.

    .venv/bin/python bench/frontend_wallet.py                 # 10 s per measurement, 2 rounds
    .venv/bin/python bench/frontend_wallet.py --duration 5 --rounds 3

Same set-up as bench/graphql_throughput.py (whose seed, server and load helpers it uses): a
temporary SQLite file with a customer of 20 entries, one uvicorn worker pinned to CPU 0, load from
CPU 1 with wrk (or the asyncio client when wrk is missing: a lower bound). Measurements alternate.
It prints each run, then:

  frontend wallet ÷ {__typename}     the figure
  plain wallet ÷ {__typename}        the floor: what the frontend document could reach at best
  frontend wallet ÷ plain wallet     target >= 0.90 (the three fields cost at most a tenth)

`validTillLocal` is the one field with a cost of its own: the org's timezone, read once per
request when it is selected, and a resolver per entry (the first awaits that read).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.persistence.migrate import upgrade  # noqa: E402
from bench.graphql_throughput import (  # noqa: E402
    TYPENAME,
    WALLET,
    Run,
    check,
    python_run,
    seed,
    server,
    wrk_run,
)

FRONTEND_WALLET = WALLET.replace(
    "redemptionsAllowed redemptionsUsed",
    "redemptionsAllowed redemptionsUsed redemptionsRemaining redeemable validTillLocal",
)
TARGET = 0.90


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement (default 10)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (default 8)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    args = parser.parse_args()
    assert FRONTEND_WALLET != WALLET
    use_wrk = shutil.which("wrk") is not None
    if not use_wrk:
        print("wrk is not installed: the asyncio client's figures are a lower bound", file=sys.stderr)

    plan = {"{__typename}": TYPENAME, "plain wallet-of-20": WALLET, "frontend wallet-of-20": FRONTEND_WALLET}
    runs: dict[str, list[Run]] = {label: [] for label in plan}
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pw-bench-")))
        url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        upgrade(url)
        asyncio.run(seed(url))
        base_url = stack.enter_context(server(url, {}, workdir / "server.log"))
        for query in plan.values():
            check(base_url, query)
        data = check(base_url, FRONTEND_WALLET)
        local = data["wallet"]["edges"][0]["node"]["validTillLocal"]
        assert local.endswith("+05:30"), local  # the bench org is in Asia/Kolkata

        def measure(label: str, query: str, duration: float) -> Run:
            if use_wrk:
                return wrk_run(label, base_url, query, duration, args.connections, workdir)
            return python_run(label, base_url, query, duration, args.connections)

        for query in plan.values():
            measure("warm-up", query, 2)
        for _ in range(args.rounds):
            for label, query in plan.items():
                runs[label].append(measure(label, query, args.duration))

    client = "wrk -t1" if use_wrk else "asyncio client (lower bound)"
    print(f"\nServer: 1 uvicorn worker on CPU 0; load: {client}, {args.connections} connections, CPU 1.")
    print(f"{'run':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for label, measured in runs.items():
        for run in measured:
            print(
                f"{label:28} {run.requests_per_second:9.1f} {run.p50_ms:8.2f} {run.p99_ms:8.2f}"
                f" {run.errors:7d}"
            )

    def best(label: str) -> float:
        return max(r.requests_per_second for r in runs[label])

    typename, plain, frontend = (
        best("{__typename}"),
        best("plain wallet-of-20"),
        best("frontend wallet-of-20"),
    )
    ratio = frontend / plain
    print(f"\nfrontend wallet ÷ {{__typename}}: {frontend:.1f} ÷ {typename:.1f} = {frontend / typename:.2f}")
    print(f"floor, plain wallet ÷ {{__typename}}: {plain:.1f} ÷ {typename:.1f} = {plain / typename:.2f}")
    print(
        f"frontend wallet ÷ plain wallet: {ratio:.2f}  (target >= {TARGET:.2f})"
        f"  {'OK' if ratio >= TARGET else 'BELOW TARGET'}"
    )
    failed = sum(r.errors for measured in runs.values() for r in measured)
    if failed:
        print(f"{failed} requests failed: the figures above are not valid", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
