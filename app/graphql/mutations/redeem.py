"""redeemPromotions: input → command → services.redeem → payload."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.domain.commands import RedeemPromotions
from app.domain.models import RedemptionLine
from app.graphql.context import Info
from app.graphql.errors import (
    CustomerNotFoundError,
    EarnedPromotionNotFoundError,
    InternalError,
    InvalidRequestError,
    InvalidWebEngageAccountError,
    PromotionNotFoundError,
    PromotionNotRedeemableError,
    RedemptionWithoutEvaluationDisabledError,
    ResourceLockedError,
)
from app.graphql.permissions import CanWriteWallets
from app.graphql.resolving import run_mutation
from app.graphql.scalars import Decimal, Long
from app.graphql.types import CustomerIdentifierType, Redemption
from app.services import redeem


def _line(
    item: RedemptionLineItemInput | PromotionRedemptionInput, *, earned_promotion_id: str | None
) -> RedemptionLine:
    return RedemptionLine(
        promotion_id=item.promotion_id,
        redemption_count=item.redemption_count,
        discount=item.discount,
        discount_applied_on_quantity=item.discount_applied_on_quantity,
        promotion_applied_on_quantity=item.promotion_applied_on_quantity,
        sku=item.sku,
        earned_promotion_id=earned_promotion_id,
    )


@strawberry.input
class RedemptionLineItemInput:
    sku: str | None = None
    promotion_id: str
    earned_promotion_id: str | None = strawberry.field(
        default=None, description="The wallet entry to use; without it, the soonest-expiring ones are used."
    )
    redemption_count: int
    discount: Decimal
    discount_applied_on_quantity: Decimal
    promotion_applied_on_quantity: Decimal

    def to_line(self) -> RedemptionLine:
        return _line(self, earned_promotion_id=self.earned_promotion_id)


@strawberry.input
class PromotionRedemptionInput:
    sku: str | None = None
    promotion_id: str
    redemption_count: int
    discount: Decimal
    discount_applied_on_quantity: Decimal
    promotion_applied_on_quantity: Decimal

    def to_line(self) -> RedemptionLine:
        return _line(self, earned_promotion_id=None)


@strawberry.input(
    description="Name the customer by customerId, or by customerIdentifierType + customerIdentifierValue "
    "(both may be given; they must then name the same customer). At least one of lineItems and "
    "redemptions; when both are given they must agree per promotion on total redemptionCount and discount."
)
class RedeemPromotionsInput:
    customer_id: Long | None = None
    customer_identifier_type: CustomerIdentifierType | None = None
    customer_identifier_value: str | None = None
    transaction_identifier: str = strawberry.field(
        description="Unique in the org: a repeat with the same content returns the recorded redemption."
    )
    transaction_number: str
    transaction_date: Long
    amount: Decimal
    line_items: list[RedemptionLineItemInput] | None = None
    redemptions: list[PromotionRedemptionInput] | None = None

    def to_command(self) -> RedeemPromotions:
        return RedeemPromotions(
            transaction_identifier=self.transaction_identifier,
            transaction_number=self.transaction_number,
            transaction_date=self.transaction_date,
            amount=self.amount,
            customer_id=self.customer_id,
            identifier_type=self.customer_identifier_type,
            identifier_value=self.customer_identifier_value,
            line_items=[x.to_line() for x in self.line_items] if self.line_items is not None else None,
            redemptions=[x.to_line() for x in self.redemptions] if self.redemptions is not None else None,
        )


@strawberry.type
class RedeemPromotionsSuccess:
    redemption: Redemption


RedeemPromotionsPayload = Annotated[
    RedeemPromotionsSuccess
    | InvalidRequestError
    | CustomerNotFoundError
    | PromotionNotFoundError
    | EarnedPromotionNotFoundError
    | RedemptionWithoutEvaluationDisabledError
    | InvalidWebEngageAccountError
    | PromotionNotRedeemableError
    | ResourceLockedError
    | InternalError,
    strawberry.union("RedeemPromotionsPayload"),
]


@strawberry.type
class RedeemMutations:
    @strawberry.mutation(
        permission_classes=[CanWriteWallets],
        description="Record a purchase's redemptions (scope wallet:write). One transaction under the "
        "customer's wallet lock: an entry is never redeemed more often than it allows.",
    )
    async def redeem_promotions(self, info: Info, input: RedeemPromotionsInput) -> RedeemPromotionsPayload:
        return await run_mutation(
            RedeemPromotionsPayload,
            redeem.redeem_promotions(info.context.uow_factory, info.context.principal, input.to_command()),
            lambda redemption: RedeemPromotionsSuccess(redemption=Redemption.from_domain(redemption)),
        )
