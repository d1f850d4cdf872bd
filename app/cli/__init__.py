"""The `promo-wallet` command (typer): the other shell beside app/main.py. It parses options and
files, wires `SqlUnitOfWorkFactory` into the services and renders what they return; the rules
(retries, stop rules, checks) are the services'. One small module per group of subcommands.

Start-up is paid by every command typed, so the modules of this package import only typer, and
the standard library at their top: SQLAlchemy, Alembic, pydantic-settings, Rich's tables and the
web stack (FastAPI, Strawberry, uvicorn, the app) are imported inside the commands that use them
(`tests/cli/test_startup.py` holds `--help` to that; README "Command line" has the times).
"""

from __future__ import annotations

import typer

from app.cli import clients, customers, invariants, issue, jobs, orgs, promotions, server, wallet

cli = typer.Typer(
    help="Promo Wallet Gateway: the GraphQL system of record for promotion wallets.",
    no_args_is_help=True,
    add_completion=False,
)
cli.command()(server.serve)
cli.command()(server.migrate)
cli.add_typer(orgs.app, name="orgs")
cli.add_typer(clients.app, name="clients")
cli.add_typer(customers.app, name="customers")
cli.add_typer(promotions.app, name="promotions")
cli.command("issue")(issue.issue)
cli.command("wallet")(wallet.wallet)
cli.add_typer(jobs.app, name="jobs")
cli.command("check-invariants")(invariants.check_invariants)
cli.command("export-schema")(server.export_schema)
cli.command()(server.demo)


def main() -> None:
    """The `promo-wallet` script (pyproject.toml): exits with the command's exit code."""
    cli()
