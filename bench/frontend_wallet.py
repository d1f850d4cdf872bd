"""What the §8.6 fields cost a wallet read: the wallet-of-20 document with `redemptionsRemaining
redeemable validTillLocal` next to the same document with three fields it already had instead
(`redemptionsHeld eventTimeISO earnedFromId`, the baseline: any field costs graphql-core a
completion per entry) and without either, each ÷ `{ __typename }`.

    .venv/bin/python bench/frontend_wallet.py                 # 10 s per measurement, 2 rounds
    .venv/bin/python bench/frontend_wallet.py --duration 5 --rounds 3

Same set-up as bench/graphql_throughput.py (whose seed, server and load helpers it uses): a
temporary SQLite file with a customer of 20 entries, one uvicorn worker pinned to CPU 0, load from
CPU 1 with wrk (or the asyncio client when wrk is missing: a lower bound). Measurements alternate;
the best round of each is used. It prints each run, then:

  frontend wallet ÷ {__typename}           the figure
  three-more-fields wallet ÷ {__typename}  the floor: what three more fields of any kind reach
  frontend ÷ three-more-fields             target >= 0.90 (the §8.6 fields cost about what any
                                           three fields cost)
  the same ratios in process               each document executed by the served schema with its
                                           SQL, no HTTP: steadier than req/s on a shared machine

`validTillLocal` is the one field with a resolver of its own; when the wallet page's statement
brings the org's timezone (it does when the field is selected), each entry's value is worked out
with the page and the executor reads it as a plain field (app/graphql/execution.py, PRECOMPUTED).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.domain.clock import now_ms  # noqa: E402
from app.domain.models import Principal, Scope  # noqa: E402
from app.persistence.database import create_database  # noqa: E402
from app.persistence.migrate import upgrade  # noqa: E402
from app.persistence.uow import SqlUnitOfWorkFactory  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench.graphql_throughput import (  # noqa: E402
    CUSTOMER_ID,
    ORG_ID,
    SERVER_CPU,
    TYPENAME,
    USERNAME,
    WALLET,
    Run,
    best_cpu_us,
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
THREE_MORE_WALLET = WALLET.replace(
    "redemptionsAllowed redemptionsUsed",
    "redemptionsAllowed redemptionsUsed redemptionsHeld eventTimeISO earnedFromId",
)
TARGET = 0.90


def inprocess_us(
    url: str, documents: dict[str, str], rounds: int = 20, iterations: int = 25
) -> dict[str, float]:
    """Microseconds per execution of each document by the served schema in this process, its SQL
    included (no HTTP, authentication, JSON), alternating documents in many short rounds; the best
    round of each. Less noisy than the HTTP figures on a shared machine."""
    from app.graphql.context import Context
    from app.graphql.schema import schema

    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    principal = Principal(
        org_id=ORG_ID, client_id=1, username=USERNAME, scopes=frozenset({Scope.WALLET_READ})
    )

    async def measure() -> dict[str, float]:
        database = create_database(settings)
        try:

            async def run(document: str) -> None:
                context = Context(
                    uow_factory=SqlUnitOfWorkFactory(database),
                    settings=settings,
                    authenticator=None,  # type: ignore[arg-type]  # the principal is given
                    principal=principal,
                    now=now_ms(),
                )
                result = await schema.execute(
                    document, variable_values={"id": CUSTOMER_ID}, context_value=context
                )
                assert result.errors is None, result.errors

            for document in documents.values():
                for _ in range(20):
                    await run(document)
            return await best_cpu_us(
                {label: (lambda d=document: run(d)) for label, document in documents.items()},
                rounds=rounds,
                calls=iterations,
            )
        finally:
            await database.dispose()

    return asyncio.run(measure())


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

    plan = {
        "{__typename}": TYPENAME,
        "plain wallet-of-20": WALLET,
        "three-more-fields wallet": THREE_MORE_WALLET,
        "frontend wallet-of-20": FRONTEND_WALLET,
    }
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
        os.sched_setaffinity(0, {SERVER_CPU})  # the server's CPU, idle now
        executions = inprocess_us(
            url, {"plain": WALLET, "three more fields": THREE_MORE_WALLET, "frontend": FRONTEND_WALLET}
        )

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

    typename, plain = best("{__typename}"), best("plain wallet-of-20")
    three, frontend = best("three-more-fields wallet"), best("frontend wallet-of-20")
    ratio = frontend / three
    print(f"\nfrontend wallet ÷ {{__typename}}: {frontend:.1f} ÷ {typename:.1f} = {frontend / typename:.2f}")
    print(
        f"floor, three-more-fields wallet ÷ {{__typename}}: {three:.1f} ÷ {typename:.1f}"
        f" = {three / typename:.2f}"
    )
    print(f"(plain wallet ÷ {{__typename}}: {plain:.1f} ÷ {typename:.1f} = {plain / typename:.2f})")
    print(
        f"frontend ÷ three-more-fields: {ratio:.2f}  (target >= {TARGET:.2f})"
        f"  {'OK' if ratio >= TARGET else 'BELOW TARGET'}"
    )
    us = executions
    print(
        f"in process (served schema + SQL, no HTTP), us per wallet-of-20: plain {us['plain']:.0f},"
        f" three more fields {us['three more fields']:.0f}, frontend {us['frontend']:.0f};"
        f" three-more-fields ÷ frontend = {us['three more fields'] / us['frontend']:.2f}"
        f"  (target >= {TARGET:.2f})"
    )
    failed = sum(r.errors for measured in runs.values() for r in measured)
    if failed:
        print(f"{failed} requests failed: the figures above are not valid", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
