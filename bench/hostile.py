"""Benchmark: hostile and careless clients (issue #22) against one real uvicorn process, in one run.

    .venv/bin/python bench/hostile.py                                   # temporary SQLite file
    .venv/bin/python bench/hostile.py --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/test

Prints, each next to the `{__typename}` baseline and as a ratio of it:
- the refusal time of each hostile request (median of sequential requests): a body nested
  100,000 deep, invalid UTF-8, a document over the byte limit, a 16 MB padded document, a query
  over the cost limit, an unpaired surrogate in a variable; target: each refusal costs at most a
  few `{__typename}` (ratio <= 10), the 16 MB one aside (its bytes must be received);
- the stall: the longest wait of a `{__typename}` sent every 10 ms while four 16 MB padded
  documents are in flight at once (target < 100 ms), with its floor, the longest wait of the
  same probe with nothing else going on;
- sign-in: a wrong secret for a known username against one for an unknown username (the same
  scrypt either way: ratio near 1), and a signed-in client's median latency while 200 concurrent
  wrong guesses arrive (throttled after PROMO_WALLET_AUTH_MAX_FAILURES) against without them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redeem as redeem_bench

from app.persistence.migrate import upgrade
from tests.support import server_process

REFUSAL_TARGET = 10.0
STALL_TARGET_MS = 100.0
PADDED = 16 * 1024 * 1024 - 1024
TYPENAME = json.dumps({"query": "{ __typename }"}).encode()
WALLET_FIELDS = "edges { cursor node { id promotionId status redemptionsAllowed redemptionsUsed " \
    "validTill earnedFromId promotion { id name type status } } } totalCount"


def _costly() -> bytes:
    aliases = " ".join(f"w{i}: wallet(customerId: 1, first: 100) {{ {WALLET_FIELDS} }}" for i in range(15))
    return json.dumps({"query": f"{{ {aliases} }}"}).encode()


HOSTILE: dict[str, bytes] = {
    "nested 100,000 deep": b"[" * 100_000,
    "invalid UTF-8": b'{"query": "{ __typename \xff }"}',
    "document 300 KB (over limit)": json.dumps({"query": "{ __typename" + " " * 300_000 + "}"}).encode(),
    "document 16 MB padded": json.dumps({"query": "{ __typename" + " " * PADDED + "}"}).encode(),
    "15 x wallet(first: 100)": _costly(),
    "surrogate in a variable": b'{"query": "query($id: String!) { promotion(id: $id) { id } }", '
    b'"variables": {"id": "\\ud83d"}}',
}


async def _post(client: httpx.AsyncClient, body: bytes, **kwargs: object) -> httpx.Response:
    return await client.post(
        "/graphql", content=body, headers={"content-type": "application/json"}, **kwargs  # type: ignore[arg-type]
    )


async def _median_ms(call: Callable[[], Awaitable[object]], n: int) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def _probe_max_wait(client: httpx.AsyncClient, stop: asyncio.Event) -> float:
    longest = 0.0
    while not stop.is_set():
        started = time.perf_counter()
        response = await _post(client, TYPENAME)
        assert response.status_code == 200, response.text
        longest = max(longest, (time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.01)
    return longest


async def refusals(base_url: str, n: int) -> None:
    auth = httpx.BasicAuth(redeem_bench.USERNAME, redeem_bench.PASSWORD)
    async with httpx.AsyncClient(base_url=base_url, auth=auth, timeout=60) as client:
        for body in HOSTILE.values():  # warm-up, and each is refused as a client error
            response = await _post(client, body)
            assert 400 <= response.status_code < 500 or "errors" in response.json(), response.text
        baseline = await _median_ms(lambda: _post(client, TYPENAME), n)
        print(f"refusals (median of {n}; target <= {REFUSAL_TARGET:.0f} x {{__typename}}, 16 MB aside)")
        print(f"  {'{__typename}':30}: {baseline:7.2f} ms")
        for name, body in HOSTILE.items():
            response = await _post(client, body)
            code = response.json()["errors"][0]["extensions"]["code"]
            ms = await _median_ms(lambda body=body: _post(client, body), 3 if "16 MB" in name else n)
            print(f"  {name:30}: {ms:7.2f} ms  {ms / baseline:6.1f} x  ({response.status_code} {code})")

        # the stall: a probe alone (its floor), then beside four 16 MB documents at once
        async with httpx.AsyncClient(base_url=base_url, auth=auth, timeout=60) as probe_client:
            stop = asyncio.Event()
            probe = asyncio.create_task(_probe_max_wait(probe_client, stop))
            await asyncio.sleep(1.0)
            stop.set()
            floor = await probe
            stop = asyncio.Event()
            probe = asyncio.create_task(_probe_max_wait(probe_client, stop))
            await asyncio.sleep(0.05)
            started = time.perf_counter()
            # The four come from a process of their own: pushing 64 MB through httpx would stall
            # this process's event loop, and the probe's figure with it.
            uploader = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--upload", base_url, stdout=asyncio.subprocess.PIPE
            )
            out, _ = await uploader.communicate()
            answers = json.loads(out)
            took = (time.perf_counter() - started) * 1000
            stop.set()
            stall = await probe
        print(f"stall: longest {{__typename}} wait beside four 16 MB documents: {stall:6.1f} ms "
              f"(target < {STALL_TARGET_MS:.0f} ms; floor, the probe alone: {floor:.1f} ms; "
              f"the uploading process took {took:.0f} ms, answered {sorted(set(answers))})")


async def sign_in(base_url: str, n: int) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        async def wrong(username: str) -> None:
            response = await _post(client, TYPENAME, auth=(username, "wrong secret"))
            assert response.status_code in (401, 429), response.text

        await wrong(redeem_bench.USERNAME)
        known = await _median_ms(lambda: wrong(redeem_bench.USERNAME), n)
        unknown = await _median_ms(lambda: wrong("no-such-client"), n)
        print(f"sign-in refusals (median of {n}; throttle off): known username {known:.1f} ms, "
              f"unknown {unknown:.1f} ms, ratio {known / unknown:.2f} (target near 1)")


async def guessing(base_url: str, n: int) -> None:
    auth = httpx.BasicAuth(redeem_bench.USERNAME, redeem_bench.PASSWORD)
    async with httpx.AsyncClient(base_url=base_url, auth=auth, timeout=60) as client, \
            httpx.AsyncClient(base_url=base_url, timeout=60,
                              limits=httpx.Limits(max_connections=200)) as attacker:
        await _post(client, TYPENAME)
        alone = await _median_ms(lambda: _post(client, TYPENAME), n)
        statuses: list[int] = []

        async def guess(i: int) -> None:
            # the client's own username: its signed-in owner must not be slowed or locked out
            response = await _post(attacker, TYPENAME, auth=(redeem_bench.USERNAME, f"guess-{i}"))
            statuses.append(response.status_code)

        attack = asyncio.gather(*(guess(i) for i in range(200)))
        under = await _median_ms(lambda: _post(client, TYPENAME), n)
        await attack
        print(f"a signed-in client's median {{__typename}}: {alone:.2f} ms alone, {under:.2f} ms beside "
              f"200 concurrent wrong guesses ({under / alone:.1f} x; guesses answered "
              f"{ {s: statuses.count(s) for s in sorted(set(statuses))} })")


async def upload(base_url: str) -> None:
    """Four 16 MB padded documents at once, each on its own connection; prints their statuses."""
    auth = httpx.BasicAuth(redeem_bench.USERNAME, redeem_bench.PASSWORD)
    big = HOSTILE["document 16 MB padded"]
    clients = [httpx.AsyncClient(base_url=base_url, auth=auth, timeout=60) for _ in range(4)]
    try:
        answers = await asyncio.gather(*(_post(c, big) for c in clients))
    finally:
        for c in clients:
            await c.aclose()
    print(json.dumps([a.status_code for a in answers]))


def main() -> None:
    if sys.argv[1:2] == ["--upload"]:
        asyncio.run(upload(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", help="postgresql+asyncpg://... (default: a temporary SQLite file)")
    parser.add_argument("--requests", type=int, default=30, help="sequential requests per median")
    args = parser.parse_args()
    with redeem_bench.scratch_database(args.database_url) as database_url:
        upgrade(database_url)
        asyncio.run(redeem_bench.seed(database_url, 10))
        print(f"database: {database_url.split('@')[-1]}  load average: {os.getloadavg()[0]:.2f}")
        with server_process(database_url) as server:
            asyncio.run(refusals(server.url, args.requests))
            asyncio.run(guessing(server.url, args.requests))
        with server_process(database_url, PROMO_WALLET_AUTH_MAX_FAILURES="0",
                            PROMO_WALLET_AUTH_MAX_FAILURES_PER_ADDRESS="0") as server:
            asyncio.run(sign_in(server.url, args.requests))


if __name__ == "__main__":
    main()
