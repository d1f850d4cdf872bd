"""`promo-wallet customers import FILE.csv`: the importCustomers use case from the shell, in
batches through the campaign service (the 521 retries, the stop rules); this module reads the
file and the options, shows the progress and the results."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli import shell

if TYPE_CHECKING:
    from rich.table import Table

    from app.cli.csv_input import CustomerRows
    from app.domain.models import Principal
    from app.domain.ports import UnitOfWorkFactory
    from app.services.campaigns import ImportSummary

app = typer.Typer(help="Manage customers.", no_args_is_help=True)

MAX_SHOWN = 20


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV of customers ('-' reads stdin).", metavar="FILE.csv")],
    column: Annotated[str | None, typer.Option("--column", help="The id column's header name.")] = None,
    org: shell.OrgOption = None,
    client: shell.ClientOption = None,
    secret: shell.SecretOption = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Customers per call.")] = 5000,
) -> None:
    """Import customers from a CSV file (the importCustomers mutation, in batches).

    The id column is found as `issue` finds it (--column NAME, or a header column named
    customer_id, customerId, customer or id; a file of one id per line needs no header). Columns
    named mobile (or phone), email and external_id (or externalId) are the customer's
    identifiers; other columns are ignored. A customer already there with the same identifiers is
    skipped, so a run can be repeated; one whose identifiers conflict is rejected with its line.
    Needs --org N (operator) or an admin client. Exit codes: 0 every row imported or already
    there, 1 some rows not imported (listed), 2 bad input or credentials.

    Example: promo-wallet customers import customers.csv --org 100737
    (customers.csv: a header row such as customer_id,mobile,email, then one customer a line)
    """

    from app.cli.csv_input import read_customers, read_text
    from app.domain.models import Scope
    from app.services.campaigns import import_in_batches

    out, err = shell.stdout(), shell.stderr()
    settings = shell.settings()
    if batch_size > settings.max_batch:
        raise shell.fail(err, f"--batch-size is at most PROMO_WALLET_MAX_BATCH ({settings.max_batch})")
    try:
        rows = read_customers(read_text(file), column)
    except shell.BadInput as error:
        raise shell.fail(err, str(error)) from error
    settings = shell.migrated()

    progress = shell.customer_progress(err, "[bold]importing[/bold] {task.fields[file]}")

    async def action(uow_factory: UnitOfWorkFactory, principal: Principal) -> ImportSummary:
        with progress:
            task = progress.add_task("import", total=len(rows.customers), file=str(file))
            return await import_in_batches(
                uow_factory,
                principal,
                rows.customers,
                batch_size=batch_size,
                max_batch=settings.max_batch,
                on_batch=lambda sent: progress.advance(task, sent),
            )

    summary = shell.run_as(
        err, settings, org=org, client=client, secret=secret, needs=Scope.ADMIN, action=action
    )
    out.print(_results_table(summary, rows, str(file)))
    if rows.ignored_columns:
        out.print(f"ignored columns: {', '.join(rows.ignored_columns)}", highlight=False)
    if summary.rejected:
        lines = [
            f"line {rows.lines[r.position]} (customer {rows.customers[r.position].id}): {r.error.message}"
            for r in summary.rejected
        ]
        out.print("rejected:\n  " + "\n  ".join(_some(lines)), highlight=False)
    if rows.invalid:
        out.print(f"not customer ids: {', '.join(_some([f'line {n}: {v!r}' for n, v in rows.invalid]))}")
    if summary.stopped_by:
        out.print(f"[yellow]stopped:[/yellow] {summary.stopped_by}", highlight=False)
    if summary.rejected or summary.refusals or summary.not_sent or rows.invalid:
        raise typer.Exit(shell.SOME_FAILED)


def _some(items: list[str]) -> list[str]:
    if len(items) <= MAX_SHOWN:
        return items
    return [*items[:MAX_SHOWN], f"and {len(items) - MAX_SHOWN} more"]


def _results_table(summary: ImportSummary, rows: CustomerRows, file: str) -> Table:
    from rich.table import Table

    read = ", ".join(["id", *rows.identifier_columns])
    table = Table(title=f"customers of {file} · columns {read}")
    table.add_column("result")
    table.add_column("customers", justify="right")
    table.add_column("reason")
    table.add_row("[green]created[/green]", str(summary.created), "new customers")
    table.add_row("already there", str(summary.skipped), "same id and identifiers: skipped")
    reasons = Counter((int(r.error.code), getattr(r.error, "field", None)) for r in summary.rejected)
    for (code, field), count in sorted(reasons.items(), key=lambda item: (item[0][0], str(item[0][1]))):
        about = f"about {field}" if field else "see below"
        table.add_row(f"[red]rejected {code}[/red]", str(count), f"{about}: listed below")
    for refusal in summary.refusals:
        table.add_row(f"[red]refused {refusal.code}[/red]", str(refusal.customers), refusal.reason)
    if summary.not_sent:
        table.add_row("[yellow]not sent[/yellow]", str(summary.not_sent), "the run stopped at a refusal")
    if rows.invalid:
        table.add_row("[red]invalid[/red]", str(len(rows.invalid)), "not a customer id: not sent")
    return table
