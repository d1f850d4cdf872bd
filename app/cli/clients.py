"""`promo-wallet clients create`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from app.cli import shell

app = typer.Typer(help="Manage API clients.", no_args_is_help=True)


@app.command("create")
def create(
    org: Annotated[int, typer.Option(help="The org the client belongs to.")],
    name: Annotated[str, typer.Option(help="A label for people (who uses it); not the username.")],
    scope: Annotated[list[str], typer.Option(help="wallet:read, wallet:write or admin; repeatable.")],
    username: Annotated[
        str | None,
        typer.Option(help="The username it signs in with; a generated client-<12 hex> when left out."),
    ] = None,
) -> None:
    """Create an API client; prints {"username": ..., "password": ...} once.

    --name is only a label; the client signs in with the printed username (yours with --username,
    else generated) and password, which is shown this once.

    Example: promo-wallet clients create --org 100737 --name "Checkout" --username pos-1
    --scope wallet:read --scope wallet:write
    """
    from app.domain.errors import DomainError
    from app.services.admin import create_client

    settings = shell.migrated()
    try:
        credentials = shell.run(
            settings,
            lambda uow: create_client(uow, org_id=org, name=name, scopes=scope, username=username),
        )
    except DomainError as error:
        shell.refuse(f"{int(error.code)}: {error.message}")
    typer.echo(json.dumps({"username": credentials.username, "password": credentials.password}))
