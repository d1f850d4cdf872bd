"""Test helpers shared by every layer: databases per test, a GraphQL client, factories, and a
real uvicorn server process for the tests that need real concurrency."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from app.domain.clock import DAY_MS, now_ms
from app.persistence.migrate import upgrade

TEST_DATABASE_URL = os.environ.get("PROMO_WALLET_TEST_DATABASE_URL", "sqlite")
ROOT = Path(__file__).resolve().parent.parent

TABLES = (
    "redemption_consumption", "redemption_line", "redemption", "wallet_ledger", "earned_promotion",
    "customer_identifier", "customer", "promotion", "access_token", "api_client", "org",
)


def is_postgres() -> bool:
    return TEST_DATABASE_URL.startswith("postgresql")


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


class TestDatabases:
    """One migrated database per pytest session; each test gets it empty.

    SQLite: a migrated template file is copied per test. PostgreSQL: a database of its own per
    session (so parallel runs on one server never meet), truncated before each test."""

    __test__ = False  # a helper, not a test class

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._pg_name: str | None = None
        if is_postgres():
            self._pg_name = f"pw_test_{uuid.uuid4().hex[:10]}"
            asyncio.run(self._pg_admin(f'CREATE DATABASE "{self._pg_name}"'))
            self.pg_url = _with_database(TEST_DATABASE_URL, self._pg_name)
            upgrade(self.pg_url)
        else:
            self.template = workdir / "template.db"
            upgrade(f"sqlite+aiosqlite:///{self.template}")

    async def _pg_admin(self, statement: str) -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(TEST_DATABASE_URL))
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    def fresh_url(self, test_dir: Path) -> str:
        if self._pg_name is None:
            target = test_dir / "test.db"
            shutil.copyfile(self.template, target)
            return f"sqlite+aiosqlite:///{target}"
        asyncio.run(self._truncate())
        return self.pg_url

    async def _truncate(self) -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(self.pg_url))
        try:
            await connection.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        finally:
            await connection.close()

    def close(self) -> None:
        if self._pg_name is not None:
            asyncio.run(self._pg_admin(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)'))


def basic_auth(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass
class ClientCredentials:
    username: str
    password: str

    @property
    def headers(self) -> dict[str, str]:
        return basic_auth(self.username, self.password)


@dataclass
class GraphQLClient:
    """Posts GraphQL documents; `as_` picks the credentials (default: the org's admin client)."""

    http: httpx.AsyncClient
    default: ClientCredentials
    clients: dict[str, ClientCredentials] = field(default_factory=dict)

    async def raw(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: ClientCredentials | None = None
    ) -> httpx.Response:
        credentials = as_ or self.default
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=credentials.headers
        )

    async def __call__(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: ClientCredentials | None = None
    ) -> dict[str, Any]:
        response = await self.raw(query, variables, as_=as_)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def data(
        self, query: str, variables: dict[str, Any] | None = None, *, as_: ClientCredentials | None = None
    ) -> dict[str, Any]:
        body = await self(query, variables, as_=as_)
        assert "errors" not in body, body["errors"]
        return body["data"]  # type: ignore[no-any-return]

    async def create_promotion(self, **overrides: Any) -> dict[str, Any]:
        """A promotion through the API; defaults: CUSTOMER, started yesterday, ends in 30 days."""
        now = now_ms()
        values = {
            "name": "Test promotion",
            "type": "CUSTOMER",
            "startDate": now - DAY_MS,
            "endDate": now + 30 * DAY_MS,
        } | overrides
        data = await self.data(
            """mutation($input: CreatePromotionInput!) { createPromotion(input: $input) {
                 __typename ... on CreatePromotionSuccess { promotion { id name type status startDate endDate
                   redemptionWindowDays maxRedemptionsPerEarn maxEarnsPerCustomer } }
                 ... on Error { code message } } }""",
            {"input": values},
        )
        payload = data["createPromotion"]
        assert payload["__typename"] == "CreatePromotionSuccess", payload
        return payload["promotion"]  # type: ignore[no-any-return]

    async def create_customers(self, *ids: int, **identifiers: Any) -> None:
        customers = [{"id": customer_id} for customer_id in ids]
        if identifiers and len(customers) == 1:
            customers[0].update(identifiers)
        data = await self.data(
            """mutation($c: [CreateCustomerInput!]!) { importCustomers(customers: $c) {
                 __typename
                 ... on ImportCustomersSuccess { createdCount rejected { index error { code message } } }
                 ... on Error { code message } } }""",
            {"c": customers},
        )
        payload = data["importCustomers"]
        assert payload["__typename"] == "ImportCustomersSuccess" and not payload["rejected"], payload


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pinned_to(cpu: int) -> Callable[[], None]:
    """A `preexec_fn` that runs the child on `cpu` only (the benches pin server and load apart)."""

    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return pin


@dataclass
class ServerProcess:
    """A uvicorn process serving the app; `kill()` is a SIGKILL (no shutdown, no cleanup)."""

    process: subprocess.Popen[bytes]
    url: str

    @property
    def pid(self) -> int:
        return self.process.pid

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait()


@contextmanager
def server_process(
    database_url: str, *, cpu: int | None = None, log_path: Path | None = None, **env: str
) -> Iterator[ServerProcess]:
    """A real uvicorn process (one worker) serving the app on a free port, healthy before it is
    yielded and stopped after; the tests' and the benchmarks' one way to start it. `env` is added
    to the environment; `cpu` pins it; its stderr goes to `log_path` (default: a temporary file),
    and into the error if it fails to start."""
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory", "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1", "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    with _started(command, port, database_url, cpu=cpu, log_path=log_path, **env) as server:
        yield server


@contextmanager
def serve_process(
    database_url: str, *args: str, log_path: Path | None = None, **env: str
) -> Iterator[ServerProcess]:
    """`promo-wallet serve` (as `python -m app.cli serve`) on a free port with `args` (e.g.
    "--workers", "2"): the operator's way in, with its one-time start-up work before uvicorn.
    Healthy before it is yielded, stopped after; `env` and `log_path` as for `server_process`
    (GraphiQL off unless `env` turns it on: it would fetch from the npm registry)."""
    port = free_port()
    command = [sys.executable, "-m", "app.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    env = {"PROMO_WALLET_GRAPHQL_IDE": "false"} | env
    with _started(command, port, database_url, log_path=log_path, **env) as server:
        yield server


@contextmanager
def _started(
    command: list[str],
    port: int,
    database_url: str,
    *,
    cpu: int | None = None,
    log_path: Path | None = None,
    **env: str,
) -> Iterator[ServerProcess]:
    environment = os.environ | {
        "PROMO_WALLET_DATABASE_URL": database_url,
        "PROMO_WALLET_DEMO_MODE": "false",
        "PROMO_WALLET_LOG_LEVEL": "WARNING",
    } | env
    with ExitStack() as stack:
        # A file, not a pipe: nobody drains a pipe while the server runs.
        log = (
            stack.enter_context(open(log_path, "w+b"))
            if log_path is not None
            else stack.enter_context(tempfile.TemporaryFile())
        )
        process = subprocess.Popen(
            command, cwd=ROOT, env=environment, stdout=subprocess.DEVNULL, stderr=log,
            preexec_fn=pinned_to(cpu) if cpu is not None else None,
        )  # fmt: skip
        server = ServerProcess(process, f"http://127.0.0.1:{port}")
        try:
            deadline = time.monotonic() + 60
            while True:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"server exited with {process.returncode}: {log.read().decode()}")
                try:
                    if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"server did not become healthy in 60 s: {log.read().decode()}")
                time.sleep(0.1)
            yield server
        finally:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


@contextmanager
def live_server(database_url: str, **env: str) -> Iterator[str]:
    """A real uvicorn process serving the app on a free port; yields its base URL."""
    with server_process(database_url, **env) as server:
        yield server.url
