"""The `promo-wallet` command."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, TypeVar

import typer

from app.cli_campaigns import register as register_campaign_commands
from app.domain.errors import DomainError
from app.domain.ports import UnitOfWorkFactory
from app.persistence.database import run_with_database
from app.persistence.migrate import upgrade
from app.persistence.uow import SqlUnitOfWorkFactory
from app.settings import Settings, get_settings

T = TypeVar("T")

cli = typer.Typer(
    help="Promo Wallet Gateway: the GraphQL system of record for promotion wallets.",
    no_args_is_help=True,
    add_completion=False,
)
orgs = typer.Typer(help="Manage orgs.", no_args_is_help=True)
clients = typer.Typer(help="Manage API clients.", no_args_is_help=True)
cli.add_typer(orgs, name="orgs")
cli.add_typer(clients, name="clients")
register_campaign_commands(cli)  # `issue` (a promotion to a CSV of customers) and `wallet`


def _run(settings: Settings, action: Callable[[UnitOfWorkFactory], Awaitable[T]]) -> T:
    try:
        return run_with_database(settings, lambda database: action(SqlUnitOfWorkFactory(database)))
    except DomainError as error:
        typer.echo(f"error {int(error.code)}: {error.message}", err=True)
        raise typer.Exit(2) from error


def _basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _print_demo(settings: Settings) -> None:
    from app.services.demo import seed_demo

    info = _run(settings, seed_demo)
    url = f"http://{settings.host}:{settings.port}/graphql"
    typer.echo(
        ("Seeded" if info.seeded else "Found") + f" demo org {info.org_id} in {settings.database_url}",
        err=True,
    )
    typer.echo(f"GraphiQL: {url}", err=True)
    typer.echo("Paste this into GraphiQL's Headers tab:", err=True)
    typer.echo(json.dumps({"Authorization": _basic_header(*info.admin)}), err=True)
    typer.echo(
        f"  admin client:  {info.admin[0]} / {info.admin[1]} (admin, wallet:read, wallet:write)", err=True
    )
    typer.echo(f"  reader client: {info.reader[0]} / {info.reader[1]} (wallet:read)", err=True)
    typer.echo(f"  demo customers: {', '.join(map(str, info.customer_ids))}", err=True)


@cli.command()
def migrate() -> None:
    """Apply the database migrations (Alembic) to PROMO_WALLET_DATABASE_URL."""
    settings = get_settings()
    upgrade(settings.database_url)
    typer.echo(f"migrated {settings.database_url}", err=True)


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Seed the demo org and print how to sign in.")] = False,
) -> None:
    """Migrate the database, then serve /graphql with uvicorn."""
    import uvicorn

    overrides = {"host": host, "port": port, "workers": workers, "demo_mode": demo or None}
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"PROMO_WALLET_{name.upper()}"] = str(value)
    get_settings.cache_clear()
    settings = get_settings()
    upgrade(settings.database_url)
    if settings.demo_mode:
        _print_demo(settings)
    from app.ide import prepare_ide_assets
    from app.observability import prepare_metrics_dir
    from app.observability.logging import log_config

    prepare_ide_assets(settings)  # GraphiQL/React from the npm registry, once, when the IDE is on
    prepare_metrics_dir(settings.workers)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level.lower(),
        log_config=log_config(settings.log_level, settings.log_format),  # JSON lines with request ids
        access_log=False,  # the app's own access log (app.access) has the request id and duration
    )


@cli.command()
def demo() -> None:
    """Seed the demo org, clients, promotions, customers and wallets (idempotent)."""
    settings = get_settings()
    upgrade(settings.database_url)
    _print_demo(settings)


@cli.command("export-schema")
def export_schema(
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Print the GraphQL schema as SDL (the committed schema.graphql)."""
    from app.graphql.schema import schema

    sdl = schema.as_str() + "\n"
    if output:
        output.write_text(sdl)
    else:
        typer.echo(sdl, nl=False)


@orgs.command("create")
def orgs_create(
    id: Annotated[int, typer.Option("--id", help="The org's numeric id.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    timezone: Annotated[str, typer.Option(help="IANA timezone for validTill.")] = "UTC",
) -> None:
    """Create an org."""
    from app.services.admin import create_org

    settings = get_settings()
    upgrade(settings.database_url)
    org = _run(settings, lambda db: create_org(db, org_id=id, name=name, timezone=timezone))
    typer.echo(json.dumps({"id": org.id, "name": org.name, "timezone": org.settings.timezone}))


@clients.command("create")
def clients_create(
    org: Annotated[int, typer.Option(help="The org the client belongs to.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    scope: Annotated[list[str], typer.Option(help="wallet:read, wallet:write or admin; repeatable.")],
) -> None:
    """Create an API client; prints {"username": ..., "password": ...} once."""
    from app.services.admin import create_client

    settings = get_settings()
    upgrade(settings.database_url)
    credentials = _run(settings, lambda db: create_client(db, org_id=org, name=name, scopes=scope))
    typer.echo(json.dumps({"username": credentials.username, "password": credentials.password}))


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
