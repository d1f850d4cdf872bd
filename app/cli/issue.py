"""`promo-wallet issue`: a promotion to the customers of a CSV file, through the campaign service
(app/services/campaigns.py: batches, the 521 retries, which refusals stop the run). This module
reads the file and the options, shows the progress and the summary."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli import shell

if TYPE_CHECKING:
    from rich.table import Table

    from app.cli.csv_input import CustomerFile
    from app.domain.jobs import IssueJob
    from app.domain.models import Principal
    from app.domain.ports import UnitOfWorkFactory
    from app.services.campaigns import IssueSummary
    from app.settings import Settings

MAX_SHOWN = 20


def issue(
    promotion: Annotated[str, typer.Option("--promotion", help="The promotion's id.")],
    context: Annotated[str, typer.Option("--context", help="contextId: the campaign's idempotency key.")],
    file: Annotated[Path, typer.Option("--file", help="CSV of customer ids ('-' reads stdin).")],
    column: Annotated[str | None, typer.Option("--column", help="The id column's header name.")] = None,
    org: shell.OrgOption = None,
    client: shell.ClientOption = None,
    secret: shell.SecretOption = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Customers per call.")] = 5000,
    skip_missing: Annotated[
        bool, typer.Option("--skip-missing", help="Issue the rest of a batch that names unknown customers.")
    ] = False,
    run_async: Annotated[
        bool,
        typer.Option(
            "--async",
            help="Start a bulk issue job (run by the serve processes) and follow it; Ctrl-C detaches.",
        ),
    ] = False,
) -> None:
    """Issue a promotion to the customers of a CSV file (the issuePromotion service, in batches).

    The file holds one id per line, or a column: --column NAME, or a header column named
    customer_id, customerId, customer or id. Re-running the same command (same --context) after
    an interruption issues only what is left. Exit codes: 0 all issued, 1 some refused, 2 bad
    input or credentials (an unknown promotion included).

    Example: promo-wallet issue --org 100737 --promotion 6650f0c2a1b2c3d4e5f60718 --context spring-1
    --file customers.csv
    """

    from app.cli.csv_input import read_customer_ids, read_text
    from app.domain.models import Scope
    from app.services.campaigns import issue_in_batches

    out, err = shell.stdout(), shell.stderr()
    settings = shell.settings()
    if batch_size > settings.max_batch:
        raise shell.fail(err, f"--batch-size is at most PROMO_WALLET_MAX_BATCH ({settings.max_batch})")
    try:
        customers = read_customer_ids(read_text(file), column)
    except shell.BadInput as error:
        raise shell.fail(err, str(error)) from error
    settings = shell.migrated()
    if run_async:
        _start_job(settings, promotion, context, customers.ids, skip_missing, org, client, secret)
        return

    progress = shell.customer_progress(err, "[bold]issuing[/bold] {task.fields[promotion]}")

    async def action(uow_factory: UnitOfWorkFactory, principal: Principal) -> IssueSummary:
        with progress:
            task = progress.add_task("issue", total=len(customers.ids), promotion=promotion)
            return await issue_in_batches(
                uow_factory,
                principal,
                promotion_id=promotion,
                context_id=context,
                customer_ids=customers.ids,
                batch_size=batch_size,
                max_batch=settings.max_batch,
                skip_missing=skip_missing,
                on_batch=lambda sent: progress.advance(task, sent),
            )

    summary = shell.run_as(
        err, settings, org=org, client=client, secret=secret, needs=Scope.WALLET_WRITE, action=action
    )
    out.print(_summary_table(summary, customers, promotion, context))
    for refusal in summary.refusals:
        if refusal.missing:
            out.print(f"missing customers: {_some(list(map(str, refusal.missing)))}", highlight=False)
    if customers.invalid:
        out.print(f"not customer ids: {_some([f'line {n}: {v!r}' for n, v in customers.invalid])}")
    if summary.stopped_by:
        out.print(f"[yellow]stopped:[/yellow] {summary.stopped_by}", highlight=False)
    if summary.refusals or summary.not_sent:
        raise typer.Exit(shell.SOME_FAILED)


def _start_job(
    settings: Settings,
    promotion: str,
    context: str,
    ids: list[int],
    skip_missing: bool,
    org: int | None,
    client: str | None,
    secret: str | None,
) -> None:
    """`--async`: startIssueJob's service, then the job's progress bar (app/cli/jobs.py)."""
    from app.cli.jobs import follow
    from app.domain.models import Scope
    from app.services.jobs import StartIssueJob, start_issue_job

    out, err = shell.stdout(), shell.stderr()
    command = StartIssueJob(
        promotion_id=promotion, context_id=context, customer_ids=list(ids), skip_missing=skip_missing
    )

    async def action(uow_factory: UnitOfWorkFactory, principal: Principal) -> tuple[IssueJob, Principal]:
        job = await start_issue_job(uow_factory, principal, command, max_job_ids=settings.max_job_ids)
        return job, principal

    job, principal = shell.run_as(
        err, settings, org=org, client=client, secret=secret, needs=Scope.WALLET_WRITE, action=action
    )
    err.print(
        f"started job {job.id} ({job.total} customers); any `promo-wallet serve` runs it", highlight=False
    )
    last = follow(err, settings, principal, job)
    out.print(
        f"job {last.id}: {last.state.value} {last.processed}/{last.total}, issued {last.issued_count}, "
        f"already issued {last.already_issued_count}, missing {last.missing_count}",
        highlight=False,
    )
    if last.is_final and last.state.value != "SUCCEEDED":
        raise typer.Exit(shell.SOME_FAILED)


def _some(items: list[str]) -> str:
    more = f" and {len(items) - MAX_SHOWN} more" if len(items) > MAX_SHOWN else ""
    return ", ".join(items[:MAX_SHOWN]) + more


def _summary_table(summary: IssueSummary, customers: CustomerFile, promotion: str, context: str) -> Table:
    from rich.table import Table

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
