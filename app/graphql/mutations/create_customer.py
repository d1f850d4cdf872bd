"""createCustomer (admin): one customer of the caller's org."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.domain.commands import CreateCustomer
from app.graphql.context import Info
from app.graphql.errors import (
    InternalError,
    InvalidCustomerIdentifierError,
    InvalidRequestError,
    ResourceLockedError,
)
from app.graphql.permissions import IsAdmin
from app.graphql.resolving import run_mutation
from app.graphql.scalars import Long
from app.graphql.types import Customer
from app.services import admin


@strawberry.input
class CreateCustomerInput:
    """Also the row type of importCustomers."""

    id: Long
    mobile: str | None = None
    email: str | None = None
    external_id: str | None = None

    def to_command(self) -> CreateCustomer:
        return CreateCustomer(id=self.id, mobile=self.mobile, email=self.email, external_id=self.external_id)


@strawberry.type
class CreateCustomerSuccess:
    customer: Customer


CreateCustomerPayload = Annotated[
    CreateCustomerSuccess
    | InvalidRequestError
    | InvalidCustomerIdentifierError
    | ResourceLockedError
    | InternalError,
    strawberry.union("CreateCustomerPayload"),
]


@strawberry.type
class CreateCustomerMutation:
    @strawberry.mutation(permission_classes=[IsAdmin])
    async def create_customer(self, info: Info, input: CreateCustomerInput) -> CreateCustomerPayload:
        return await run_mutation(
            CreateCustomerPayload,
            admin.create_customer(info.context.uow_factory, info.context.principal, input.to_command()),
            lambda customer: CreateCustomerSuccess(customer=Customer(domain=customer)),
        )
