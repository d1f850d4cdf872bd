from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from sqlalchemy.ext.asyncio import AsyncSession

from app.persistence.database import Database
from app.settings import Settings
from tests.postgres_check import postgres_problem
from tests.support import (
    ORG_ID,
    OTHER_ORG_ID,
    TEST_DATABASE_URL,
    AppCache,
    ClientCredentials,
    GraphQLClient,
    TestDatabases,
    is_postgres,
    seed_credentials,
)

# Property tests check behaviour, never time: no per-example deadline and no "too slow" health
# check, which a loaded machine (CI beside other work) trips without anything being wrong.
settings.register_profile("untimed", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("untimed")

# The fixture that hands out each seed org's clients: a test asking for it (directly or through
# another fixture, such as `gql`) gets a database with that org already in it.
_SEED_FIXTURES = {"org_clients": ORG_ID, "other_org_clients": OTHER_ORG_ID}


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
def seeded_orgs(request: pytest.FixtureRequest) -> frozenset[int]:
    """The seed orgs this test's fixtures ask for; the rest of its database starts empty."""
    return frozenset(org_id for name, org_id in _SEED_FIXTURES.items() if name in request.fixturenames)


@pytest.fixture
def database_url(test_databases: TestDatabases, tmp_path: Path, seeded_orgs: frozenset[int]) -> str:
    return test_databases.fresh_url(tmp_path, seeded=seeded_orgs)


@pytest.fixture
def settings(database_url: str) -> Settings:
    # No job runner: a test that wants one starts it (tests/api/test_issue_jobs.py). The rate limit
    # off (tests send many requests a minute): tests/api/test_rate_limits.py turns it on.
    return Settings(  # type: ignore[call-arg]
        database_url=database_url,
        demo_mode=False,
        jobs_enabled=False,
        rate_limit_per_minute=0,
        _env_file=None,
    )


@pytest.fixture(scope="session")
def app_cache() -> AppCache:
    return AppCache()


@pytest.fixture
async def app(settings: Settings, app_cache: AppCache) -> AsyncIterator[FastAPI]:
    """The app serving this test's database (built once per session per settings: AppCache)."""
    async with app_cache.serving(settings) as application:
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


@pytest.fixture
def org_clients(database: Database, seeded_orgs: frozenset[int]) -> dict[str, ClientCredentials]:
    """Org 100737 in Asia/Kolkata (the spec's example org) with admin, reader and writer clients,
    seeded into this test's database before the test (made once per session: TestDatabases)."""
    assert ORG_ID in seeded_orgs
    return seed_credentials(ORG_ID)


@pytest.fixture
def other_org_clients(database: Database, seeded_orgs: frozenset[int]) -> dict[str, ClientCredentials]:
    """Org 200001 in UTC with admin, reader and writer clients, seeded like `org_clients`."""
    assert OTHER_ORG_ID in seeded_orgs
    return seed_credentials(OTHER_ORG_ID)


@pytest.fixture
async def gql(http: httpx.AsyncClient, org_clients: dict[str, ClientCredentials]) -> GraphQLClient:
    return GraphQLClient(http=http, default=org_clients["admin"], clients=org_clients)
