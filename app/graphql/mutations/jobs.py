"""startIssueJob and cancelIssueJob (DESIGN §8.4): input → command → services.jobs → payload."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.graphql.context import Info
from app.graphql.errors import (
    EarnNotSupportedError,
    InternalError,
    InvalidCustomerIdentifierError,
    InvalidRequestError,
    IssueJobNotFoundError,
    MaxActivePromotionsExceededError,
    PromotionExpiredError,
    PromotionNotFoundError,
    PromotionTypeNotSupportedError,
)
from app.graphql.job_queries import IssueJob
from app.graphql.permissions import CanWriteWallets
from app.graphql.resolving import run_mutation
from app.graphql.scalars import Long
from app.services import jobs
from app.services.jobs import StartIssueJob


@strawberry.type
class StartIssueJobSuccess:
    job: IssueJob


@strawberry.type
class CancelIssueJobSuccess:
    job: IssueJob


StartIssueJobPayload = Annotated[
    StartIssueJobSuccess
    | InvalidRequestError
    | InvalidCustomerIdentifierError
    | PromotionNotFoundError
    | PromotionTypeNotSupportedError
    | EarnNotSupportedError
    | PromotionExpiredError
    | MaxActivePromotionsExceededError
    | InternalError,
    strawberry.union("StartIssueJobPayload"),
]
# InternalError beyond the contract's union: every payload has it (an unexpected failure's answer).
CancelIssueJobPayload = Annotated[
    CancelIssueJobSuccess | IssueJobNotFoundError | InvalidRequestError | InternalError,
    strawberry.union("CancelIssueJobPayload"),
]


@strawberry.type
class IssueJobMutations:
    @strawberry.mutation(
        permission_classes=[CanWriteWallets],
        description="Start a bulk issue job (scope wallet:write): issuePromotion's request checks, then "
        "the job is stored QUEUED and returned at once; a server's job runner issues it in chunks. "
        "skipMissing: issue the others when some ids are not customers (else the job FAILS, writing "
        "nothing).",
    )
    async def start_issue_job(
        self,
        info: Info,
        promotion_id: str,
        context_id: str,
        customer_ids: list[Long | None],
        skip_missing: bool | None = False,
    ) -> StartIssueJobPayload:
        command = StartIssueJob(
            promotion_id=promotion_id,
            context_id=context_id,
            customer_ids=list(customer_ids),
            skip_missing=bool(skip_missing),
        )
        return await run_mutation(
            StartIssueJobPayload,
            jobs.start_issue_job(
                info.context.uow_factory,
                info.context.principal,
                command,
                max_job_ids=info.context.settings.max_job_ids,
                now=info.context.now,
            ),
            lambda job: StartIssueJobSuccess(job=IssueJob.from_domain(job)),
        )

    @strawberry.mutation(
        permission_classes=[CanWriteWallets],
        description="Cancel a QUEUED or RUNNING job (scope wallet:write): it stops after its current "
        "chunk and what was written stays. A finished job is an InvalidRequestError.",
    )
    async def cancel_issue_job(self, info: Info, id: str) -> CancelIssueJobPayload:
        return await run_mutation(
            CancelIssueJobPayload,
            jobs.cancel_issue_job(info.context.uow_factory, info.context.principal, id),
            lambda job: CancelIssueJobSuccess(job=IssueJob.from_domain(job)),
        )
