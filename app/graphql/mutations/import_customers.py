"""importCustomers (admin): up to max_batch customers in one call, one result per rejected row."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.graphql.context import Info
from app.graphql.errors import (
    Error,
    InternalError,
    InvalidRequestError,
    ResourceLockedError,
    to_graphql_error,
)
from app.graphql.mutations.create_customer import CreateCustomerInput
from app.graphql.permissions import IsAdmin
from app.graphql.resolving import run_mutation
from app.services import admin


@strawberry.type
class RejectedCustomer:
    index: int
    error: Error


@strawberry.type
class ImportCustomersSuccess:
    created_count: int
    skipped_count: int
    rejected: list[RejectedCustomer]


ImportCustomersPayload = Annotated[
    ImportCustomersSuccess | InvalidRequestError | ResourceLockedError | InternalError,
    strawberry.union("ImportCustomersPayload"),
]


@strawberry.type
class ImportCustomersMutation:
    @strawberry.mutation(permission_classes=[IsAdmin])
    async def import_customers(
        self, info: Info, customers: list[CreateCustomerInput]
    ) -> ImportCustomersPayload:
        return await run_mutation(
            ImportCustomersPayload,
            admin.import_customers(
                info.context.uow_factory,
                info.context.principal,
                [c.to_command() for c in customers],
                max_batch=info.context.settings.max_batch,
            ),
            lambda result: ImportCustomersSuccess(
                created_count=result.created_count,
                skipped_count=result.skipped_count,
                rejected=[
                    RejectedCustomer(index=r.index, error=to_graphql_error(r.error)) for r in result.rejected
                ],
            ),
        )
