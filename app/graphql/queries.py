"""Query root and the Customer type (whose wallet shares the root wallet's resolver)."""

from __future__ import annotations

import strawberry

from app.domain import models
from app.domain.commands import CustomerLookup
from app.graphql.context import Info
from app.graphql.permissions import CanReadWallets
from app.graphql.scalars import Long
from app.graphql.types import (
    CustomerIdentifierType,
    EarnedPromotionConnection,
    EarnedPromotionStatus,
    Promotion,
    PromotionConnection,
    PromotionStatus,
    PromotionType,
    RedemptionConnection,
)
from app.services import queries

DEFAULT_PAGE_SIZE = 20


def _selected_names(info: Info) -> set[str]:
    """Every field name selected below the current field (fragments included)."""
    names: set[str] = set()
    stack = list(info.selected_fields)
    while stack:
        selection = stack.pop()
        name = getattr(selection, "name", None)
        if name:
            names.add(name)
        stack.extend(getattr(selection, "selections", ()))
    return names


async def resolve_wallet(
    info: Info,
    customer_id: int,
    status: list[models.EarnedPromotionStatus] | None,
    promotion_id: str | None,
    first: int | None,
    after: str | None,
) -> EarnedPromotionConnection:
    ctx = info.context
    selected = _selected_names(info)
    view = await queries.wallet_view(
        ctx.uow_factory,
        ctx.principal,
        customer_id=customer_id,
        statuses=status,
        promotion_id=promotion_id,
        first=DEFAULT_PAGE_SIZE if first is None else first,
        after=after,
        with_count="totalCount" in selected,
        with_promotions="promotion" in selected,
    )

    async def count() -> int:
        if view.total_count is not None:
            return view.total_count
        return await queries.wallet_count(
            ctx.uow_factory,
            ctx.principal,
            customer_id=customer_id,
            statuses=status,
            promotion_id=promotion_id,
        )

    return EarnedPromotionConnection.from_page(view.page, ctx.now, count, view.promotions)


async def resolve_redemptions(
    info: Info,
    customer_id: int | None,
    promotion_id: str | None,
    transaction_identifier: str | None,
    first: int | None,
    after: str | None,
) -> RedemptionConnection:
    ctx = info.context
    first = DEFAULT_PAGE_SIZE if first is None else first
    page = await queries.redemptions_page(
        ctx.uow_factory,
        ctx.principal,
        customer_id=customer_id,
        promotion_id=promotion_id,
        transaction_identifier=transaction_identifier,
        first=first,
        after=after,
    )

    async def count() -> int:
        return await queries.redemptions_count(
            ctx.uow_factory,
            ctx.principal,
            customer_id=customer_id,
            promotion_id=promotion_id,
            transaction_identifier=transaction_identifier,
        )

    return RedemptionConnection.from_page(page, count)


@strawberry.type
class Customer:
    domain: strawberry.Private[models.Customer]

    @strawberry.field
    def id(self) -> Long:
        return self.domain.id

    @strawberry.field
    def mobile(self) -> str | None:
        return self.domain.mobile

    @strawberry.field
    def email(self) -> str | None:
        return self.domain.email

    @strawberry.field
    def external_id(self) -> str | None:
        return self.domain.external_id

    @strawberry.field
    async def wallet(
        self,
        info: Info,
        status: list[EarnedPromotionStatus] | None = None,
        promotion_id: str | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> EarnedPromotionConnection:
        return await resolve_wallet(info, self.domain.id, status, promotion_id, first, after)

    @strawberry.field
    async def redemptions(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> RedemptionConnection:
        return await resolve_redemptions(info, self.domain.id, None, None, first, after)


@strawberry.type
class Query:
    @strawberry.field(permission_classes=[CanReadWallets])
    async def customer(
        self,
        info: Info,
        id: Long | None = None,
        identifier_type: CustomerIdentifierType | None = None,
        identifier_value: str | None = None,
    ) -> Customer | None:
        found = await queries.find_customer(
            info.context.uow_factory,
            info.context.principal,
            CustomerLookup(
                customer_id=id, identifier_type=identifier_type, identifier_value=identifier_value
            ),
        )
        return Customer(domain=found) if found else None

    @strawberry.field(permission_classes=[CanReadWallets])
    async def wallet(
        self,
        info: Info,
        customer_id: Long,
        status: list[EarnedPromotionStatus] | None = None,
        promotion_id: str | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> EarnedPromotionConnection:
        return await resolve_wallet(info, customer_id, status, promotion_id, first, after)

    @strawberry.field(permission_classes=[CanReadWallets])
    async def promotion(self, info: Info, id: str) -> Promotion | None:
        found = await queries.get_promotion(info.context.uow_factory, info.context.principal, id)
        return Promotion.from_domain(found, info.context.now) if found else None

    @strawberry.field(permission_classes=[CanReadWallets])
    async def promotions(
        self,
        info: Info,
        status: PromotionStatus | None = None,
        type: PromotionType | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> PromotionConnection:
        ctx = info.context
        page = await queries.promotions_page(
            ctx.uow_factory,
            ctx.principal,
            status=status,
            type_=type,
            first=DEFAULT_PAGE_SIZE if first is None else first,
            after=after,
        )

        async def count() -> int:
            return await queries.promotions_count(ctx.uow_factory, ctx.principal, status=status, type_=type)

        return PromotionConnection.from_page(page, ctx.now, count)

    @strawberry.field(permission_classes=[CanReadWallets])
    async def redemptions(
        self,
        info: Info,
        customer_id: Long | None = None,
        promotion_id: str | None = None,
        transaction_identifier: str | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> RedemptionConnection:
        return await resolve_redemptions(
            info, customer_id, promotion_id, transaction_identifier, first, after
        )
