"""The REST wallet read (issue #23): `GET /v1/promotions/customer/{id}` of a customer with 20
entries ÷ `{ __typename }` over /graphql, in one run.

    .venv/bin/python bench/rest_wallet.py                       # a temporary SQLite file
    .venv/bin/python bench/rest_wallet.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/rest_wallet.py --duration 5 --rounds 3

Set-up from bench/graphql_throughput.py (its seed, server and pinning): one uvicorn worker pinned
to CPU 0, wrk on CPU 1 (or the asyncio client when wrk is missing: a lower bound). The server runs
with the production settings, the per-client rate limit included: every request is counted, as in
production, but the limit is set beyond what the bench can reach so that none is refused (at the
default 1,000 a minute, wrk would measure 429s). One more round runs the REST wallet with the
limit off, to show what the count costs. Measurements alternate; the best round of each is used.

It prints each run, then:

  REST wallet-of-20 ÷ {__typename}        the figure, target >= 0.50
  floor: malformed customer id ÷ {__typename}
                                          a REST request refused (400) before any database work:
                                          the most any REST read could reach
  in process: CPU per wallet_view call    the read path alone (service, unit of work, SQL, row
                                          mapping), 20 entries with promotions and total, best of
                                          5 x 1,000 calls: the README's "(#23, first step)" figure
  in process: CPU per REST wallet route   the route's whole body (the read and its JSON), no HTTP
  in process: CPU per request through the app's ASGI stack
                                          the three requests above through create_app's middleware,
                                          routing and route, no HTTP server, alternating: the
                                          app's own share of the ratios, steady on a busy machine
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import redeem as redeem_bench  # noqa: E402  # bench/redeem.py: the scratch database

from app.domain.models import Principal, Scope  # noqa: E402
from app.persistence.database import create_database  # noqa: E402
from app.persistence.migrate import upgrade  # noqa: E402
from app.persistence.uow import SqlUnitOfWorkFactory  # noqa: E402
from app.settings import Settings  # noqa: E402
from bench.graphql_throughput import (  # noqa: E402
    CLIENT_CPU,
    CUSTOMER_ID,
    ORG_ID,
    SERVER_CPU,
    TYPENAME,
    USERNAME,
    Run,
    _body,
    _headers,
    best_cpu_us,
    check,
    python_run,
    run_wrk,
    seed,
    server,
    wrk_headers,
    wrk_run,
)

TARGET = 0.50
WALLET_PATH = f"/v1/promotions/customer/{CUSTOMER_ID}"
MALFORMED_PATH = "/v1/promotions/customer/not-a-number"
# Counted on every request as in production, never reached by the bench.
COUNTED_BUT_UNREACHED = {"PROMO_WALLET_RATE_LIMIT_PER_MINUTE": "1000000000"}
LIMIT_OFF = {"PROMO_WALLET_RATE_LIMIT_PER_MINUTE": "0"}


def check_rest(base_url: str) -> None:
    headers = _headers()
    wallet = httpx.get(f"{base_url}{WALLET_PATH}", headers=headers)
    assert wallet.status_code == 200, wallet.text
    assert len(wallet.json()["data"]["customerEarnedPromotions"]) == 20, wallet.text
    refused = httpx.get(f"{base_url}{MALFORMED_PATH}", headers=headers)
    assert refused.status_code == 400, refused.text


def wrk_get(label: str, base_url: str, path: str, duration: float, connections: int, workdir: Path) -> Run:
    run, _ = run_wrk(
        label,
        f"{base_url}{path}",
        f'wrk.method = "GET"\n{wrk_headers(_headers())}',
        duration=duration,
        connections=connections,
        workdir=workdir,
        # The floor's requests are 400s by design: only socket errors count against it.
        non_2xx_are_errors=path != MALFORMED_PATH,
    )
    return run


async def _python_get(base_url: str, path: str, duration: float, connections: int) -> Run:
    latencies: list[float] = []
    stop = time.perf_counter() + duration

    async def connection(client: httpx.AsyncClient) -> None:
        while time.perf_counter() < stop:
            started = time.perf_counter()
            await client.get(path)
            latencies.append((time.perf_counter() - started) * 1000)

    async with httpx.AsyncClient(base_url=base_url, headers=_headers()) as client:
        await asyncio.gather(*(connection(client) for _ in range(connections)))
    latencies.sort()
    return Run(
        path,
        len(latencies) / duration,
        latencies[len(latencies) // 2],
        latencies[int(len(latencies) * 0.99)],
        0,
    )


def inprocess_cpu_us(url: str, calls: int = 1000, rounds: int = 5) -> dict[str, float]:
    """CPU microseconds per call, best of `rounds` x `calls`: `wallet_view` (20 entries with
    promotions and total, the README's #23 first-step figure) and the REST route's body."""
    from starlette.requests import Request

    from app.main import create_app
    from app.rest.routes import customer_wallet
    from app.services import queries

    settings = Settings(database_url=url, _env_file=None)  # type: ignore[call-arg]
    principal = Principal(
        org_id=ORG_ID, client_id=1, username=USERNAME, scopes=frozenset({Scope.WALLET_READ})
    )

    async def measure() -> dict[str, float]:
        database = create_database(settings)
        factory = SqlUnitOfWorkFactory(database)
        app = create_app(settings)
        app.state.uow_factory = factory
        request = Request({"type": "http", "app": app, "headers": [], "method": "GET", "path": WALLET_PATH})

        async def view() -> None:
            page = await queries.wallet_view(
                factory,
                principal,
                customer_id=CUSTOMER_ID,
                statuses=None,
                promotion_id=None,
                first=20,
                after=None,
                with_count=True,
                with_promotions=True,
            )
            assert len(page.page.items) == 20

        async def route() -> None:
            await customer_wallet(request, principal, CUSTOMER_ID)

        try:
            for _ in range(100):
                await view()
                await route()
            return await best_cpu_us({"wallet_view": view, "REST route": route}, rounds=rounds, calls=calls)
        finally:
            await database.dispose()

    return asyncio.run(measure())


def _asgi_scope(method: str, path: str, body: bytes) -> dict[str, Any]:
    headers = [(k.lower().encode(), v.encode()) for k, v in _headers().items()]
    if body:
        headers.append((b"content-length", str(len(body)).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _asgi_request(app: Any, method: str, path: str, body: bytes = b"") -> int:
    """One request through the app's whole ASGI stack (middleware, routing, the route): its status."""
    scope = _asgi_scope(method, path, body)
    received = False
    status = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        if not received:
            received = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # no disconnect while the request runs
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    await app(scope, receive, send)
    return status


def inprocess_app_cpu_us(url: str, calls: int = 300, rounds: int = 15) -> dict[str, float]:
    """CPU microseconds per request through create_app's ASGI app, no HTTP server: the three
    requests of the wrk runs, alternating, best of `rounds` x `calls`, with the server's settings
    (every request counted by the rate limit). The share of the server's work this app can change,
    measured steadily enough to compare two versions on a busy machine."""
    from app.main import create_app

    settings = Settings(  # type: ignore[call-arg]
        database_url=url,
        demo_mode=False,
        auth_cache_seconds=3600,
        rate_limit_per_minute=int(COUNTED_BUT_UNREACHED["PROMO_WALLET_RATE_LIMIT_PER_MINUTE"]),
        log_level="WARNING",
        _env_file=None,
    )
    typename_body = _body(TYPENAME).encode()

    async def measure() -> dict[str, float]:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            requests = {
                "{__typename}": lambda: _asgi_request(app, "POST", "/graphql", typename_body),
                "REST wallet-of-20": lambda: _asgi_request(app, "GET", WALLET_PATH),
                "floor: malformed id (400)": lambda: _asgi_request(app, "GET", MALFORMED_PATH),
            }
            expected = {"{__typename}": 200, "REST wallet-of-20": 200, "floor: malformed id (400)": 400}
            for _ in range(50):
                for label, request in requests.items():
                    status = await request()
                    assert status == expected[label], (label, status)
            return await best_cpu_us(requests, rounds=rounds, calls=calls)

    return asyncio.run(measure())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="postgresql+asyncpg://... (default: a temporary SQLite file)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measurement (default 10)")
    parser.add_argument("--connections", type=int, default=8, help="concurrent connections (default 8)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds (default 2)")
    parser.add_argument("--no-http", action="store_true", help="the in-process figures only")
    args = parser.parse_args()
    use_wrk = shutil.which("wrk") is not None
    if not use_wrk:
        print("wrk is not installed: the asyncio client's figures are a lower bound", file=sys.stderr)

    runs: dict[str, list[Run]] = {
        "{__typename}": [],
        "REST wallet-of-20": [],
        "floor: malformed id (400)": [],
    }
    limit_off: list[Run] = []
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="pw-bench-")))
        url = stack.enter_context(redeem_bench.scratch_database(args.database_url))
        upgrade(url)
        asyncio.run(seed(url))

        def get(label: str, base_url: str, path: str, duration: float) -> Run:
            if use_wrk:
                return wrk_get(label, base_url, path, duration, args.connections, workdir)
            os.sched_setaffinity(0, {CLIENT_CPU})
            return asyncio.run(_python_get(base_url, path, duration, args.connections))

        def post(label: str, base_url: str, query: str, duration: float) -> Run:
            if use_wrk:
                return wrk_run(label, base_url, query, duration, args.connections, workdir)
            return python_run(label, base_url, query, duration, args.connections)

        if not args.no_http:
            with server(url, COUNTED_BUT_UNREACHED, workdir / "server.log") as base_url:
                check(base_url, TYPENAME)
                check_rest(base_url)
                post("warm-up", base_url, TYPENAME, 2)
                get("warm-up", base_url, WALLET_PATH, 2)
                for _ in range(args.rounds):
                    runs["{__typename}"].append(post("{__typename}", base_url, TYPENAME, args.duration))
                    runs["REST wallet-of-20"].append(
                        get("REST wallet-of-20", base_url, WALLET_PATH, args.duration)
                    )
                    runs["floor: malformed id (400)"].append(
                        get("floor: malformed id", base_url, MALFORMED_PATH, args.duration)
                    )
            with server(url, LIMIT_OFF, workdir / "server-off.log") as base_url:
                check_rest(base_url)
                get("warm-up", base_url, WALLET_PATH, 2)
                limit_off.append(get("REST wallet, limit off", base_url, WALLET_PATH, args.duration))
        os.sched_setaffinity(0, {SERVER_CPU})  # the server's CPU, idle now
        cpu = inprocess_cpu_us(url)
        app_cpu = inprocess_app_cpu_us(url)

    database = "PostgreSQL" if args.database_url and args.database_url.startswith("postgres") else "SQLite"
    print(f"\n{database}. In process (CPU 0, no HTTP), best of 5 x 1,000 calls:")
    print(f"  CPU per wallet_view call (20 entries, promotions, total): {cpu['wallet_view']:.0f} us")
    print(f"  CPU per REST wallet route body (read + JSON):             {cpu['REST route']:.0f} us")
    wallet_us, typename_us = app_cpu["REST wallet-of-20"], app_cpu["{__typename}"]
    floor_us = app_cpu["floor: malformed id (400)"]
    print("  CPU per request through the app's ASGI stack (no HTTP server), best of 15 x 300:")
    print(
        f"    {{__typename}} {typename_us:.0f} us, REST wallet-of-20 {wallet_us:.0f} us,"
        f" malformed id {floor_us:.0f} us"
    )
    print(
        f"    {{__typename}} ÷ REST wallet = {typename_us / wallet_us:.2f}"
        f", ÷ malformed id = {typename_us / floor_us:.2f}  (the app's share of the ratios above)"
    )
    if args.no_http:
        return 0
    client = "wrk -t1" if use_wrk else "asyncio client (lower bound)"
    print(f"Server: 1 uvicorn worker on CPU 0; load: {client}, {args.connections} connections, CPU 1.")
    print(f"{'run':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for label, measured in [*runs.items(), ("REST wallet, rate limit off", limit_off)]:
        for run in measured:
            print(
                f"{label:28} {run.requests_per_second:9.1f} {run.p50_ms:8.2f} {run.p99_ms:8.2f}"
                f" {run.errors:7d}"
            )

    def best(label: str) -> float:
        return max(r.requests_per_second for r in runs[label])

    typename, wallet, floor = (
        best("{__typename}"),
        best("REST wallet-of-20"),
        best("floor: malformed id (400)"),
    )
    ratio = wallet / typename
    print(
        f"\nREST wallet-of-20 ÷ {{__typename}}: {wallet:.1f} ÷ {typename:.1f} = {ratio:.2f}"
        f"  (target >= {TARGET:.2f})  {'OK' if ratio >= TARGET else 'BELOW TARGET'}"
    )
    print(
        f"floor, malformed customer id (400) ÷ {{__typename}}: {floor:.1f} ÷ {typename:.1f}"
        f" = {floor / typename:.2f}"
    )
    off = limit_off[0].requests_per_second
    print(
        f"rate limit counted ÷ off, REST wallet (separate servers, one round each): {wallet:.1f} ÷ {off:.1f}"
        f" = {wallet / off:.2f}"
    )
    failed = sum(r.errors for measured in runs.values() for r in measured) + sum(r.errors for r in limit_off)
    if failed:
        print(f"{failed} requests failed: the figures above are not valid", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
