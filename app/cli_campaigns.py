"""Campaign commands of `promo-wallet`: `issue` (a promotion to the customers of a CSV file) and
`wallet` (one customer's wallet as a table).

Both call the services directly against PROMO_WALLET_DATABASE_URL, as the GraphQL resolvers do:
`issue` sends each batch through `app.services.issue.issue_promotion`, the service behind the
`issuePromotion` mutation, with the same checks, chunked writes and ledger rows. Issuing is
idempotent per (promotion, contextId, customer), so a run that was interrupted is completed by
running the same command again: customers already issued are counted as such, not issued twice.

Who is acting: `--client/--secret` authenticates an API client of the org (it needs
wallet:write, or wallet:read for `wallet`); `--org N` acts as an operator with shell access to
the database, recorded in the ledger as `cli:<login>`.
"""

from __future__ import annotations

import asyncio
import csv
import getpass
import io
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.domain.errors import (
    CustomerNotFound,
    DomainError,
    EarnedFromTypeChanged,
    EarnNotSupported,
    InvalidRequest,
    MaxActivePromotionsExceeded,
    PromotionExpired,
    PromotionNotFound,
    PromotionTypeNotSupported,
    ResourceLocked,
)
from app.domain.models import Principal, Scope
from app.persistence.database import Database, run_with_database
from app.persistence.migrate import upgrade
from app.persistence.uow import SqlUnitOfWorkFactory
from app.settings import Settings, get_settings

ID_COLUMNS = ("customer_id", "customerid", "customer", "id")
MAX_SHOWN = 20
LOCK_RETRIES = 3


class CampaignError(Exception):
    """A problem with the command's input (file, options): exit code 2 with a message."""


# --- reading the file ----------------------------------------------------------------------------


@dataclass
class CustomerFile:
    ids: list[int]
    duplicates: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (line number, value)


def _is_int(value: str) -> bool:
    return value.strip().lstrip("+").isdigit()


def read_customer_ids(text: str, column: str | None = None) -> CustomerFile:
    """Customer ids from CSV text: one id per line, or a column chosen by `column` (header row
    required) or found by name (customer_id, customerId, customer, id). A first row that is not an
    id is a header. Repeated ids are counted once; values that are not ids are reported by line."""
    rows = list(csv.reader(io.StringIO(text)))
    rows_with_lines = [
        (number, row) for number, row in enumerate(rows, start=1) if any(cell.strip() for cell in row)
    ]
    if not rows_with_lines:
        return CustomerFile(ids=[])
    first_line, first = rows_with_lines[0]
    index = 0
    body = rows_with_lines
    header = [cell.strip() for cell in first]
    if column is not None:
        if column not in header:
            raise CampaignError(f"no column {column!r} in the header row (found: {', '.join(header)})")
        index, body = header.index(column), rows_with_lines[1:]
    elif len(first) > 1:
        lowered = [name.lower() for name in header]
        found = next((name for name in ID_COLUMNS if name in lowered), None)
        if found is None:
            raise CampaignError(
                f"line {first_line} has {len(first)} columns: name the id column with --column"
            )
        index, body = lowered.index(found), rows_with_lines[1:]
    elif not _is_int(first[0]):
        body = rows_with_lines[1:]  # a one-column file with a header row

    result = CustomerFile(ids=[])
    seen: set[int] = set()
    for number, row in body:
        value = row[index].strip() if index < len(row) else ""
        if not _is_int(value) or int(value) <= 0:
            result.invalid.append((number, value))
            continue
        customer_id = int(value)
        if customer_id in seen:
            result.duplicates += 1
            continue
        seen.add(customer_id)
        result.ids.append(customer_id)
    return result


# --- issuing in batches --------------------------------------------------------------------------


@dataclass
class Refusal:
    code: int
    reason: str
    customers: int
    missing: list[int] = field(default_factory=list)


@dataclass
class IssueSummary:
    issued: int = 0
    already_issued: int = 0
    refusals: list[Refusal] = field(default_factory=list)
    not_sent: int = 0
    stopped_by: str | None = None

    @property
    def refused(self) -> int:
        return sum(refusal.customers for refusal in self.refusals)


def stops_the_run(error: DomainError) -> bool:
    """Refusals about the promotion or the contextId, not about one batch's customers: every later
    batch would be refused the same way, so the run stops there."""
    if isinstance(error, InvalidRequest):
        return error.field in {"contextId", "org", "customerIds"}
    return isinstance(
        error,
        PromotionNotFound
        | PromotionExpired
        | PromotionTypeNotSupported
        | EarnNotSupported
        | EarnedFromTypeChanged
        | MaxActivePromotionsExceeded,
    )


async def issue_in_batches(
    database: Database,
    principal: Principal,
    *,
    promotion_id: str,
    context_id: str,
    customer_ids: Sequence[int],
    batch_size: int,
    max_batch: int,
    skip_missing: bool = False,
    on_batch: Callable[[int], None] = lambda sent: None,
) -> IssueSummary:
    from app.services.issue import IssuePromotion, issue_promotion

    summary = IssueSummary()

    async def send(batch: list[int]) -> None:
        for attempt in range(LOCK_RETRIES + 1):
            try:
                result = await issue_promotion(
                    SqlUnitOfWorkFactory(database),
                    principal,
                    IssuePromotion(promotion_id=promotion_id, context_id=context_id, customer_ids=batch),
                    max_batch=max_batch,
                    include_entries=False,
                )
            except ResourceLocked:
                if attempt == LOCK_RETRIES:
                    raise
                await asyncio.sleep(0.5 * 2**attempt)
                continue
            summary.issued += result.issued_count
            summary.already_issued += result.already_issued_count
            return

    batches = [list(customer_ids[i : i + batch_size]) for i in range(0, len(customer_ids), batch_size)]
    for position, batch in enumerate(batches):
        try:
            await send(batch)
        except CustomerNotFound as error:
            missing = [customer_id for customer_id in batch if customer_id in set(error.customer_ids)]
            rest = [customer_id for customer_id in batch if customer_id not in set(missing)]
            refused = len(missing) if skip_missing else len(batch)
            summary.refusals.append(Refusal(404, error.message, refused, missing))
            if skip_missing and rest:
                try:
                    await send(rest)
                except DomainError as again:
                    summary.refusals.append(Refusal(int(again.code), again.message, len(rest)))
        except DomainError as error:
            summary.refusals.append(Refusal(int(error.code), error.message, len(batch)))
            if stops_the_run(error):
                summary.not_sent = sum(len(later) for later in batches[position + 1 :])
                summary.stopped_by = error.message
                on_batch(len(batch))
                break
        on_batch(len(batch))
    return summary


# --- commands ------------------------------------------------------------------------------------


async def _principal(
    database: Database,
    settings: Settings,
    org: int | None,
    client: str | None,
    secret: str | None,
    needs: Scope,
) -> Principal:
    if client is not None or secret is not None:
        if client is None or secret is None:
            raise CampaignError("give both --client and --secret")
        from app.auth.authenticator import AuthenticationFailed, Authenticator

        authenticator = Authenticator(
            SqlUnitOfWorkFactory(database), cache_seconds=0, token_ttl_seconds=settings.token_ttl_seconds
        )
        try:
            principal = await authenticator.verify_client(client, secret)
        except AuthenticationFailed as error:
            raise CampaignError(str(error)) from error
        if not principal.has(needs):
            raise CampaignError(f"client {client} lacks the {needs.value} scope")
        if org is not None and org != principal.org_id:
            raise CampaignError(f"client {client} belongs to org {principal.org_id}, not {org}")
        return principal
    if org is None:
        raise CampaignError("give --org N (operator) or --client and --secret (an API client of the org)")
    from app.persistence.uow import SqlUnitOfWork

    async with SqlUnitOfWork(database) as uow:
        if await uow.orgs.get(org) is None:
            raise CampaignError(f"org {org} does not exist")
    return Principal(
        org_id=org,
        client_id=0,
        username=f"cli:{getpass.getuser()}",
        scopes=frozenset({Scope.ADMIN, Scope.WALLET_READ, Scope.WALLET_WRITE}),
    )


def _fail(console: Console, message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


OrgOption = Annotated[int | None, typer.Option("--org", help="Act as an operator of this org.")]
ClientOption = Annotated[str | None, typer.Option("--client", help="API client username (instead of --org).")]
SecretOption = Annotated[
    str | None, typer.Option("--secret", help="API client secret.", envvar="PROMO_WALLET_CLIENT_SECRET")
]


def issue(
    promotion: Annotated[str, typer.Option("--promotion", help="The promotion's id.")],
    context: Annotated[str, typer.Option("--context", help="contextId: the campaign's idempotency key.")],
    file: Annotated[Path, typer.Option("--file", help="CSV of customer ids ('-' reads stdin).")],
    column: Annotated[str | None, typer.Option("--column", help="The id column's header name.")] = None,
    org: OrgOption = None,
    client: ClientOption = None,
    secret: SecretOption = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Customers per call.")] = 5000,
    skip_missing: Annotated[
        bool, typer.Option("--skip-missing", help="Issue the rest of a batch that names unknown customers.")
    ] = False,
) -> None:
    """Issue a promotion to the customers of a CSV file (the issuePromotion service, in batches).

    Re-running the same command (same --context) after an interruption issues only what is left.
    """
    out, err = Console(), Console(stderr=True)
    settings = get_settings()
    if batch_size > settings.max_batch:
        raise _fail(err, f"--batch-size is at most PROMO_WALLET_MAX_BATCH ({settings.max_batch})")
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8-sig")
        customers = read_customer_ids(text, column)
    except (OSError, UnicodeDecodeError, CampaignError) as error:
        raise _fail(err, str(error)) from error
    upgrade(settings.database_url)

    async def action(database: Database) -> IssueSummary:
        principal = await _principal(database, settings, org, client, secret, Scope.WALLET_WRITE)
        with Progress(
            TextColumn("[bold]issuing[/bold] {task.fields[promotion]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("customers"),
            TimeElapsedColumn(),
            console=err,
            transient=False,
        ) as progress:
            task = progress.add_task("issue", total=len(customers.ids), promotion=promotion)
            return await issue_in_batches(
                database,
                principal,
                promotion_id=promotion,
                context_id=context,
                customer_ids=customers.ids,
                batch_size=batch_size,
                max_batch=settings.max_batch,
                skip_missing=skip_missing,
                on_batch=lambda sent: progress.advance(task, sent),
            )

    try:
        summary = run_with_database(settings, action)
    except CampaignError as error:
        raise _fail(err, str(error)) from error
    except DomainError as error:
        raise _fail(err, f"{int(error.code)}: {error.message}") from error

    out.print(_summary_table(summary, customers, promotion, context))
    for refusal in summary.refusals:
        if refusal.missing:
            shown = ", ".join(map(str, refusal.missing[:MAX_SHOWN]))
            more = f" and {len(refusal.missing) - MAX_SHOWN} more" if len(refusal.missing) > MAX_SHOWN else ""
            out.print(f"missing customers: {shown}{more}")
    if customers.invalid:
        shown = ", ".join(f"line {n}: {v!r}" for n, v in customers.invalid[:MAX_SHOWN])
        out.print(f"not customer ids: {shown}")
    if summary.stopped_by:
        out.print(f"[yellow]stopped:[/yellow] {summary.stopped_by}")
    if summary.refusals or summary.not_sent:
        raise typer.Exit(1)


def _summary_table(summary: IssueSummary, customers: CustomerFile, promotion: str, context: str) -> Table:
    table = Table(title=f"promotion {promotion} · contextId {context}")
    table.add_column("result")
    table.add_column("customers", justify="right")
    table.add_column("reason")
    table.add_row("[green]issued[/green]", str(summary.issued), "new wallet entries")
    table.add_row("already issued", str(summary.already_issued), "held this contextId's entry already")
    for refusal in summary.refusals:
        table.add_row(f"[red]refused {refusal.code}[/red]", str(refusal.customers), refusal.reason)
    if summary.not_sent:
        table.add_row("[yellow]not sent[/yellow]", str(summary.not_sent), "the run stopped at a refusal")
    if customers.duplicates:
        table.add_row("duplicates", str(customers.duplicates), "repeated in the file, sent once")
    if customers.invalid:
        table.add_row("[red]invalid[/red]", str(len(customers.invalid)), "not a customer id: not sent")
    return table


STATUS_STYLE = {
    "UNLOCKED": "green",
    "LOCKED": "yellow",
    "REDEEMED": "blue",
    "EXPIRED": "dim",
    "REVOKED": "red",
}


def wallet(
    customer_id: Annotated[int, typer.Argument(help="The customer's id.")],
    org: OrgOption = None,
    client: ClientOption = None,
    secret: SecretOption = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", help="UNLOCKED, LOCKED, REDEEMED, EXPIRED or REVOKED; repeatable."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="Entries to show.")] = 100,
) -> None:
    """Print a customer's wallet as a table."""
    from app.domain import rules
    from app.domain.clock import now_ms
    from app.domain.models import EarnedPromotionStatus
    from app.services import queries

    out, err = Console(), Console(stderr=True)
    settings = get_settings()
    try:
        statuses = [EarnedPromotionStatus(s.upper()) for s in status] if status else None
    except ValueError as error:
        raise _fail(err, str(error)) from error
    upgrade(settings.database_url)

    async def action(database: Database) -> Table:
        principal = await _principal(database, settings, org, client, secret, Scope.WALLET_READ)
        uow_factory = SqlUnitOfWorkFactory(database)
        page = await queries.wallet_page(
            uow_factory,
            principal,
            customer_id=customer_id,
            statuses=statuses,
            promotion_id=None,
            first=limit,
            after=None,
        )
        total = await queries.wallet_count(
            uow_factory, principal, customer_id=customer_id, statuses=statuses, promotion_id=None
        )
        promotions = await queries.promotions_by_id(
            uow_factory, principal.org_id, sorted({entry.promotion_id for entry in page.items})
        )
        from app.persistence.uow import SqlUnitOfWork

        async with SqlUnitOfWork(database) as uow:
            found = await uow.orgs.get(principal.org_id)
        zone = ZoneInfo(found.settings.timezone if found else "UTC")
        now = now_ms()
        shown = f"{len(page.items)} of {total}" if total > len(page.items) else str(total)
        table = Table(
            title=f"wallet of customer {customer_id} · org {principal.org_id} · {shown} entries",
            caption=f"times in {zone.key}",
        )
        for name in ("promotion", "type", "status", "used", "valid till", "earned from", "entry"):
            table.add_column(name, justify="right" if name == "used" else "left", overflow="fold")
        for entry in page.items:
            promotion = promotions.get(entry.promotion_id)
            state = rules.earned_status(entry, now).value
            table.add_row(
                promotion.name if promotion else entry.promotion_id,
                promotion.type.value if promotion else "",
                f"[{STATUS_STYLE.get(state, '')}]{state}[/]",
                f"{entry.redemptions_used}/{entry.redemptions_allowed}",
                _local_time(entry.valid_till, zone),
                f"{entry.earned_from_type.value} {entry.earned_from_id}",
                entry.id,
            )
        return table

    try:
        table = run_with_database(settings, action)
    except CampaignError as error:
        raise _fail(err, str(error)) from error
    except DomainError as error:
        raise _fail(err, f"{int(error.code)}: {error.message}") from error
    out.print(table)


def _local_time(epoch_ms: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def register(cli: typer.Typer, names: Iterable[str] = ("issue", "wallet")) -> None:
    commands: dict[str, Callable[..., None]] = {"issue": issue, "wallet": wallet}
    for name in names:
        cli.command(name)(commands[name])
