"""`promo-wallet orgs create`."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from app.cli import shell

app = typer.Typer(help="Manage orgs.", no_args_is_help=True)


@app.command("create")
def create(
    id: Annotated[int, typer.Option("--id", help="The org's numeric id.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    timezone: Annotated[str, typer.Option(help="IANA timezone for validTill.")] = "UTC",
) -> None:
    """Create an org; prints it as one JSON object.

    Example: promo-wallet orgs create --id 100737 --name "Acme" --timezone Asia/Kolkata
    """
    from app.domain.errors import DomainError
    from app.services.admin import create_org

    settings = shell.migrated()
    try:
        org = shell.run(settings, lambda uow: create_org(uow, org_id=id, name=name, timezone=timezone))
    except DomainError as error:
        shell.refuse(f"{int(error.code)}: {error.message}")
    typer.echo(json.dumps({"id": org.id, "name": org.name, "timezone": org.settings.timezone}))
