"""Test helpers shared by every layer: databases per test, a GraphQL client, factories, and a
real uvicorn server process for the tests that need real concurrency."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
from fastapi import FastAPI

from app.domain.clock import DAY_MS, now_ms
from app.main import create_app
from app.persistence.database import Database, create_database
from app.persistence.migrate import upgrade
from app.persistence.uow import SqlUnitOfWork, SqlUnitOfWorkFactory
from app.server import SERVER_LOOP
from app.services import admin
from app.settings import Settings

TEST_DATABASE_URL = os.environ.get("PROMO_WALLET_TEST_DATABASE_URL", "sqlite")
ROOT = Path(__file__).resolve().parent.parent

TABLES = (
    "issue_job_ids", "issue_job",
    "idempotency_key", "hold_allocation", "hold_line", "hold",
    "redemption_reversal_line", "redemption_reversal",
    "redemption_consumption", "redemption_line", "redemption", "wallet_ledger", "earned_promotion",
    "customer_identifier", "customer", "promotion", "access_token", "api_client", "org",
    "rate_limit_counter",
)


ORG_ID = 100737  # the spec's example org, in Asia/Kolkata
OTHER_ORG_ID = 200001
# The orgs a test can ask for ready-made (the `org_clients` / `other_org_clients` fixtures): org id
# -> timezone; each gets an admin, a reader and a writer client, `<name>-<org id>` / `<name>-secret`.
SEED_ORGS = {ORG_ID: "Asia/Kolkata", OTHER_ORG_ID: "UTC"}
SEED_CLIENT_SCOPES = {
    "admin": ["admin", "wallet:read", "wallet:write"],
    "reader": ["wallet:read"],
    "writer": ["wallet:write", "wallet:read"],
}
# Copies of the seed orgs' rows live here on PostgreSQL, outside the app's schema (never truncated).
_PG_SEED_SCHEMA = "pw_test_seed"
_PG_SEED_TABLES = ("org", "api_client")  # in insertion order (api_client references org)
_PG_DELETE_AT_MOST = 5_000  # rows of a table a per-test reset empties by DELETE rather than TRUNCATE


def is_postgres() -> bool:
    return TEST_DATABASE_URL.startswith("postgresql")


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def cheap_secret_hash(secret: str) -> str:
    """A client secret hash in the stored format of app/auth/secrets.py, at scrypt N=16 instead of
    the production 2**14: verify_secret reads the cost from the stored hash, so the app checks it
    unchanged, far faster than a production hash. Test code only: the app has no way to make one."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=16, r=8, p=1, dklen=32)
    return f"scrypt$16$8$1${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


async def add_test_client(
    database: Database, *, org_id: int, name: str, scopes: list[str], username: str, password: str
) -> ClientCredentials:
    """An API client stored with a cheap secret hash (see `cheap_secret_hash`), straight through
    the repository: for tests whose subject is not client creation (that is `admin.create_client`)."""
    async with SqlUnitOfWork(database, write=True) as uow:
        await uow.clients.add(
            org_id=org_id,
            name=name,
            username=username,
            secret_hash=cheap_secret_hash(password),
            scopes=scopes,
            created_at=now_ms(),
        )
        await uow.commit()
    return ClientCredentials(username, password)


def seed_credentials(org_id: int) -> dict[str, ClientCredentials]:
    """The seeded clients of a seed org, by name (admin, reader, writer)."""
    return {name: ClientCredentials(f"{name}-{org_id}", f"{name}-secret") for name in SEED_CLIENT_SCOPES}


async def seed_orgs(database_url: str, org_ids: frozenset[int]) -> None:
    """Seed orgs with their three clients, in a fixed order (so client ids are the same each time)."""
    database = create_database(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
    try:
        for org_id in sorted(org_ids):
            timezone = SEED_ORGS[org_id]
            await admin.create_org(
                SqlUnitOfWorkFactory(database), org_id=org_id, name=f"Org {org_id}", timezone=timezone
            )
            for name, scopes in SEED_CLIENT_SCOPES.items():
                credentials = seed_credentials(org_id)[name]
                await add_test_client(
                    database,
                    org_id=org_id,
                    name=name,
                    scopes=scopes,
                    username=credentials.username,
                    password=credentials.password,
                )
    finally:
        await database.dispose()


class TestDatabases:
    """One migrated database per pytest session; each test gets it empty but for the seed orgs it
    asks for (`fresh_url(seeded=...)`), which are made once per session, not once per test.

    SQLite: a migrated template file per set of seed orgs (the empty one made first, each seeded
    one from it when first asked for) is copied per test. PostgreSQL: a database of its own per
    session (so parallel runs on one server never meet); the seed orgs' rows are made once and
    kept in a schema of their own; before each test every table of the app is truncated and the
    asked-for seed rows are copied back."""

    __test__ = False  # a helper, not a test class

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._pg_name: str | None = None
        self._templates: dict[frozenset[int], Path] = {}
        if is_postgres():
            self._pg_name = f"pw_test_{uuid.uuid4().hex[:10]}"
            asyncio.run(self._pg_admin(f'CREATE DATABASE "{self._pg_name}"'))
            self.pg_url = _with_database(TEST_DATABASE_URL, self._pg_name)
            upgrade(self.pg_url)
            asyncio.run(seed_orgs(self.pg_url, frozenset(SEED_ORGS)))
            asyncio.run(self._pg_keep_seed())
            # The resets run on one connection for the session, on a loop of their own (fresh_url
            # is called from sync fixtures, outside any test's event loop).
            self._pg_loop = asyncio.new_event_loop()
            self._pg_connection: asyncpg.Connection | None = None
            self._pg_sequences = self._pg_loop.run_until_complete(self._pg_serial_sequences())
        else:
            self.template = workdir / "template.db"
            upgrade(f"sqlite+aiosqlite:///{self.template}")
            self._templates[frozenset()] = self.template

    async def _pg_admin(self, statement: str) -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(TEST_DATABASE_URL))
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    async def _pg_keep_seed(self) -> None:
        connection = await asyncpg.connect(_asyncpg_dsn(self.pg_url))
        try:
            copies = "; ".join(
                f"CREATE TABLE {_PG_SEED_SCHEMA}.{table} AS TABLE public.{table}" for table in _PG_SEED_TABLES
            )
            await connection.execute(f"CREATE SCHEMA {_PG_SEED_SCHEMA}; {copies}")
        finally:
            await connection.close()

    async def _pg_serial_sequences(self) -> list[str]:
        """The sequences of the app's tables' serial ids (what RESTART IDENTITY would reset)."""
        rows = await self._pg_retrying(
            lambda connection: connection.fetch(
                "SELECT pg_get_serial_sequence(table_name, column_name) AS name"
                " FROM information_schema.columns WHERE table_schema = 'public'"
                " AND table_name = ANY($1::text[]) AND column_default LIKE 'nextval(%'",
                list(TABLES),
            )
        )
        return sorted(row["name"] for row in rows)

    def _sqlite_template(self, seeded: frozenset[int]) -> Path:
        template = self._templates.get(seeded)
        if template is None:
            template = self.workdir / f"template-{'-'.join(str(i) for i in sorted(seeded))}.db"
            shutil.copyfile(self.template, template)
            asyncio.run(seed_orgs(f"sqlite+aiosqlite:///{template}", seeded))
            # Everything in the main file: a copy of it alone is the whole database.
            with sqlite3.connect(template) as connection:
                connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            connection.close()
            self._templates[seeded] = template
        return template

    def fresh_url(self, test_dir: Path, *, seeded: frozenset[int] = frozenset()) -> str:
        """A database for one test: empty, but for the seed orgs in `seeded` and their clients."""
        unknown = seeded - SEED_ORGS.keys()
        assert not unknown, f"not seed orgs: {sorted(unknown)}"
        if self._pg_name is None:
            target = test_dir / "test.db"
            shutil.copyfile(self._sqlite_template(seeded), target)
            return f"sqlite+aiosqlite:///{target}"
        self._pg_loop.run_until_complete(self._pg_reset(seeded))
        return self.pg_url

    async def _pg_reset(self, seeded: frozenset[int]) -> None:
        # DELETE is cheap when a test wrote a few rows (most tests); TRUNCATE costs the same whatever
        # the size, far more than such a DELETE, so it is kept for tests that wrote many (README).
        large = " OR ".join(f"EXISTS (SELECT 1 FROM {t} OFFSET {_PG_DELETE_AT_MOST})" for t in TABLES)
        statements = ["BEGIN"]
        if await self._pg_fetchval(f"SELECT {large}"):
            statements.append(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")
        else:
            statements += [f"DELETE FROM {table}" for table in TABLES]  # referencing tables first
            statements += [f"SELECT setval('{sequence}', 1, false)" for sequence in self._pg_sequences]
        if seeded:
            ids = ", ".join(str(i) for i in sorted(seeded))
            s = _PG_SEED_SCHEMA
            statements += [
                f"INSERT INTO org SELECT * FROM {s}.org WHERE id IN ({ids})",
                f"INSERT INTO api_client SELECT * FROM {s}.api_client WHERE org_id IN ({ids})",
                # past every seed client's id, asked for or not: a client made in a test never collides
                "SELECT setval(pg_get_serial_sequence('api_client', 'id'),"
                f" (SELECT max(id) FROM {s}.api_client))",
            ]
        statements.append("COMMIT")
        await self._pg_execute("; ".join(statements))

    async def _pg_fetchval(self, query: str) -> Any:
        return await self._pg_retrying(lambda connection: connection.fetchval(query))

    async def _pg_execute(self, statement: str) -> None:
        await self._pg_retrying(lambda connection: connection.execute(statement))

    async def _pg_retrying(self, action: Callable[[asyncpg.Connection], Awaitable[Any]]) -> Any:
        """On the session's own connection, made again once if it has gone (the fault tests kill
        every connection to this database); each reset is one transaction, so a retry is safe."""
        for attempt in (1, 2):
            if self._pg_connection is None or self._pg_connection.is_closed():
                self._pg_connection = await asyncpg.connect(_asyncpg_dsn(self.pg_url))
            try:
                return await action(self._pg_connection)
            except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                self._pg_connection.terminate()
                self._pg_connection = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._pg_name is not None:
            if self._pg_connection is not None:
                self._pg_loop.run_until_complete(self._pg_connection.close())
            self._pg_loop.close()
            asyncio.run(self._pg_admin(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)'))


class AppCache:
    """One app per session for each set of settings but the database: building an app (FastAPI's
    routes) was most of a test's setup. Each test still runs the app's lifespan on its own
    settings, so its database, unit-of-work factory and authenticator (and the authenticator's
    cache of verified secrets) are its own. A test that adds a route gets its app dropped after it."""

    __test__ = False

    def __init__(self) -> None:
        self._apps: dict[str, FastAPI] = {}

    @asynccontextmanager
    async def serving(self, settings: Settings) -> AsyncIterator[FastAPI]:
        key = settings.model_dump_json(exclude={"database_url"})
        app = self._apps.get(key)
        if app is None:
            app = self._apps[key] = create_app(settings)
        app.state.settings = settings
        routes = list(app.router.routes)
        try:
            async with app.router.lifespan_context(app):
                yield app
        finally:
            if app.router.routes != routes:
                del self._apps[key]


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
        "--loop", SERVER_LOOP,  # as `promo-wallet serve` runs it
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
        # Off unless a test turns it on: races and benchmarks send far more than 1,000 a minute.
        "PROMO_WALLET_RATE_LIMIT_PER_MINUTE": "0",
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
