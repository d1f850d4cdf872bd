"""startIssueJob, cancelIssueJob, issueJob and issueJobs (DESIGN §8.4): the requests about bulk
issue jobs. The running is app/services/job_runner.py's.

A start runs the request-level checks of issuePromotion, in its order and with its own code
(services/issue.py: the shape, then the promotion and the org's cap), before anything is stored,
so a refused start stores nothing. The checks about the customers (404, 713, the earn limit) are
the runner's, at the job's start and per chunk as issuePromotion makes them per chunk: they read
the whole list, which is what the job is there to keep out of the request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from app.domain.clock import now_ms
from app.domain.commands import IssuePromotion
from app.domain.errors import IssueJobNotFound
from app.domain.ids import new_object_id
from app.domain.jobs import DEFAULT_MAX_JOB_IDS, IssueJob, JobState, check_cancellable
from app.domain.models import Page, Principal
from app.domain.paging import check_page_size
from app.domain.ports import UnitOfWorkFactory
from app.services.issue import check_promotion_and_cap, check_request_shape


@dataclass(frozen=True, slots=True)
class StartIssueJob:
    promotion_id: str
    context_id: str
    customer_ids: list[object]  # as received: nulls and bad values are refused with 1006
    skip_missing: bool = False


async def start_issue_job(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    command: StartIssueJob,
    *,
    max_job_ids: int = DEFAULT_MAX_JOB_IDS,
    now: int | None = None,
) -> IssueJob:
    """400 contextId → 1006 ids → 400 more than `max_job_ids` → 404 promotion → 707 → 714 → 706 →
    705; then the job is stored QUEUED with its distinct ids, sorted (the order issuePromotion
    writes them in, so that overlapping writers lock in one order)."""
    issue = IssuePromotion(
        promotion_id=command.promotion_id, context_id=command.context_id, customer_ids=command.customer_ids
    )
    distinct = check_request_shape(issue, max_ids=max_job_ids, per="job")
    at = now_ms() if now is None else now
    async with uow_factory(write=True) as uow:
        promotion, _ = await check_promotion_and_cap(uow, principal, issue, at)
        job = IssueJob(
            org_id=principal.org_id,
            id=new_object_id(at),
            state=JobState.QUEUED,
            promotion_id=promotion.id,
            context_id=command.context_id,
            skip_missing=command.skip_missing,
            actor=principal.username,
            total=len(distinct),
            processed=0,
            issued_count=0,
            already_issued_count=0,
            missing_count=0,
            error=None,
            created_at=at,
            started_at=None,
            finished_at=None,
        )
        await uow.jobs.add(job, sorted(distinct))
        await uow.commit()
    return job


async def get_issue_job(uow_factory: UnitOfWorkFactory, principal: Principal, job_id: str) -> IssueJob | None:
    async with uow_factory() as uow:
        return await uow.jobs.get(principal.org_id, job_id)


async def require_issue_job(uow_factory: UnitOfWorkFactory, principal: Principal, job_id: str) -> IssueJob:
    """The job, or IssueJobNotFound (another org's job is not found, DESIGN §2)."""
    job = await get_issue_job(uow_factory, principal, job_id)
    if job is None:
        raise IssueJobNotFound(f"Issue job {job_id} not found")
    return job


# How often a follower reads its job: any process may run it, so the row is the only news.
FOLLOW_EVERY_S = 0.2


async def follow_issue_job(
    uow_factory: UnitOfWorkFactory, principal: Principal, job_id: str, *, every_s: float = FOLLOW_EVERY_S
) -> AsyncIterator[IssueJob]:
    """The job now, then each time its progress or state changed, ending with its final state (at
    once for a finished job). IssueJobNotFound for an unknown job or another org's."""
    last = await require_issue_job(uow_factory, principal, job_id)
    yield last
    while not last.is_final:
        await asyncio.sleep(every_s)
        current = await require_issue_job(uow_factory, principal, job_id)
        if (current.state, current.processed) != (last.state, last.processed):
            last = current
            yield current


async def missing_customer_ids(
    uow_factory: UnitOfWorkFactory, principal: Principal, job_id: str, *, first: int
) -> list[int]:
    """The first `first` ids of the job that were not customers of the org (none of another org's)."""
    check_page_size(first, maximum=10_000)
    async with uow_factory() as uow:
        if await uow.jobs.get(principal.org_id, job_id) is None:
            return []
        return await uow.jobs.missing_ids(job_id, first=first)


async def issue_jobs_page(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    *,
    state: JobState | None,
    first: int,
    after: str | None,
) -> Page[IssueJob]:
    check_page_size(first)
    async with uow_factory() as uow:
        return await uow.jobs.page(principal.org_id, state=state, first=first, after=after)


async def issue_jobs_count(
    uow_factory: UnitOfWorkFactory, principal: Principal, *, state: JobState | None
) -> int:
    async with uow_factory() as uow:
        return await uow.jobs.count(principal.org_id, state=state)


async def cancel_issue_job(
    uow_factory: UnitOfWorkFactory, principal: Principal, job_id: str, *, now: int | None = None
) -> IssueJob:
    """A QUEUED job is CANCELLED at once; a RUNNING one too, and its runner stops at its next chunk:
    the chunk in flight, if any, commits first (its job row is that chunk's until then), and what
    was written stays. A final job is a 400; an unknown one (or another org's) a 404."""
    at = now_ms() if now is None else now
    async with uow_factory(write=True) as uow:
        job = await uow.jobs.get(principal.org_id, job_id)
        if job is None:
            raise IssueJobNotFound(f"Issue job {job_id} not found")
        check_cancellable(job)
        if not await uow.jobs.finish(job_id, JobState.CANCELLED, now=at):
            # Finished between the read and the update (PostgreSQL: its last chunk committed).
            current = await uow.jobs.get(principal.org_id, job_id)
            check_cancellable(current if current is not None else job)
        await uow.commit()
    async with uow_factory() as uow:
        cancelled = await uow.jobs.get(principal.org_id, job_id)
    assert cancelled is not None  # jobs are never deleted
    return cancelled
