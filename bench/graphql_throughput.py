"""GraphQL throughput: what a real query costs next to `{ __typename }`, and what the limits cost.

    .venv/bin/python bench/graphql_throughput.py                # 10 rounds, 2 s per measurement
    .venv/bin/python bench/graphql_throughput.py --duration 20 --connections 16

It seeds a temporary SQLite file (an org, a client, a customer with 20 wallet entries over
4 promotions), then starts two uvicorn servers (one worker each, both pinned to CPU 0):

  production   the settings a deployment runs with (limits on, parser/validation caches)
  caches-only  PROMO_WALLET_GRAPHQL_LIMITS=false: the same caches, no depth/alias/token rules

and loads them one at a time from CPU 1 with wrk (Debian: `apt-get install wrk`), or, when wrk is
missing, with a small asyncio HTTP/1.1 client (its figures are then a lower bound: the client
costs CPU too). It prints:

  wallet-of-20 req/s / {__typename} req/s on production   target >= 0.30
  production / caches-only req/s on the wallet query       target >= 0.85
  (each the median of the rounds' ratios: a round measures all three back to back)
  p50 / p99 latency of every run

and, in process: graphql-core's own time for the wallet document over plain dicts, and the served
Strawberry schema's with its SQL statement but no HTTP (the caps on the first ratio), and how
validation is set up (why the limit rules are built once).
Warm-up runs precede each measurement; measurements of the two servers alternate.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.domain import earning  # noqa: E402
from app.domain.clock import DAY_MS, now_ms  # noqa: E402
from app.domain.commands import CreatePromotion  # noqa: E402
from app.domain.ids import new_object_id  # noqa: E402
from app.domain.models import Customer, EarnedFromType, Principal, PromotionType, Scope  # noqa: E402
from app.persistence.database import create_database  # noqa: E402
from app.persistence.migrate import upgrade  # noqa: E402
from app.persistence.uow import SqlUnitOfWork, SqlUnitOfWorkFactory  # noqa: E402
from app.services import admin  # noqa: E402
from app.settings import Settings  # noqa: E402
from tests.support import pinned_to, server_process  # noqa: E402

ORG_ID = 100737
CUSTOMER_ID = 5668819330
USERNAME, PASSWORD = "bench-reader", "bench-reader-secret"
SERVER_CPU, CLIENT_CPU = 0, 1

TYPENAME = "{ __typename }"
WALLET = """query Wallet($id: Long!) { wallet(customerId: $id, first: 20) {
  totalCount pageInfo { hasNextPage endCursor }
  edges { cursor node { id status earnedFromType eventTime validTill validTillISO
    redemptionsAllowed redemptionsUsed promotion { id name type } } } } }"""

CONFIGS = {
    "production": {},
    "caches-only": {"PROMO_WALLET_GRAPHQL_LIMITS": "false"},
}


# --- seeding ----------------------------------------------------------------------------------


async def seed(url: str, entries: int = 20, promotions: int = 4) -> None:
    database = create_database(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    try:
        await admin.create_org(
            SqlUnitOfWorkFactory(database), org_id=ORG_ID, name="Bench org", timezone="Asia/Kolkata"
        )
        await admin.create_client(
            SqlUnitOfWorkFactory(database),
            org_id=ORG_ID,
            name="bench",
            scopes=["wallet:read"],
            username=USERNAME,
            password=PASSWORD,
        )
        principal = Principal(org_id=ORG_ID, client_id=0, username="seed", scopes=frozenset(Scope))
        now = now_ms()
        made = [
            await admin.create_promotion(
                SqlUnitOfWorkFactory(database),
                principal,
                CreatePromotion(
                    name=f"Bench promotion {n}",
                    type=PromotionType.CUSTOMER,
                    start_date=now - DAY_MS,
                    end_date=now + 30 * DAY_MS,
                ),
            )
            for n in range(promotions)
        ]
        async with SqlUnitOfWork(database, write=True) as uow:
            await uow.customers.add_many([Customer(org_id=ORG_ID, id=CUSTOMER_ID)], created_at=now)
            await uow.earnings.insert_new(
                [
                    earning.new_earned_promotion(
                        entry_id=new_object_id(),
                        promotion=made[n % promotions],
                        customer_id=CUSTOMER_ID,
                        earned_from_type=EarnedFromType.ACTIVITY,
                        earned_from_id=f"bench-{n}",
                        instance=0,
                        event_time=now - n * 1000,
                        event_details=None,
                        timezone="Asia/Kolkata",
                        now=now,
                    )
                    for n in range(entries)
                ]
            )
            await uow.commit()
    finally:
        await database.dispose()


# --- servers ----------------------------------------------------------------------------------


@contextmanager
def server(database_url: str, env: dict[str, str], log_path: Path) -> Iterator[str]:
    extra = {"PROMO_WALLET_AUTH_CACHE_SECONDS": "3600"} | env
    with server_process(database_url, cpu=SERVER_CPU, log_path=log_path, **extra) as running:
        yield running.url


# --- load -------------------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int


def _headers() -> dict[str, str]:
    token = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    return {"Content-Type": "application/json", "Authorization": f"Basic {token}"}


def _body(query: str) -> str:
    variables = {"id": CUSTOMER_ID} if "$id" in query else {}
    return json.dumps({"query": query, "variables": variables}, separators=(",", ":"))


def check(base_url: str, query: str) -> dict[str, Any]:
    """The query's `data`, checked: no errors, and a wallet of 20 entries."""
    response = httpx.post(f"{base_url}/graphql", content=_body(query), headers=_headers())
    body = response.json()
    assert response.status_code == 200 and "errors" not in body, response.text
    if "wallet" in body["data"]:
        assert len(body["data"]["wallet"]["edges"]) == 20, body
    return dict(body["data"])


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value.strip()).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS_MS[unit]


def run_wrk(
    label: str,
    url: str,
    script: str,
    *,
    duration: float,
    connections: int,
    workdir: Path,
    cpu: int | None = CLIENT_CPU,
    extra_args: tuple[str, ...] = (),
    non_2xx_are_errors: bool = True,
) -> tuple[Run, str]:
    """One wrk run (one thread, `--latency`) of the Lua `script` against `url`, pinned to `cpu`:
    its figures and wrk's output. Every bench that loads a server with wrk runs it this way."""
    path = workdir / "load.lua"
    path.write_text(script)
    command = [
        "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", *extra_args,
        "--latency", "-s", str(path), url,
    ]  # fmt: skip
    output = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=True,
        preexec_fn=pinned_to(cpu) if cpu is not None else None,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"\s50%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", output).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    errors = int(bad.group(1)) if bad and non_2xx_are_errors else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors.group(1)))
    return Run(label, rps, p50, p99, errors), output


def wrk_headers(headers: dict[str, str]) -> str:
    return "".join(f'wrk.headers["{k}"] = {json.dumps(v)}\n' for k, v in headers.items())


def wrk_run(label: str, base_url: str, query: str, duration: float, connections: int, workdir: Path) -> Run:
    script = f'wrk.method = "POST"\nwrk.body = {json.dumps(_body(query))}\n{wrk_headers(_headers())}'
    run, _ = run_wrk(
        label, f"{base_url}/graphql", script, duration=duration, connections=connections, workdir=workdir
    )
    return run


async def _python_load(
    base_url: str, query: str, duration: float, connections: int
) -> tuple[int, list[float], int]:
    """A minimal keep-alive HTTP/1.1 client: one coroutine per connection, raw sockets."""
    host, port = base_url.removeprefix("http://").split(":")
    body = _body(query).encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in _headers().items())
    request = (
        f"POST /graphql HTTP/1.1\r\nHost: {host}\r\n{head}Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    request += body
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + duration

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        while time.perf_counter() < stop:
            started = time.perf_counter()
            writer.write(request)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            if b" 200 " not in status:
                errors += 1
        writer.close()

    await asyncio.gather(*(connection() for _ in range(connections)))
    return len(latencies), latencies, errors


def python_run(label: str, base_url: str, query: str, duration: float, connections: int) -> Run:
    os.sched_setaffinity(0, {CLIENT_CPU})
    count, latencies, errors = asyncio.run(_python_load(base_url, query, duration, connections))
    cuts = statistics.quantiles(latencies, n=100)
    return Run(label, count / duration, cuts[49], cuts[98], errors)


# --- in-process: how validation is set up ---------------------------------------------------


async def _microseconds_per_call(
    call: Callable[[], Awaitable[Any]], expected: dict[str, Any], iterations: int, rounds: int = 5
) -> float:
    """CPU microseconds (process_time) of `call()`, the best of `rounds` rounds of `iterations`
    calls, after 20 warm-up calls whose results must carry no errors and `expected` as data."""
    for _ in range(20):
        result = await call()
        assert result.errors is None and result.data == expected, result
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(iterations):
            await call()
        best = min(best, (time.process_time() - started) / iterations * 1e6)
    return best


async def best_cpu_us(
    actions: dict[str, Callable[[], Awaitable[object]]], *, rounds: int, calls: int
) -> dict[str, float]:
    """Rounds of `calls` calls of each action in turn (so drift weighs on all alike): per action,
    the fewest CPU microseconds (process_time: steadier than wall time on a shared machine) per
    call of any round."""
    best: dict[str, float] = {}
    for _ in range(rounds):
        for label, action in actions.items():
            started = time.process_time()
            for _ in range(calls):
                await action()
            us = (time.process_time() - started) / calls * 1e6
            best[label] = min(best.get(label, us), us)
    return best


def inprocess_validation_comparison(iterations: int = 100) -> list[tuple[str, float]]:
    """Microseconds per `schema.execute` of the wallet document in this process, with the root
    field under `@skip(if: true)`: the whole document is parsed and validated, nothing resolves."""
    import strawberry
    from strawberry.extensions import MaxAliasesLimiter, ParserCache, QueryDepthLimiter, ValidationCache

    from app.graphql import schema as served

    base = served.schema
    kwargs: dict[str, Any] = {
        "query": served.Query,
        "mutation": served.Mutation,
        "types": list(served.ALL_ERROR_TYPES),
        "config": base.config,
    }

    def build(extensions: list[Any]) -> Any:
        return strawberry.Schema(**kwargs, extensions=extensions)

    variants = {
        "no caches, no limits (Strawberry's default)": build([]),
        "Strawberry limiters as per-request factories + caches": build(
            [
                lambda: QueryDepthLimiter(max_depth=10),
                lambda: MaxAliasesLimiter(max_alias_count=15),
                ParserCache,
                ValidationCache,
            ]
        ),
        "served schema (stable limit rules + caches)": base,
    }
    document = WALLET.replace("first: 20)", "first: 20) @skip(if: true)")
    results = []
    for label, schema in variants.items():

        async def run(schema: Any = schema) -> Any:
            return await schema.execute(document, variable_values={"id": CUSTOMER_ID})

        results.append((label, asyncio.run(_microseconds_per_call(run, {}, iterations))))
    return results


def executor_floor_us(wallet_data: dict[str, Any], iterations: int = 300) -> float:
    """Microseconds per execution of the wallet document by graphql-core, the executor under
    Strawberry, over the served answer itself as plain dicts (schema.graphql, default resolvers):
    no HTTP, no Strawberry, no database. No server on this stack answers the query faster."""
    from graphql import build_schema, execute, parse

    schema = build_schema((ROOT / "schema.graphql").read_text())
    document = parse(WALLET)
    root = {"wallet": wallet_data["wallet"]}

    async def run() -> Any:  # graphql-core runs it synchronously: no awaitable in this data
        return execute(schema, document, root_value=root, variable_values={"id": CUSTOMER_ID})

    return asyncio.run(_microseconds_per_call(run, wallet_data, iterations))


def served_execution_us(url: str, wallet_data: dict[str, Any], rounds: int = 8) -> dict[str, float]:
    """CPU microseconds per execution of the wallet document by the served Strawberry schema, in
    this process, against the benchmark's database (its one SQL statement included): the
    server's work without HTTP, authentication and JSON. Once with the served executor
    (app/graphql/execution.py) and once with Strawberry's stock one, alternating short rounds;
    the best round of each."""
    from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

    from app.graphql.context import Context
    from app.graphql.schema import schema

    served_class = schema.execution_context_class
    executors = {"served executor": served_class, "stock executor": StrawberryGraphQLCoreExecutionContext}
    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    principal = Principal(
        org_id=ORG_ID, client_id=1, username=USERNAME, scopes=frozenset({Scope.WALLET_READ})
    )

    async def many() -> dict[str, float]:
        database = create_database(settings)
        best = dict.fromkeys(executors, float("inf"))
        try:

            async def run() -> Any:
                context = Context(
                    uow_factory=SqlUnitOfWorkFactory(database),
                    settings=settings,
                    authenticator=None,  # type: ignore[arg-type]  # the principal is given
                    principal=principal,
                    now=now_ms(),
                )
                variables = {"id": CUSTOMER_ID}
                return await schema.execute(WALLET, variable_values=variables, context_value=context)

            for _ in range(rounds):
                for label, executor in executors.items():
                    schema.execution_context_class = executor
                    us = await _microseconds_per_call(run, wallet_data, 40, rounds=1)
                    best[label] = min(best[label], us)
        finally:
            schema.execution_context_class = served_class
            await database.dispose()
        return best

    return asyncio.run(many())


# --- main -------------------------------------------------------------------------------------


def _listed(ratios: list[float]) -> str:
    return ", ".join(f"{ratio:.2f}" for ratio in ratios)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=2.0, help="seconds per measurement (default 2)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (default 8)")
    parser.add_argument(
        "--rounds", type=int, default=10, help="alternating rounds per measurement (default 10)"
    )
    parser.add_argument(
        "--python-client", action="store_true", help="use the asyncio client even if wrk exists"
    )
    parser.add_argument(
        "--no-inprocess", action="store_true", help="skip the in-process validation comparison"
    )
    args = parser.parse_args()

    if len(os.sched_getaffinity(0)) < 2:
        print(
            "warning: fewer than 2 CPUs available; server and load generator will share one", file=sys.stderr
        )
    use_wrk = shutil.which("wrk") is not None and not args.python_client
    if not use_wrk and not args.python_client:
        print(
            "wrk is not installed (Debian/Ubuntu: apt-get install wrk); falling back to the asyncio client,"
            " whose figures are a lower bound.",
            file=sys.stderr,
        )

    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pw-bench-")))
        url = f"sqlite+aiosqlite:///{workdir / 'bench.db'}"
        upgrade(url)
        asyncio.run(seed(url))
        urls = {
            name: stack.enter_context(server(url, env, workdir / f"{name}.log"))
            for name, env in CONFIGS.items()
        }
        for base_url in urls.values():
            check(base_url, TYPENAME)
            wallet_data = check(base_url, WALLET)

        def measure(label: str, base_url: str, query: str, duration: float) -> Run:
            if use_wrk:
                return wrk_run(label, base_url, query, duration, args.connections, workdir)
            return python_run(label, base_url, query, duration, args.connections)

        plan = [("production", TYPENAME), ("production", WALLET), ("caches-only", WALLET)]
        for name, query in plan:  # warm-up: caches, connection pools, the auth cache
            measure("warm-up", urls[name], query, 2)
        runs: dict[tuple[str, str], list[Run]] = {}
        for _ in range(args.rounds):
            for name, query in plan:
                label = f"{name} {'wallet-of-20' if query == WALLET else '{__typename}'}"
                runs.setdefault((name, query), []).append(measure(label, urls[name], query, args.duration))

        if not args.no_inprocess:  # on the server's CPU, now idle, while the database still exists
            os.sched_setaffinity(0, {SERVER_CPU})
            floor_us = executor_floor_us(wallet_data)
            served_us = served_execution_us(url, wallet_data)

    def best(key: tuple[str, str]) -> Run:
        return max(runs[key], key=lambda r: r.requests_per_second)

    client = "wrk -t1" if use_wrk else "asyncio client"
    print(
        f"\nServer: uvicorn, 1 worker, CPU {SERVER_CPU}. Load: {client}, {args.connections} connections, "
        f"CPU {CLIENT_CPU}, {args.duration:g} s x {args.rounds} rounds (every round shown)."
    )
    print(f"{'run':38} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for key in runs:
        for run in runs[key]:
            rps, p50, p99 = run.requests_per_second, run.p50_ms, run.p99_ms
            print(f"{run.label:38} {rps:9.0f} {p50:8.2f} {p99:8.2f} {run.errors:7d}")
    typename = best(("production", TYPENAME))
    wallet = best(("production", WALLET))
    caches_only = best(("caches-only", WALLET))
    # Each round measures the three back to back, so a round's ratios share the host's speed of
    # the moment; the median of the rounds' ratios is the headline, steadier on a shared host
    # than the ratio of two best rounds (printed too) taken at different moments.
    round_wallet = [
        w.requests_per_second / t.requests_per_second
        for t, w in zip(runs[("production", TYPENAME)], runs[("production", WALLET)], strict=True)
    ]
    round_limits = [
        w.requests_per_second / c.requests_per_second
        for w, c in zip(runs[("production", WALLET)], runs[("caches-only", WALLET)], strict=True)
    ]
    ratio_wallet = statistics.median(round_wallet)
    ratio_limits = statistics.median(round_limits)
    best_wallet = wallet.requests_per_second / typename.requests_per_second
    best_limits = wallet.requests_per_second / caches_only.requests_per_second
    print(
        f"\nwallet-of-20 / {{__typename}} (production):  {ratio_wallet:.2f}   (target >= 0.30)"
        f"  {'OK' if ratio_wallet >= 0.30 else 'BELOW TARGET'}"
        f"   median of the rounds {_listed(round_wallet)}; best rounds' {best_wallet:.2f}"
    )
    print(
        f"production / caches-only (wallet-of-20):    {ratio_limits:.2f}   (target >= 0.85)"
        f"  {'OK' if ratio_limits >= 0.85 else 'BELOW TARGET'}"
        f"   median of the rounds {_listed(round_limits)}; best rounds' {best_limits:.2f}"
    )
    failed = sum(r.errors for rs in runs.values() for r in rs)
    if failed:
        print(f"\n{failed} requests failed: the figures above are not valid", file=sys.stderr)

    if not args.no_inprocess:
        print("\nIn process (CPU 0), the wallet document, CPU microseconds per operation (best round), and")
        print(
            "the most wallet-of-20 req/s ÷ {__typename} req/s that a server with that cost alone could reach:"
        )
        lines = [("graphql-core alone, over plain dicts (no HTTP, Strawberry, database)", floor_us)]
        lines += [
            (f"served Strawberry schema + its SQL statement, {label} (no HTTP, auth, JSON)", us)
            for label, us in served_us.items()
        ]
        for label, us in lines:
            print(f"  {label:80} {us:6.0f} us  <= {1e6 / us / typename.requests_per_second:.2f}")
        served, stock = served_us["served executor"], served_us["stock executor"]
        print(f"  served ÷ stock executor, in process: {served / stock:.2f} (alternating rounds)")
        print("\nIn process, parse + validate of the wallet document, microseconds per operation:")
        results = inprocess_validation_comparison()
        fastest = min(us for _, us in results)
        for label, us in results:
            print(f"  {label:56} {us:8.0f} us  ({us / fastest:4.1f}x)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
