"""The `promo-wallet` command, run as a subprocess against the test database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from app.graphql.schema import schema
from app.main import create_app
from app.persistence.database import create_database
from app.persistence.tables import customer_table, earned_promotion_table, org_table, promotion_table
from app.persistence.uow import SqlUnitOfWork
from app.services.demo import DEMO_ADMIN, DEMO_ORG_ID, DEMO_READER
from app.settings import Settings
from tests.support import ROOT, basic_auth, is_postgres

EXECUTABLE = Path(sys.executable).with_name("promo-wallet")


@pytest.fixture
def cli_database_url(tmp_path: Path, database_url: str) -> str:
    """SQLite: a file that does not exist yet (the command migrates it); PostgreSQL: the test database."""
    if is_postgres():
        return database_url
    return f"sqlite+aiosqlite:///{tmp_path / 'cli' / 'promo_wallet.db'}"


def run_cli(database_url: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [str(EXECUTABLE)] if EXECUTABLE.exists() else [sys.executable, "-m", "app.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMO_WALLET_")}
    env |= {"PROMO_WALLET_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*command, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def ok(result: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert result.returncode == 0, (
        f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    )
    return result


@asynccontextmanager
async def service(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=database_url, demo_mode=False, _env_file=None)  # type: ignore[call-arg]
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http


async def count(database_url: str, table: object) -> int:
    database = create_database(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
    try:
        async with SqlUnitOfWork(database) as uow:
            return int((await uow.session.execute(select(func.count()).select_from(table))).scalar_one())  # type: ignore[arg-type]
    finally:
        await database.dispose()


async def test_orgs_create_then_clients_create_prints_credentials_that_authenticate(
    cli_database_url: str, tmp_path: Path
) -> None:
    # given an org made by the command line
    org = ok(
        run_cli(
            cli_database_url,
            "orgs",
            "create",
            "--id",
            "4321",
            "--name",
            "Acme",
            "--timezone",
            "Asia/Kolkata",
            cwd=tmp_path,
        )
    )
    assert json.loads(org.stdout) == {"id": 4321, "name": "Acme", "timezone": "Asia/Kolkata"}
    # when a client is created for it
    made = ok(
        run_cli(
            cli_database_url,
            "clients",
            "create",
            "--org",
            "4321",
            "--name",
            "pos",
            "--scope",
            "wallet:read",
            "--scope",
            "wallet:write",
            cwd=tmp_path,
        )
    )
    # then stdout is exactly one JSON object with a username and a password
    lines = made.stdout.strip().splitlines()
    assert len(lines) == 1
    credentials = json.loads(lines[0])
    assert set(credentials) == {"username", "password"} and all(credentials.values())
    # and they authenticate, for org 4321, with the scopes given
    async with service(cli_database_url) as http:
        headers = basic_auth(credentials["username"], credentials["password"])
        read = await http.post("/graphql", json={"query": "{ promotions { totalCount } }"}, headers=headers)
        admin_only = await http.post(
            "/graphql",
            json={"query": "mutation { createCustomer(input: {id: 1}) { __typename } }"},
            headers=headers,
        )
        wrong = await http.post(
            "/graphql",
            json={"query": "{ promotions { totalCount } }"},
            headers=basic_auth(credentials["username"], "nope"),
        )
    assert read.json() == {"data": {"promotions": {"totalCount": 0}}}
    assert admin_only.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert wrong.status_code == 401


async def test_clients_create_for_an_unknown_org_fails_without_printing_credentials(
    cli_database_url: str, tmp_path: Path
) -> None:
    result = run_cli(
        cli_database_url, "clients", "create", "--org", "999", "--name", "x", "--scope", "admin", cwd=tmp_path
    )
    assert result.returncode != 0
    assert result.stdout == ""
    assert "999" in result.stderr


async def test_orgs_create_refuses_an_unknown_timezone(cli_database_url: str, tmp_path: Path) -> None:
    result = run_cli(
        cli_database_url,
        "orgs",
        "create",
        "--id",
        "5",
        "--name",
        "X",
        "--timezone",
        "Mars/Base",
        cwd=tmp_path,
    )
    assert result.returncode != 0 and result.stdout == ""
    assert await count(cli_database_url, org_table) == 0


async def test_demo_seeds_once_and_a_second_run_changes_nothing(
    cli_database_url: str, tmp_path: Path
) -> None:
    # when demo runs twice
    first = ok(run_cli(cli_database_url, "demo", cwd=tmp_path))
    counts = [
        await count(cli_database_url, t)
        for t in (org_table, promotion_table, customer_table, earned_promotion_table)
    ]
    second = ok(run_cli(cli_database_url, "demo", cwd=tmp_path))
    # then the second run finds the seeded data and adds nothing
    assert "Seeded" in first.stderr and "Found" in second.stderr
    assert counts == [1, 5, 3, 9]
    assert [
        await count(cli_database_url, t)
        for t in (org_table, promotion_table, customer_table, earned_promotion_table)
    ] == counts
    # and it says how to sign in
    assert DEMO_ADMIN[0] in first.stderr and DEMO_ADMIN[1] in first.stderr


async def test_the_demo_credentials_read_a_wallet_showing_every_status(
    cli_database_url: str, tmp_path: Path
) -> None:
    # given
    ok(run_cli(cli_database_url, "demo", cwd=tmp_path))
    # when the demo reader reads the first demo customer's wallet
    async with service(cli_database_url) as http:
        response = await http.post(
            "/graphql",
            json={
                "query": "{ wallet(customerId: 566881933) { edges { node { status promotion { name } } } } }"
            },
            headers=basic_auth(*DEMO_READER),
        )
    # then
    wallet = response.json()["data"]["wallet"]
    assert {e["node"]["status"] for e in wallet["edges"]} == {
        "UNLOCKED",
        "LOCKED",
        "REDEEMED",
        "EXPIRED",
        "REVOKED",
    }
    assert DEMO_ORG_ID == 100737


def test_export_schema_prints_the_committed_schema(tmp_path: Path) -> None:
    # when
    result = ok(run_cli("sqlite+aiosqlite:///unused.db", "export-schema", cwd=tmp_path))
    written = ok(
        run_cli(
            "sqlite+aiosqlite:///unused.db",
            "export-schema",
            "--output",
            str(tmp_path / "s.graphql"),
            cwd=tmp_path,
        )
    )
    # then it is the served schema (tests/contract checks that schema.graphql is the same text)
    assert result.stdout == schema.as_str() + "\n"
    assert written.stdout == "" and (tmp_path / "s.graphql").read_text() == result.stdout


async def test_migrate_brings_the_database_to_head(cli_database_url: str, tmp_path: Path) -> None:
    # when (SQLite: a file that does not exist yet; PostgreSQL: the already migrated test database)
    result = ok(run_cli(cli_database_url, "migrate", cwd=tmp_path))
    # then the tables are there and empty
    assert "migrated" in result.stderr
    assert await count(cli_database_url, org_table) == 0
