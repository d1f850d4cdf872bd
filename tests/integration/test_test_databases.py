"""The per-test databases of TestDatabases: each test starts from the same state, whatever the
tests before it wrote, with the seed orgs it asks for and nothing else. (The tests are sync:
`fresh_url` is called where the `database_url` fixture calls it, outside an event loop.)"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from app.auth.authenticator import AuthenticationFailed, Authenticator
from app.domain.clock import now_ms
from app.domain.models import Customer
from app.persistence.database import create_database
from app.persistence.tables import metadata
from app.persistence.uow import SqlUnitOfWork, SqlUnitOfWorkFactory
from app.services import admin
from app.settings import Settings
from tests.support import (
    ORG_ID,
    OTHER_ORG_ID,
    SEED_CLIENT_SCOPES,
    TABLES,
    AppCache,
    TestDatabases,
    add_test_client,
    seed_credentials,
)


async def contents(database_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the app, sorted."""
    database = create_database(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
    try:
        async with database.reader.connect() as connection:
            return {
                table: sorted(tuple(row) for row in await connection.execute(text(f"SELECT * FROM {table}")))
                for table in TABLES
            }
    finally:
        await database.dispose()


async def write_everywhere(database_url: str, customers: int = 1) -> None:
    """What a test may do to its database: new orgs, clients, customers, changed seed rows."""
    database = create_database(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
    try:
        await admin.create_org(SqlUnitOfWorkFactory(database), org_id=777, name="Written by a test")
        await add_test_client(
            database, org_id=ORG_ID, name="extra", scopes=["wallet:read"], username="extra", password="x"
        )
        async with SqlUnitOfWork(database, write=True) as uow:
            await uow.customers.add_many(
                [Customer(org_id=ORG_ID, id=i) for i in range(1, customers + 1)], created_at=now_ms()
            )
            org = await uow.orgs.get(ORG_ID)
            assert org is not None
            changed = replace(org.settings, timezone="UTC", max_active_promotions=1)
            await uow.orgs.save_settings(ORG_ID, changed)
            await uow.commit()
        async with database.writer.begin() as connection:
            await connection.execute(text("UPDATE api_client SET active = false WHERE name = 'admin'"))
    finally:
        await database.dispose()


async def add_a_client(database_url: str) -> None:
    database = create_database(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
    try:
        await add_test_client(
            database, org_id=ORG_ID, name="extra", scopes=["wallet:read"], username="extra", password="x"
        )
    finally:
        await database.dispose()


# PostgreSQL empties a table a test wrote a few rows to by DELETE, one it wrote many to by TRUNCATE
@pytest.mark.parametrize("customers", [1, 6_000], ids=["few-rows", "many-rows"])
def test_a_test_never_sees_what_an_earlier_test_wrote(
    test_databases: TestDatabases, tmp_path: Path, customers: int
) -> None:
    # given the database of a test that wrote to every kind of table
    seeded = frozenset({ORG_ID, OTHER_ORG_ID})
    first = test_databases.fresh_url(_dir(tmp_path / "first"), seeded=seeded)
    pristine = asyncio.run(contents(first))
    asyncio.run(write_everywhere(first, customers))
    assert asyncio.run(contents(first)) != pristine

    # when the next test gets its database
    second = test_databases.fresh_url(_dir(tmp_path / "second"), seeded=seeded)

    # then it is as the first one was before it wrote
    assert asyncio.run(contents(second)) == pristine
    # and a client made in it does not collide with a seed client
    asyncio.run(add_a_client(second))


def test_a_database_holds_the_seed_orgs_asked_for_and_nothing_else(
    test_databases: TestDatabases, tmp_path: Path
) -> None:
    # given a database that held both seed orgs and a test's writes
    both = frozenset({ORG_ID, OTHER_ORG_ID})
    asyncio.run(write_everywhere(test_databases.fresh_url(_dir(tmp_path / "both"), seeded=both)))

    # when a test asks for no seed org, then its database is empty
    empty = asyncio.run(contents(test_databases.fresh_url(_dir(tmp_path / "none"))))
    assert empty == {table: [] for table in TABLES}

    # when a test asks for one, then it has that org and its three clients only
    one = asyncio.run(contents(test_databases.fresh_url(_dir(tmp_path / "one"), seeded=frozenset({ORG_ID}))))
    assert [row[0] for row in one["org"]] == [ORG_ID]
    usernames = sorted(c.username for c in seed_credentials(ORG_ID).values())
    assert sorted(row[3] for row in one["api_client"]) == usernames
    assert all(rows == [] for table, rows in one.items() if table not in ("org", "api_client"))


@pytest.mark.parametrize("org_id", [ORG_ID, OTHER_ORG_ID])
def test_the_seed_clients_sign_in_with_their_scopes(
    test_databases: TestDatabases, tmp_path: Path, org_id: int
) -> None:
    asyncio.run(
        sign_in_every_seed_client(test_databases.fresh_url(tmp_path, seeded=frozenset({org_id})), org_id)
    )


async def sign_in_every_seed_client(url: str, org_id: int) -> None:
    database = create_database(Settings(database_url=url, _env_file=None))  # type: ignore[call-arg]
    authenticator = Authenticator(SqlUnitOfWorkFactory(database), cache_seconds=0, token_ttl_seconds=60)
    try:
        for name, credentials in seed_credentials(org_id).items():
            principal = await authenticator.verify_client(credentials.username, credentials.password)
            assert principal.org_id == org_id
            assert sorted(s.value for s in principal.scopes) == sorted(SEED_CLIENT_SCOPES[name])
            with pytest.raises(AuthenticationFailed):
                await authenticator.verify_client(credentials.username, "not-" + credentials.password)
    finally:
        await database.dispose()


def _dir(path: Path) -> Path:
    path.mkdir()
    return path


def test_an_app_served_again_serves_the_next_tests_database_and_forgets_its_sign_ins(
    test_databases: TestDatabases, tmp_path: Path
) -> None:
    # given an app that served a test in which the seed admin signed in
    apps = AppCache()
    admin_ = seed_credentials(ORG_ID)["admin"]
    first = test_databases.fresh_url(_dir(tmp_path / "first"), seeded=frozenset({ORG_ID}))
    assert asyncio.run(sign_in_status(apps, first, admin_.headers)) == [200, 200]

    # when the next test, whose database has no org, is served by the same app
    second = test_databases.fresh_url(_dir(tmp_path / "second"))
    statuses = asyncio.run(sign_in_status(apps, second, admin_.headers))

    # then the same credentials are refused there: its database, and an authenticator of its own
    assert statuses == [401, 401]
    assert len(apps._apps) == 1


async def sign_in_status(apps: AppCache, database_url: str, headers: dict[str, str]) -> list[int]:
    settings = Settings(database_url=database_url, demo_mode=False, _env_file=None)  # type: ignore[call-arg]
    async with apps.serving(settings) as app:
        assert app.state.database.url == database_url
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return [
                (await http.post("/graphql", json={"query": "{ __typename }"}, headers=headers)).status_code
                for _ in range(2)
            ]


def test_the_per_test_reset_covers_every_table_the_schema_declares() -> None:
    assert set(TABLES) == set(metadata.tables), "add the new table to tests/support.py TABLES"
