"""What every command of the CLI shares: settings, the database wired into the services as a
`SqlUnitOfWorkFactory`, who is acting, and how a refusal ends the command (exit 2).

Imports of SQLAlchemy, Alembic and pydantic-settings are inside the functions: the group modules
import this one at their top, and `--help` must not pay for a database stack it does not use."""

from __future__ import annotations

import getpass
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from app.domain.models import Principal, Scope
    from app.domain.ports import UnitOfWorkFactory
    from app.settings import Settings

T = TypeVar("T")

BAD_INPUT = 2  # bad input, credentials or a refusal of the whole command (README "Command line")
SOME_FAILED = 1  # some rows or batches were refused, or the database was busy (521): not the input

OrgOption = Annotated[int | None, typer.Option("--org", help="Act as an operator of this org.")]
ClientOption = Annotated[str | None, typer.Option("--client", help="API client username (instead of --org).")]
SecretOption = Annotated[
    str | None, typer.Option("--secret", help="API client secret.", envvar="PROMO_WALLET_CLIENT_SECRET")
]


class BadInput(Exception):
    """A problem with the command's input (file, options, credentials): exit 2 with a message."""


def settings() -> Settings:
    from app.settings import get_settings

    return get_settings()


def migrated() -> Settings:
    """The settings, once the database at PROMO_WALLET_DATABASE_URL is migrated to head."""
    from app.persistence.migrate import upgrade

    current = settings()
    upgrade(current.database_url)
    return current


def run(current: Settings, action: Callable[[UnitOfWorkFactory], Awaitable[T]]) -> T:
    """`action` on the SQL unit-of-work factory of a database of its own, disposed after."""
    from app.persistence.database import run_with_database
    from app.persistence.uow import SqlUnitOfWorkFactory

    return run_with_database(current, lambda database: action(SqlUnitOfWorkFactory(database)))


def refuse(message: str) -> NoReturn:
    """Plain: `error: <message>` on stderr, exit 2 (the admin commands that print JSON on stdout)."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(BAD_INPUT)


def fail(console: Console, message: str) -> typer.Exit:
    """Rich: the same line in red, for the commands that draw tables and progress bars."""
    console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(BAD_INPUT)


def customer_progress(console: Console, heading: str) -> Progress:
    """The bar every long command shows: `heading` (Rich markup; may name task fields), the bar, done
    of total customers and the time taken; left on screen when done."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn(heading),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("customers"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def stderr() -> Console:
    from rich.console import Console

    return Console(stderr=True)


def stdout() -> Console:
    from rich.console import Console

    return Console()


async def principal(
    uow_factory: UnitOfWorkFactory,
    current: Settings,
    *,
    org: int | None,
    client: str | None,
    secret: str | None,
    needs: Scope,
) -> Principal:
    """Who is acting: `--client/--secret`, an API client of the org with its scopes (it must hold
    `needs`), or `--org N`, an operator with shell access to the database, recorded as `cli:<login>`
    with every scope. A missing org is the services' one answer (400 on `org`)."""
    from app.domain.models import Principal, Scope
    from app.services.admin import get_org

    if client is not None or secret is not None:
        if client is None or secret is None:
            raise BadInput("give both --client and --secret")
        from app.auth.authenticator import AuthenticationFailed, Authenticator

        authenticator = Authenticator(
            uow_factory, cache_seconds=0, token_ttl_seconds=current.token_ttl_seconds
        )
        try:
            found = await authenticator.verify_client(client, secret)
        except AuthenticationFailed as error:
            raise BadInput(str(error)) from error
        if not found.has(needs):
            raise BadInput(f"client {client} lacks the {needs.value} scope")
        if org is not None and org != found.org_id:
            raise BadInput(f"client {client} belongs to org {found.org_id}, not {org}")
        return found
    if org is None:
        raise BadInput("give --org N (operator) or --client and --secret (an API client of the org)")
    await get_org(uow_factory, org)
    return Principal(
        org_id=org,
        client_id=0,
        username=f"cli:{getpass.getuser()}",
        scopes=frozenset({Scope.ADMIN, Scope.WALLET_READ, Scope.WALLET_WRITE}),
    )


def run_as(
    console: Console,
    current: Settings,
    *,
    org: int | None,
    client: str | None,
    secret: str | None,
    needs: Scope,
    action: Callable[[UnitOfWorkFactory, Principal], Awaitable[T]],
) -> T:
    """`action` as the principal the options name. Bad input and refusals of the whole command end
    it with exit 2 and one line on `console`; a wallet lock not won in time (521) with exit 1."""
    from app.domain.errors import DomainError, ResourceLocked

    async def acting(uow_factory: UnitOfWorkFactory) -> T:
        who = await principal(uow_factory, current, org=org, client=client, secret=secret, needs=needs)
        return await action(uow_factory, who)

    try:
        return run(current, acting)
    except BadInput as error:
        raise fail(console, str(error)) from error
    except ResourceLocked as error:
        console.print(f"[red]error:[/red] {int(error.code)}: {error.message}; run it again", highlight=False)
        raise typer.Exit(SOME_FAILED) from error
    except DomainError as error:
        raise fail(console, f"{int(error.code)}: {error.message}") from error
