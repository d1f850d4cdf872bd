"""`promo-wallet issue` and `promo-wallet wallet`, run as subprocesses against the test database
(SQLite or PostgreSQL, per PROMO_WALLET_TEST_DATABASE_URL), on the demo org's data."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.cli.csv_input import read_customer_ids
from app.cli.shell import BadInput
from app.domain.models import Principal, PromotionType, Scope
from app.persistence.database import create_database
from app.persistence.tables import earned_promotion_table, promotion_table
from app.persistence.uow import SqlUnitOfWorkFactory
from app.services.campaigns import issue_in_batches
from app.services.demo import DEMO_ORG_ID, seed_demo
from app.settings import Settings
from tests.support import ROOT

EXECUTABLE = Path(sys.executable).with_name("promo-wallet")
CUSTOMERS = [566881933, 5668819330, 564332013]


def run(
    database_url: str, *args: str, stdin: str | None = None, columns: int = 200
) -> subprocess.CompletedProcess[str]:
    command = [str(EXECUTABLE)] if EXECUTABLE.exists() else [sys.executable, "-m", "app.cli"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMO_WALLET_")}
    env |= {"PROMO_WALLET_DATABASE_URL": database_url, "PYTHONPATH": str(ROOT), "COLUMNS": str(columns)}
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, env=env, input=stdin, timeout=120, cwd=ROOT
    )


def row(output: str, label: str) -> int:
    """The count on the summary table's row `label`."""
    line = next(line for line in output.splitlines() if f"│ {label} " in line)
    return int(line.split("│")[2])


async def _demo(database_url: str) -> str:
    """Seeds the demo org; returns the id of its CUSTOMER promotion."""
    database = create_database(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
    try:
        await seed_demo(SqlUnitOfWorkFactory(database))
    finally:
        await database.dispose()
    return await _promotion_of_type(database_url, PromotionType.CUSTOMER)


async def _promotion_of_type(database_url: str, type_: PromotionType) -> str:
    database = create_database(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
    try:
        async with database.reader.connect() as connection:
            return str(
                (
                    await connection.execute(
                        select(promotion_table.c.id).where(
                            promotion_table.c.org_id == DEMO_ORG_ID, promotion_table.c.type == type_.value
                        )
                    )
                ).scalar_one()
            )
    finally:
        await database.dispose()


async def _entries(database_url: str, context: str) -> int:
    database = create_database(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
    try:
        async with database.reader.connect() as connection:
            t = earned_promotion_table.c
            return int(
                (
                    await connection.execute(
                        select(func.count()).where(t.org_id == DEMO_ORG_ID, t.earned_from_id == context)
                    )
                ).scalar_one()
            )
    finally:
        await database.dispose()


@pytest.fixture
def promotion(database_url: str) -> str:
    return asyncio.run(_demo(database_url))


def test_issue_reads_a_named_column_and_a_second_run_issues_nothing_twice(
    database_url: str, promotion: str, tmp_path: Path
) -> None:
    # given a CSV with a header row
    csv = tmp_path / "customers.csv"
    csv.write_text("name,cid\n" + "".join(f"c{i},{c}\n" for i, c in enumerate(CUSTOMERS)))
    args = (
        "issue",
        "--promotion",
        promotion,
        "--context",
        "spring-1",
        "--file",
        str(csv),
        "--column",
        "cid",
        "--org",
        str(DEMO_ORG_ID),
    )
    # when it is issued twice
    first = run(database_url, *args)
    second = run(database_url, *args)
    # then
    assert first.returncode == 0, first.stdout + first.stderr
    assert (row(first.stdout, "issued"), row(first.stdout, "already issued")) == (3, 0)
    assert "3/3" in first.stderr  # the progress bar
    assert second.returncode == 0, second.stdout + second.stderr
    assert (row(second.stdout, "issued"), row(second.stdout, "already issued")) == (0, 3)
    assert asyncio.run(_entries(database_url, "spring-1")) == 3


def test_a_run_interrupted_after_its_first_batch_is_completed_by_running_it_again(
    database_url: str, promotion: str, tmp_path: Path
) -> None:
    # given a run that stopped (Ctrl-C) after its first batch of 1
    principal = Principal(
        org_id=DEMO_ORG_ID, client_id=0, username="cli:test", scopes=frozenset({Scope.WALLET_WRITE})
    )

    def interrupt(sent: int) -> None:
        raise KeyboardInterrupt

    async def interrupted() -> None:
        database = create_database(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
        try:
            await issue_in_batches(
                SqlUnitOfWorkFactory(database),
                principal,
                promotion_id=promotion,
                context_id="resume-1",
                customer_ids=CUSTOMERS,
                batch_size=1,
                max_batch=100,
                on_batch=interrupt,
            )
        finally:
            await database.dispose()

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(interrupted())
    assert asyncio.run(_entries(database_url, "resume-1")) == 1
    # when the same command runs again, one id per line without a header
    csv = tmp_path / "ids.csv"
    csv.write_text("\n".join(map(str, CUSTOMERS)) + "\n")
    again = run(
        database_url,
        "issue",
        "--promotion",
        promotion,
        "--context",
        "resume-1",
        "--file",
        str(csv),
        "--client",
        "demo-admin",
        "--secret",
        "demo-admin-secret",
        "--batch-size",
        "1",
    )
    # then only the rest is issued
    assert again.returncode == 0, again.stdout + again.stderr
    assert (row(again.stdout, "issued"), row(again.stdout, "already issued")) == (2, 1)
    assert asyncio.run(_entries(database_url, "resume-1")) == 3


def test_a_batch_naming_unknown_customers_is_refused_and_they_are_listed(
    database_url: str, promotion: str
) -> None:
    ids = f"{CUSTOMERS[0]}\n{CUSTOMERS[1]}\n{CUSTOMERS[2]}\n999\n"
    args = (
        "issue",
        "--promotion",
        promotion,
        "--context",
        "c-404",
        "--file",
        "-",
        "--org",
        str(DEMO_ORG_ID),
        "--batch-size",
        "2",
    )
    # when the second batch names customer 999, who does not exist
    result = run(database_url, *args, stdin=ids)
    # then that batch is refused as a whole (atomic) and 999 is listed; the first one is issued
    assert result.returncode == 1
    assert row(result.stdout, "issued") == 2 and row(result.stdout, "refused 404") == 2
    assert "missing customers: 999" in result.stdout
    # and --skip-missing issues the rest of such a batch
    skipping = run(database_url, *args, "--skip-missing", stdin=ids)
    assert (row(skipping.stdout, "issued"), row(skipping.stdout, "already issued")) == (1, 2)
    assert row(skipping.stdout, "refused 404") == 1
    assert asyncio.run(_entries(database_url, "c-404")) == 3


def test_an_unknown_promotion_is_bad_input_and_nothing_is_sent(database_url: str, promotion: str) -> None:
    result = run(
        database_url,
        "issue",
        "--promotion",
        "000000000000000000000000",
        "--context",
        "x",
        "--file",
        "-",
        "--org",
        str(DEMO_ORG_ID),
        "--batch-size",
        "1",
        stdin="\n".join(map(str, CUSTOMERS)),
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "error: 404: Promotion 000000000000000000000000 not found" in result.stderr
    assert result.stdout == ""
    assert asyncio.run(_entries(database_url, "x")) == 0


def test_a_promotion_that_cannot_be_held_in_a_wallet_stops_the_run_at_the_first_batch(
    database_url: str, promotion: str
) -> None:
    # given the demo's POS promotion (applied at the till, never issued into wallets)
    pos = asyncio.run(_promotion_of_type(database_url, PromotionType.POS))
    # when
    result = run(
        database_url,
        "issue",
        "--promotion",
        pos,
        "--context",
        "till",
        "--file",
        "-",
        "--org",
        str(DEMO_ORG_ID),
        "--batch-size",
        "1",
        stdin="\n".join(map(str, CUSTOMERS)),
    )
    # then the first batch is refused, the rest not sent, and the run says why it stopped
    assert result.returncode == 1, result.stdout + result.stderr
    assert row(result.stdout, "refused 707") == 1 and row(result.stdout, "not sent") == 2
    assert f"stopped: Promotion {pos} is of type POS" in result.stdout


def test_wrong_credentials_or_a_reader_client_cannot_issue(database_url: str, promotion: str) -> None:
    base = ("issue", "--promotion", promotion, "--context", "x", "--file", "-")
    wrong = run(database_url, *base, "--client", "demo-admin", "--secret", "nope", stdin="1\n")
    reader = run(
        database_url, *base, "--client", "demo-reader", "--secret", "demo-reader-secret", stdin="1\n"
    )
    assert wrong.returncode == 2 and "Invalid client credentials" in wrong.stderr
    assert reader.returncode == 2 and "lacks the wallet:write scope" in reader.stderr


def test_wallet_prints_a_customers_wallet_as_a_table(database_url: str, promotion: str) -> None:
    result = run(
        database_url, "wallet", str(CUSTOMERS[0]), "--client", "demo-reader", "--secret", "demo-reader-secret"
    )
    assert result.returncode == 0, result.stderr
    assert f"wallet of customer {CUSTOMERS[0]} · org {DEMO_ORG_ID} · 6 entries" in result.stdout
    for text in ("Welcome 200 off", "UNLOCKED", "LOCKED", "REDEEMED", "EXPIRED", "REVOKED", "Asia/Kolkata"):
        assert text in result.stdout
    only = run(database_url, "wallet", str(CUSTOMERS[0]), "--org", str(DEMO_ORG_ID), "--status", "revoked")
    assert "1 entries" in only.stdout and "UNLOCKED" not in only.stdout


def test_the_wallet_of_a_customer_the_org_does_not_have_is_bad_input(
    database_url: str, promotion: str
) -> None:
    result = run(database_url, "wallet", "424242", "--org", str(DEMO_ORG_ID))
    assert result.returncode == 2
    assert f"customer 424242 not found in org {DEMO_ORG_ID}" in result.stderr
    assert result.stdout == ""


def test_wallet_entry_ids_stay_whole_on_one_line_of_a_narrow_terminal(
    database_url: str, promotion: str
) -> None:
    # given the ids of the customer's entries
    entry_ids = asyncio.run(_entry_ids(database_url, CUSTOMERS[0]))
    # when the wallet is printed 60 columns wide, where the other columns must fold
    result = run(database_url, "wallet", str(CUSTOMERS[0]), "--org", str(DEMO_ORG_ID), columns=60)
    # then every id can be copied from one line
    assert result.returncode == 0, result.stderr
    assert len(entry_ids) == 6
    for entry_id in entry_ids:
        assert entry_id in result.stdout


async def _entry_ids(database_url: str, customer_id: int) -> list[str]:
    database = create_database(Settings(database_url=database_url, _env_file=None))  # type: ignore[call-arg]
    try:
        async with database.reader.connect() as connection:
            t = earned_promotion_table.c
            query = select(t.id).where(t.org_id == DEMO_ORG_ID, t.customer_id == customer_id)
            return [str(value) for value in (await connection.execute(query)).scalars()]
    finally:
        await database.dispose()


@pytest.mark.parametrize(
    ("text", "column", "ids", "invalid", "duplicates"),
    [
        ("1\n2\n\n3\n2\n", None, [1, 2, 3], [], 1),
        ("customer\n1\n2\n", None, [1, 2], [], 0),
        ("name,customerId\na,7\nb,x\n", None, [7], [(3, "x")], 0),
        ("a,b\n1,5\n2,6\n", "b", [5, 6], [], 0),
        ("", None, [], [], 0),
    ],
)
def test_customer_ids_are_read_from_lines_or_a_column(
    text: str, column: str | None, ids: list[int], invalid: list[tuple[int, str]], duplicates: int
) -> None:
    read = read_customer_ids(text, column)
    assert (read.ids, read.invalid, read.duplicates) == (ids, invalid, duplicates)


def test_several_columns_without_a_known_name_need_column() -> None:
    with pytest.raises(BadInput, match="--column"):
        read_customer_ids("a,b\n1,2\n")
    with pytest.raises(BadInput, match="no column 'c'"):
        read_customer_ids("a,b\n1,2\n", "c")
