"""`serve`, `migrate`, `demo` and `export-schema`: the commands about the server and its schema.
uvicorn, the app and Strawberry are imported inside `serve` and `export-schema`, which use them."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli import shell

if TYPE_CHECKING:
    from app.settings import Settings


def _basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _print_demo(settings: Settings) -> None:
    from app.domain.errors import DomainError
    from app.services.demo import seed_demo

    try:
        info = shell.run(settings, seed_demo)
    except DomainError as error:
        shell.refuse(f"{int(error.code)}: {error.message}")
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


def migrate() -> None:
    """Apply the database migrations (Alembic) to PROMO_WALLET_DATABASE_URL."""
    settings = shell.migrated()
    typer.echo(f"migrated {settings.database_url}", err=True)


def serve(
    host: Annotated[str | None, typer.Option(help="Interface to bind.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes.")] = None,
    demo: Annotated[bool, typer.Option("--demo", help="Seed the demo org and print how to sign in.")] = False,
    no_jobs: Annotated[
        bool, typer.Option("--no-jobs", help="Run no bulk issue jobs in this server (others may).")
    ] = False,
) -> None:
    """Migrate the database, then serve /graphql with uvicorn (and run bulk issue jobs)."""
    from app.settings import get_settings

    overrides = {
        "host": host,
        "port": port,
        "workers": workers,
        "demo_mode": demo or None,
        "jobs_enabled": False if no_jobs else None,
    }
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"PROMO_WALLET_{name.upper()}"] = str(value)
    get_settings.cache_clear()
    settings = shell.migrated()
    if settings.demo_mode:
        _print_demo(settings)
    from app.ide import prepare_ide_assets
    from app.observability import prepare_metrics_dir
    from app.server import exec_uvicorn

    prepare_ide_assets(settings)  # GraphiQL/React from the npm registry, once, when the IDE is on
    prepare_metrics_dir(settings.workers)
    exec_uvicorn()  # replaces this process, so that uvicorn's workers do not re-import the CLI


def demo() -> None:
    """Seed the demo org, clients, promotions, customers and wallets (idempotent)."""
    _print_demo(shell.migrated())


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
