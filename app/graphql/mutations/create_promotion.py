"""createPromotion (admin): a promotion of the caller's org."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import strawberry

from app.domain.commands import CreatePromotion
from app.graphql.context import Info
from app.graphql.errors import (
    InternalError,
    InvalidRequestError,
    MaxActivePromotionsExceededError,
    ResourceLockedError,
)
from app.graphql.permissions import IsAdmin
from app.graphql.resolving import run_mutation
from app.graphql.scalars import Long
from app.graphql.types import Promotion, PromotionType
from app.services import admin


def _command_default(name: str) -> Any:
    """The CreatePromotion command's default for the field `name`, which the schema shows."""
    (default,) = [field.default for field in dataclasses.fields(CreatePromotion) if field.name == name]
    return default


@strawberry.input
class CreatePromotionInput:
    name: str
    type: PromotionType
    start_date: Long
    end_date: Long
    active: bool | None = _command_default("active")
    redemption_window_days: int | None = None
    max_redemptions_per_earn: int | None = _command_default("max_redemptions_per_earn")
    max_earns_per_customer: int | None = None


@strawberry.type
class CreatePromotionSuccess:
    promotion: Promotion


CreatePromotionPayload = Annotated[
    CreatePromotionSuccess
    | InvalidRequestError
    | MaxActivePromotionsExceededError
    | ResourceLockedError
    | InternalError,
    strawberry.union("CreatePromotionPayload"),
]


@strawberry.type
class CreatePromotionMutation:
    @strawberry.mutation(permission_classes=[IsAdmin])
    async def create_promotion(self, info: Info, input: CreatePromotionInput) -> CreatePromotionPayload:
        command = CreatePromotion.with_defaults(
            name=input.name,
            type=input.type,
            start_date=input.start_date,
            end_date=input.end_date,
            active=input.active,
            redemption_window_days=input.redemption_window_days,
            max_redemptions_per_earn=input.max_redemptions_per_earn,
            max_earns_per_customer=input.max_earns_per_customer,
        )
        return await run_mutation(
            CreatePromotionPayload,
            admin.create_promotion(info.context.uow_factory, info.context.principal, command),
            lambda promotion: CreatePromotionSuccess(
                promotion=Promotion.from_domain(promotion, info.context.now)
            ),
        )
