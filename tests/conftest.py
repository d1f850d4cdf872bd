from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from app.main import create_app
from app.persistence.database import Database
from app.persistence.uow import SqlUnitOfWorkFactory
from app.services import admin
from app.settings import Settings
from tests.postgres_check import postgres_problem
from tests.support import TEST_DATABASE_URL, ClientCredentials, GraphQLClient, TestDatabases, is_postgres

ORG_ID = 100737
OTHER_ORG_ID = 200001


def pytest_sessionstart(session: pytest.Session) -> None:
    """On PostgreSQL, a server or database that is not there stops the run before any test with
    one line (`ERROR: ...`, exit 4), not a connection traceback per test."""
    if is_postgres():
        problem = postgres_problem(TEST_DATABASE_URL, variable="PROMO_WALLET_TEST_DATABASE_URL")
        if problem:
            raise pytest.UsageError(problem)


@pytest.fixture(scope="session")
def test_databases(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabases]:
    databases = TestDatabases(tmp_path_factory.mktemp("db"))
    yield databases
    databases.close()


@pytest.fixture
def database_url(test_databases: TestDatabases, tmp_path: Path) -> str:
    return test_databases.fresh_url(tmp_path)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, demo_mode=False, _env_file=None)  # type: ignore[call-arg]


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
def database(app: FastAPI) -> Database:
    return app.state.database  # type: ignore[no-any-return]


@pytest.fixture
def session_kinds(database: Database, monkeypatch: pytest.MonkeyPatch) -> list[tuple[bool, bool]]:
    """(write, bulk) of every session the database opens from now on."""
    kinds: list[tuple[bool, bool]] = []
    open_session = database.session

    def recording_session(*, write: bool, bulk: bool = False) -> AsyncSession:
        kinds.append((write, bulk))
        return open_session(write=write, bulk=bulk)

    monkeypatch.setattr(database, "session", recording_session)
    return kinds


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def _org_with_clients(database: Database, org_id: int, timezone: str) -> dict[str, ClientCredentials]:
    await admin.create_org(
        SqlUnitOfWorkFactory(database), org_id=org_id, name=f"Org {org_id}", timezone=timezone
    )
    scopes = {
        "admin": ["admin", "wallet:read", "wallet:write"],
        "reader": ["wallet:read"],
        "writer": ["wallet:write", "wallet:read"],
    }
    made = await asyncio.gather(
        *(
            admin.create_client(
                SqlUnitOfWorkFactory(database),
                org_id=org_id,
                name=name,
                scopes=s,
                username=f"{name}-{org_id}",
                password=f"{name}-secret",
            )
            for name, s in scopes.items()
        )
    )
    return {name: ClientCredentials(c.username, c.password) for name, c in zip(scopes, made, strict=True)}


@pytest.fixture
async def org_clients(database: Database) -> dict[str, ClientCredentials]:
    """Org 100737 in Asia/Kolkata (the spec's example org) with admin, reader and writer clients."""
    return await _org_with_clients(database, ORG_ID, "Asia/Kolkata")


@pytest.fixture
async def other_org_clients(database: Database) -> dict[str, ClientCredentials]:
    return await _org_with_clients(database, OTHER_ORG_ID, "UTC")


@pytest.fixture
async def gql(http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]) -> GraphQLClient:
    return GraphQLClient(http=http, default=org_clients["admin"], clients=org_clients)
