"""`promo-wallet wallet --history` and `--as-of`, run as subprocesses against the demo org."""

from __future__ import annotations

import getpass
from pathlib import Path

from app.domain.clock import now_ms
from app.services.demo import DEMO_ORG_ID
from tests.cli.test_campaign_cli import CUSTOMERS, promotion, run

__all__ = ["promotion"]  # the demo-seeding fixture, shared with the campaign commands' tests


def test_wallet_history_prints_the_changes_newest_first(database_url: str, promotion: str) -> None:
    # when the history of a demo customer is printed
    result = run(database_url, "wallet", str(CUSTOMERS[0]), "--org", str(DEMO_ORG_ID), "--history")
    # then it lists its changes, with the actor of each
    assert result.returncode == 0, result.stderr
    assert f"history of customer {CUSTOMERS[0]} · org {DEMO_ORG_ID}" in result.stdout
    for text in ("ISSUED", "REDEEMED", "REVOKED", "demo", "demo-txn-0001", "Asia/Kolkata"):
        assert text in result.stdout, text
    assert result.stdout.index("REDEEMED") < result.stdout.rindex("ISSUED")


def test_wallet_as_of_prints_the_wallet_as_it_stood_then(database_url: str, promotion: str) -> None:
    # when the wallet is printed as of now and as of an instant before the demo was seeded
    now = run(
        database_url, "wallet", str(CUSTOMERS[0]), "--org", str(DEMO_ORG_ID), "--as-of", str(now_ms() + 1000)
    )
    before = run(
        database_url, "wallet", str(CUSTOMERS[0]), "--org", str(DEMO_ORG_ID), "--as-of", "2020-01-01T00:00"
    )
    # then now it has the wallet's six entries, and before the demo none
    assert now.returncode == 0, now.stderr
    assert "· 6 entries" in now.stdout and "as of" in now.stdout and "UNLOCKED" in now.stdout
    assert before.returncode == 0, before.stderr
    assert "as of 2020-01-01 00:00 · 0 entries" in before.stdout


def test_wallet_as_of_refuses_what_is_not_a_time_and_history_with_as_of(
    database_url: str, promotion: str
) -> None:
    bad = run(database_url, "wallet", str(CUSTOMERS[0]), "--org", str(DEMO_ORG_ID), "--as-of", "yesterday")
    both = run(
        database_url, "wallet", str(CUSTOMERS[0]), "--org", str(DEMO_ORG_ID), "--history", "--as-of", "0"
    )
    assert bad.returncode == 2 and "neither epoch milliseconds nor an ISO-8601 time" in bad.stderr
    assert both.returncode == 2 and "not both" in both.stderr


def test_an_operators_issue_shows_in_the_history_as_cli_and_the_login(
    database_url: str, promotion: str, tmp_path: Path
) -> None:
    # given a promotion issued to the customer by an operator through the CLI
    csv = tmp_path / "customers.csv"
    csv.write_text(f"{CUSTOMERS[0]}\n")
    issued = run(
        database_url, "issue", "--promotion", promotion, "--context", "cli-run-1", "--file", str(csv),
        "--org", str(DEMO_ORG_ID),
    )  # fmt: skip
    assert issued.returncode == 0, issued.stdout + issued.stderr
    # when the history is printed
    result = run(
        database_url, "wallet", str(CUSTOMERS[0]), "--org", str(DEMO_ORG_ID), "--history", "--limit", "1"
    )
    # then the newest event is that issue, by cli:<login>, from its contextId
    assert result.returncode == 0, result.stderr
    assert (
        f"cli:{getpass.getuser()}" in result.stdout
        and "cli-run-1" in result.stdout
        and "ISSUED" in result.stdout
    )
