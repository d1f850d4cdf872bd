"""Bulk issue jobs on the query side (DESIGN §8.4): the IssueJob type, `issueJob(id)` and
`issueJobs(state, first, after)`, in a mixin of the Query root. Progress is read from the
database, so any process answers for a job that any other one runs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from app.domain import models
from app.domain.jobs import IssueJob as DomainIssueJob
from app.domain.jobs import JobState
from app.graphql.context import Info
from app.graphql.errors import Error, to_graphql_error
from app.graphql.permissions import CanReadWallets
from app.graphql.scalars import Long
from app.graphql.types import DEFAULT_PAGE_SIZE, PageInfo, _Counted
from app.services import jobs

strawberry.enum(JobState, name="JobState")

# How many of a failed job's missing ids its CustomerNotFoundError lists (all are in
# missingCustomerIds, which pages them).
ERROR_CUSTOMER_IDS = 100


@strawberry.type(description="A bulk issue job (startIssueJob): its state and progress.")
class IssueJob:
    id: str
    state: JobState
    promotion_id: str
    context_id: str
    total: int = strawberry.field(description="Distinct customer ids of the job.")
    processed: int = strawberry.field(description="Ids whose chunk is committed (missing ones too).")
    issued_count: int = strawberry.field(description="Entries created by the job.")
    already_issued_count: int = strawberry.field(
        description="Customers who held this contextId's entry already."
    )
    created_at: Long
    started_at: Long | None
    finished_at: Long | None
    _domain: strawberry.Private[DomainIssueJob]

    @classmethod
    def from_domain(cls, job: DomainIssueJob) -> IssueJob:
        return cls(
            id=job.id,
            state=job.state,
            promotion_id=job.promotion_id,
            context_id=job.context_id,
            total=job.total,
            processed=job.processed,
            issued_count=job.issued_count,
            already_issued_count=job.already_issued_count,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            _domain=job,
        )

    @strawberry.field(
        description="Ids that were not customers of the org (listed once the job checked them)."
    )
    async def missing_customer_ids(self, info: Info, first: int | None = 100) -> list[Long]:
        if not self._domain.missing_count:
            return []
        return await jobs.missing_customer_ids(
            info.context.uow_factory, info.context.principal, self.id, first=100 if first is None else first
        )

    @strawberry.field(
        description="Why a FAILED job failed (CustomerNotFoundError lists the first 100 missing ids)."
    )
    async def error(self, info: Info) -> Error | None:
        if self._domain.error is None:
            return None
        missing = await self.missing_customer_ids(info, ERROR_CUSTOMER_IDS)
        return to_graphql_error(self._domain.error.rebuild(missing))


@strawberry.type
class IssueJobEdge:
    cursor: str
    node: IssueJob


@strawberry.type
class IssueJobConnection(_Counted):
    edges: list[IssueJobEdge]
    page_info: PageInfo

    @classmethod
    def from_page(
        cls, page: models.Page[DomainIssueJob], count: Callable[[], Awaitable[int]]
    ) -> IssueJobConnection:
        return cls(
            edges=[
                IssueJobEdge(cursor=c, node=IssueJob.from_domain(job))
                for job, c in zip(page.items, page.cursors, strict=True)
            ],
            page_info=PageInfo(
                has_next_page=page.has_next_page, end_cursor=page.cursors[-1] if page.cursors else None
            ),
            _count=count,
        )


@strawberry.type
class IssueJobQueries:
    @strawberry.field(
        permission_classes=[CanReadWallets], description="A bulk issue job of the caller's org."
    )
    async def issue_job(self, info: Info, id: str) -> IssueJob | None:
        found = await jobs.get_issue_job(info.context.uow_factory, info.context.principal, id)
        return IssueJob.from_domain(found) if found is not None else None

    @strawberry.field(
        permission_classes=[CanReadWallets], description="The org's bulk issue jobs, newest first."
    )
    async def issue_jobs(
        self, info: Info, state: JobState | None = None, first: int | None = 20, after: str | None = None
    ) -> IssueJobConnection:
        ctx = info.context
        page = await jobs.issue_jobs_page(
            ctx.uow_factory,
            ctx.principal,
            state=state,
            first=DEFAULT_PAGE_SIZE if first is None else first,
            after=after,
        )

        async def count() -> int:
            return await jobs.issue_jobs_count(ctx.uow_factory, ctx.principal, state=state)

        return IssueJobConnection.from_page(page, count)
