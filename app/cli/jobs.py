"""`promo-wallet jobs` (list the org's bulk issue jobs), `promo-wallet jobs cancel ID`, and the
progress bar that `promo-wallet issue --async` follows a job with. The jobs themselves are run by
the `serve` processes (app/services/job_runner.py); this module starts, reads and cancels them
through app/services/jobs.py, like the GraphQL face."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from app.cli import shell

if TYPE_CHECKING:
    from rich.console import Console

    from app.domain.jobs import IssueJob
    from app.domain.models import Principal
    from app.domain.ports import UnitOfWorkFactory
    from app.settings import Settings

FOLLOW_EVERY_S = 0.5

app = typer.Typer(
    help="Bulk issue jobs: list them, cancel one (`issue --async` starts one).",
    invoke_without_command=True,
    no_args_is_help=False,
)

StateOption = Annotated[
    str | None, typer.Option("--state", help="QUEUED, RUNNING, SUCCEEDED, FAILED or CANCELLED.")
]


@app.callback()
def jobs(
    ctx: typer.Context,
    state: StateOption = None,
    org: shell.OrgOption = None,
    client: shell.ClientOption = None,
    secret: shell.SecretOption = None,
    first: Annotated[int, typer.Option("--first", min=1, max=100, help="How many, newest first.")] = 20,
) -> None:
    """List the org's bulk issue jobs, newest first (`jobs cancel ID` cancels one)."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.table import Table

    from app.domain.jobs import JobState
    from app.domain.models import Scope
    from app.services.jobs import issue_jobs_page

    out, err = shell.stdout(), shell.stderr()
    try:
        wanted = JobState(state.upper()) if state else None
    except ValueError as error:
        raise shell.fail(err, f"--state is one of {', '.join(s.value for s in JobState)}") from error
    settings = shell.migrated()

    async def action(uow_factory: UnitOfWorkFactory, principal: Principal) -> list[IssueJob]:
        page = await issue_jobs_page(uow_factory, principal, state=wanted, first=first, after=None)
        return page.items

    found = shell.run_as(
        err, settings, org=org, client=client, secret=secret, needs=Scope.WALLET_READ, action=action
    )
    table = Table(title="issue jobs" + (f" · {wanted.value}" if wanted else ""))
    for column in ("id", "state", "promotion", "contextId", "processed", "issued", "already", "missing"):
        table.add_column(
            column, justify="right" if column in {"processed", "issued", "already", "missing"} else "left"
        )
    for job in found:
        table.add_row(
            job.id,
            job.state.value,
            job.promotion_id,
            job.context_id,
            f"{job.processed}/{job.total}",
            str(job.issued_count),
            str(job.already_issued_count),
            str(job.missing_count),
        )
    out.print(table)


@app.command("cancel")
def cancel(
    job_id: Annotated[str, typer.Argument(help="The job's id.")],
    org: shell.OrgOption = None,
    client: shell.ClientOption = None,
    secret: shell.SecretOption = None,
) -> None:
    """Cancel a QUEUED or RUNNING job: it stops after its current chunk; what was written stays."""
    from app.domain.models import Scope
    from app.services.jobs import cancel_issue_job

    out, err = shell.stdout(), shell.stderr()
    settings = shell.migrated()

    async def action(uow_factory: UnitOfWorkFactory, principal: Principal) -> IssueJob:
        return await cancel_issue_job(uow_factory, principal, job_id)

    job = shell.run_as(
        err, settings, org=org, client=client, secret=secret, needs=Scope.WALLET_WRITE, action=action
    )
    out.print(f"job {job.id}: {job.state.value} at {job.processed}/{job.total}", highlight=False)


def follow(err: Console, settings: Settings, principal: Principal, job: IssueJob) -> IssueJob:
    """A progress bar of `job` until it ends; Ctrl-C detaches (the job goes on). The last state read."""
    import asyncio

    from app.persistence.database import run_with_database
    from app.persistence.uow import SqlUnitOfWorkFactory
    from app.services.jobs import require_issue_job

    progress = shell.customer_progress(err, "[bold]job[/bold] {task.fields[job]} {task.fields[state]}")
    last = job

    async def watch(uow_factory: UnitOfWorkFactory) -> IssueJob:
        nonlocal last
        with progress:
            task = progress.add_task("job", total=job.total, job=job.id, state=job.state.value)
            while not last.is_final:
                await asyncio.sleep(FOLLOW_EVERY_S)
                last = await require_issue_job(uow_factory, principal, job.id)
                progress.update(task, completed=last.processed, state=last.state.value)
        return last

    try:
        return run_with_database(settings, lambda database: watch(SqlUnitOfWorkFactory(database)))
    except KeyboardInterrupt:
        err.print(
            f"detached: job {job.id} goes on ({last.processed}/{last.total}); `promo-wallet jobs` shows it",
            highlight=False,
        )
        return last
