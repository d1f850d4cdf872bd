"""createCustomer (admin): one customer of the caller's org."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

import strawberry
from strawberry.types.arguments import InputContext
from strawberry.types.base import get_object_definition

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


def _row_from_input(cls: type[CreateCustomerInput], value: Mapping[str, Any], _: InputContext) -> Any:
    """Strawberry's `from_input` hook (a documented field of the type's definition): build the row
    from graphql-core's coerced value, whose fields are all leaves already parsed by their scalars,
    which Strawberry's generic conversion would pass through unchanged after resolving each field's
    type and name again for every row (importCustomers takes up to max_batch rows in one call).
    tests/unit/test_customer_input.py holds it equal to the generic conversion."""
    return cls(
        id=value["id"],
        mobile=value.get("mobile"),
        email=value.get("email"),
        external_id=value.get("externalId"),
    )


get_object_definition(CreateCustomerInput, strict=True).from_input = _row_from_input


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
