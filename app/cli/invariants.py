"""`promo-wallet check-invariants` (and its alias `python -m app.invariants`): the ledger invariant
checker of app/persistence/invariants.py run against a database, its report printed."""

from __future__ import annotations

from typing import Annotated

import typer


def check_invariants(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="SQLAlchemy async URL (default: PROMO_WALLET_DATABASE_URL, the app's settings).",
        ),
    ] = None,
) -> None:
    """Check that wallets, ledger and redemptions agree (read-only, one snapshot).

    Exit 0 when they do; 1 with every violation listed on stderr when they do not.

    Example: promo-wallet check-invariants --database-url postgresql+asyncpg://postgres@127.0.0.1/prod
    """
    import asyncio

    from app.persistence.invariants import check_database, format_report

    if database_url is None:
        from app.cli import shell

        database_url = shell.settings().database_url
    violations = asyncio.run(check_database(database_url))
    typer.echo(format_report(violations), err=bool(violations))
    if violations:
        raise typer.Exit(1)


def alias_main() -> None:
    """`python -m app.invariants`: this one command as a program of its own (a Typer of a single
    command runs it without naming it)."""
    alias = typer.Typer(add_completion=False)
    alias.command()(check_invariants)
    alias(prog_name="python -m app.invariants")
