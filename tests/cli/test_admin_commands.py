"""`promo-wallet promotions create`, `customers import`, `clients create --username` and
`check-invariants`, run as subprocesses against the test database on the demo org."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.persistence.database import create_database
from app.persistence.tables import promotion_table
from app.persistence.uow import SqlUnitOfWork, SqlUnitOfWorkFactory
from app.services.demo import DEMO_ORG_ID, DEMO_TIMEZONE, seed_demo
from app.settings import Settings
from tests.cli.test_campaign_cli import row, run

ORG = str(DEMO_ORG_ID)


async def _seed(database_url: str) -> None:
    database = create_database(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
    try:
        await seed_demo(SqlUnitOfWorkFactory(database))
    finally:
        await database.dispose()


async def _rows(database_url: str, query: object) -> list[tuple[object, ...]]:
    database = create_database(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
    try:
        async with database.reader.connect() as connection:
            return [tuple(r) for r in (await connection.execute(query)).all()]  # type: ignore[call-overload]
    finally:
        await database.dispose()


@pytest.fixture
def demo(database_url: str) -> str:
    asyncio.run(_seed(database_url))
    return database_url


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(DEMO_TIMEZONE)).timestamp() * 1000)


# --- promotions create -----------------------------------------------------------------------


def test_promotions_create_prints_the_promotion_with_days_whole_in_the_orgs_timezone_and_the_defaults(
    demo: str,
) -> None:
    # when
    made = run(
        demo,
        *("promotions", "create", "--org", ORG, "--name", "Spring 10% off", "--type", "customer"),
        *("--start", "2031-03-01", "--end", "2031-05-31"),
    )
    # then
    assert made.returncode == 0, made.stderr
    promotion = json.loads(made.stdout)
    assert promotion["startDate"] == ms("2031-03-01T00:00:00")
    assert promotion["endDate"] == ms("2031-06-01T00:00:00") - 1
    assert (promotion["type"], promotion["status"], promotion["active"]) == ("CUSTOMER", "UPCOMING", True)
    assert promotion["maxRedemptionsPerEarn"] == 1  # CreatePromotion's default
    stored = asyncio.run(
        _rows(demo, select(promotion_table.c.name).where(promotion_table.c.id == promotion["id"]))
    )
    assert stored == [("Spring 10% off",)]


def test_a_promotion_made_by_the_command_line_can_be_issued_by_it(demo: str) -> None:
    made = run(
        demo,
        *("promotions", "create", "--org", ORG, "--name", "Now", "--type", "EARNING", "--end", "2031-01-01"),
        *("--inactive", "--max-redemptions-per-earn", "3"),
    )
    promotion = json.loads(made.stdout)
    assert (promotion["active"], promotion["maxRedemptionsPerEarn"]) == (False, 3)
    issued = run(
        demo,
        *("issue", "--promotion", promotion["id"], "--context", "c", "--file", "-", "--org", ORG),
        stdin="566881933\n",
    )
    # inactive: refused by the issue service, which the command line reaches with the same id
    assert issued.returncode == 1 and row(issued.stdout, "refused 706") == 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--type", "TILL", "--end", "2031-01-01"), "--type 'TILL'"),
        (("--type", "POS", "--end", "soon"), "--end 'soon'"),
        (
            ("--type", "POS", "--start", "2031-02-01", "--end", "2031-01-01"),
            "400: endDate must not be before",
        ),
        (
            ("--type", "POS", "--end", "2031-01-01", "--max-redemptions-per-earn", "0"),
            "maxRedemptionsPerEarn",
        ),
    ],
)
def test_promotions_create_refuses_bad_input_with_exit_2_and_writes_nothing(
    demo: str, options: tuple[str, ...], message: str
) -> None:
    result = run(demo, "promotions", "create", "--org", ORG, "--name", "Bad", *options)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr and result.stdout == ""
    assert asyncio.run(_rows(demo, select(promotion_table.c.id).where(promotion_table.c.name == "Bad"))) == []


def test_promotions_create_needs_an_admin_client(demo: str) -> None:
    result = run(
        demo,
        *("promotions", "create", "--name", "X", "--type", "POS", "--end", "2031-01-01"),
        *("--client", "demo-reader", "--secret", "demo-reader-secret"),
    )
    assert result.returncode == 2 and "lacks the admin scope" in result.stderr


# --- customers import ------------------------------------------------------------------------


def customers_of(database_url: str, *ids: int) -> list[tuple[object, ...]]:
    async def read() -> list[tuple[object, ...]]:
        database = create_database(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
        try:
            async with SqlUnitOfWork(database) as uow:
                found = await uow.customers.get_many(DEMO_ORG_ID, list(ids))
        finally:
            await database.dispose()
        return [(c.id, c.mobile, c.email) for _, c in sorted(found.items())]

    return asyncio.run(read())


def test_customers_import_creates_skips_what_is_there_and_lists_rejected_rows_by_line(
    demo: str, tmp_path: Path
) -> None:
    # given a file with a header, a column to ignore, a demo customer as stored, a bad mobile and a bad id
    csv = tmp_path / "customers.csv"
    csv.write_text(
        "customerId,Mobile,email,name\n"
        "1001,9876500001,a@example.com,Asha\n"
        "1002,,b@example.com,Ravi\n"
        "566881933,1234512345,asha@example.com,demo\n"
        "x1,,,\n"
        "1003,12,,short mobile\n"
    )
    # when it is imported twice
    first = run(demo, "customers", "import", str(csv), "--org", ORG, "--batch-size", "2")
    second = run(demo, "customers", "import", str(csv), "--org", ORG)
    # then the good rows went in once, and every row not imported is named with its line
    assert first.returncode == 1, first.stdout + first.stderr
    assert (row(first.stdout, "created"), row(first.stdout, "already there")) == (2, 1)
    assert row(first.stdout, "rejected 400") == 1 and row(first.stdout, "invalid") == 1
    assert "line 6 (customer 1003): mobile must be" in first.stdout
    assert "not customer ids: line 5: 'x1'" in first.stdout
    assert "ignored columns: name" in first.stdout
    assert "4/4" in first.stderr  # the progress bar
    assert (row(second.stdout, "created"), row(second.stdout, "already there")) == (0, 3)
    assert customers_of(demo, 1001, 1002, 1003) == [
        (1001, "9876500001", "a@example.com"),
        (1002, None, "b@example.com"),
    ]


def test_customers_import_of_ids_alone_from_stdin_exits_0_when_every_row_is_imported(demo: str) -> None:
    result = run(demo, "customers", "import", "-", "--org", ORG, stdin="2001\n2002\n")
    assert result.returncode == 0, result.stdout + result.stderr
    assert row(result.stdout, "created") == 2
    assert customers_of(demo, 2001, 2002) == [(2001, None, None), (2002, None, None)]


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (("missing.csv", "--org", ORG), None, "No such file"),
        (("-", "--org", ORG), "a,b\n1,2\n", "name the id column with --column"),
        (("-", "--org", "999"), "1\n", "400: org 999 does not exist"),
        (("-",), "1\n", "give --org N"),
        (("-", "--client", "demo-admin", "--secret", "wrong"), "1\n", "Invalid client credentials"),
        (("-", "--client", "demo-reader", "--secret", "demo-reader-secret"), "1\n", "lacks the admin scope"),
    ],
)
def test_customers_import_refuses_bad_input_and_credentials_with_exit_2(
    demo: str, args: tuple[str, ...], stdin: str | None, message: str
) -> None:
    result = run(demo, "customers", "import", *args, stdin=stdin)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert customers_of(demo, 1) == []


# --- clients create --username ---------------------------------------------------------------


def test_clients_create_with_a_chosen_username_signs_in_with_it(demo: str) -> None:
    # when
    made = run(
        demo,
        *("clients", "create", "--org", ORG, "--name", "Operations team", "--username", "ops-1"),
        *("--scope", "admin"),
    )
    # then it signs in as ops-1, with the printed password
    assert made.returncode == 0, made.stderr
    credentials = json.loads(made.stdout)
    assert credentials["username"] == "ops-1"
    signed_in = run(
        demo,
        "customers",
        "import",
        "-",
        "--client",
        "ops-1",
        "--secret",
        credentials["password"],
        stdin="3001\n",
    )
    assert signed_in.returncode == 0, signed_in.stderr
    # and the help says which is the label
    assert "label" in run(demo, "clients", "create", "--help").stdout


@pytest.mark.parametrize(
    ("username", "message"),
    [("ops:1", "400: username must be"), ("demo-admin", "400: client 'demo-admin' already exists")],
)
def test_clients_create_refuses_a_username_with_a_colon_or_one_taken(
    demo: str, username: str, message: str
) -> None:
    result = run(
        demo, "clients", "create", "--org", ORG, "--name", "x", "--username", username, "--scope", "admin"
    )
    assert result.returncode == 2 and result.stdout == ""
    assert message in result.stderr


# --- check-invariants ------------------------------------------------------------------------


def test_check_invariants_finds_the_demo_data_consistent(demo: str) -> None:
    result = run(demo, "check-invariants")
    assert result.returncode == 0, result.stderr
    assert "ok: no invariant violations" in result.stdout
