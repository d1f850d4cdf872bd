"""issueJobProgress(id) (DESIGN §8.4) over graphql-transport-ws: the job after each chunk, from
whichever process runs it (services/jobs.py polls the job row), ending at its final state."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry
from graphql import GraphQLError

from app.domain.errors import IssueJobNotFound
from app.graphql.context import Info
from app.graphql.job_queries import IssueJob
from app.graphql.permissions import CanReadWallets
from app.services.jobs import follow_issue_job


@strawberry.type
class IssueJobSubscription:
    @strawberry.subscription(
        permission_classes=[CanReadWallets],
        description="A bulk issue job as it progresses: now, then after each committed chunk, "
        "whichever server process runs it; complete once it is SUCCEEDED, FAILED or CANCELLED (a "
        "finished job: its final state, then complete). An unknown job, or another org's, ends the "
        "subscription with an error whose extensions.code is NOT_FOUND.",
    )
    async def issue_job_progress(self, info: Info, id: str) -> AsyncGenerator[IssueJob, None]:
        context = info.context
        try:
            async for job in follow_issue_job(context.uow_factory, context.principal, id):
                yield IssueJob.from_domain(job)
        except IssueJobNotFound as error:
            raise GraphQLError(error.message, extensions={"code": "NOT_FOUND"}) from error
