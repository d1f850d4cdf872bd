"""The query root. Its wallet and redemptions share their resolvers with the Customer type's."""

from __future__ import annotations

import strawberry

from app.domain.clock import now_ms
from app.domain.commands import CustomerLookup
from app.graphql.context import Info
from app.graphql.history_queries import HistoryQueries
from app.graphql.job_queries import IssueJobQueries
from app.graphql.permissions import CanReadWallets
from app.graphql.scalars import Long
from app.graphql.types import (
    DEFAULT_PAGE_SIZE,
    Customer,
    CustomerIdentifierType,
    EarnedPromotionConnection,
    EarnedPromotionStatus,
    Hold,
    Promotion,
    PromotionConnection,
    PromotionStatus,
    PromotionType,
    RedemptionConnection,
    resolve_redemptions,
    resolve_wallet,
)
from app.graphql.viewer import ViewerQuery
from app.services import holds, queries


@strawberry.type
class Query(IssueJobQueries, HistoryQueries, ViewerQuery):
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

    @strawberry.field(permission_classes=[CanReadWallets], description="A hold of the caller's org.")
    async def hold(self, info: Info, id: str) -> Hold | None:
        found = await holds.get_hold(info.context.uow_factory, info.context.principal, id)
        return Hold.from_domain(found, now_ms()) if found is not None else None
