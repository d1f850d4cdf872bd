"""earnPromotions: many promotions → one customer, one result per entry (DESIGN §5 and §6)."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.domain.commands import EarnEntryRequest, EarnPromotions
from app.domain.earn_rules import EarnOutcome
from app.domain.models import EventDetails
from app.graphql.context import Info
from app.graphql.errors import (
    CustomerLookupFailedError,
    CustomerNotFoundError,
    Error,
    InternalError,
    InvalidCustomerIdentifierError,
    InvalidRequestError,
    ResourceLockedError,
    to_graphql_error,
)
from app.graphql.permissions import CanWriteWallets
from app.graphql.resolving import run_mutation
from app.graphql.scalars import Long
from app.graphql.types import EarnedFromType, EarnedPromotion
from app.services import earn
from app.services.earn import EarnResult


@strawberry.input
class EventDetailsInput:
    id: str
    type: str


@strawberry.input
class EarnedPromotionInput:
    promotion_id: str
    earn_count: int
    earned_from_id: str


@strawberry.input
class EarnPromotionsInput:
    org_id: int | None = strawberry.field(
        default=None, description="Optional; when given it must be the org of the calling client."
    )
    customer_id: Long
    event_time: Long
    earned_from_type: EarnedFromType
    event_details: EventDetailsInput = strawberry.field(description="`type` must equal `earnedFromType`.")
    earned_promotions: list[EarnedPromotionInput] = strawberry.field(
        description="1 to 1000 entries, and at most 1000 instances (the sum of earnCount) in all."
    )

    def to_command(self) -> EarnPromotions:
        return EarnPromotions(
            org_id=self.org_id,
            customer_id=self.customer_id,
            event_time=self.event_time,
            earned_from_type=self.earned_from_type,
            event_details=EventDetails(id=self.event_details.id, type=self.event_details.type),
            entries=[
                EarnEntryRequest(
                    promotion_id=x.promotion_id, earn_count=x.earn_count, earned_from_id=x.earned_from_id
                )
                for x in self.earned_promotions
            ],
        )


@strawberry.type
class EarnPromotionResult:
    promotion_id: str
    earned_from_id: str
    successful_earn_count: int = strawberry.field(
        description="Instances 1..earnCount held after this request; a replay counts the existing ones."
    )
    failed_earn_count: int
    error: Error | None = strawberry.field(description="Why failedEarnCount > 0; null otherwise.")
    customer_earned_promotions: list[EarnedPromotion]

    @classmethod
    def from_domain(cls, outcome: EarnOutcome, now: int) -> EarnPromotionResult:
        return cls(
            promotion_id=outcome.promotion_id,
            earned_from_id=outcome.earned_from_id,
            successful_earn_count=outcome.successful_count,
            failed_earn_count=outcome.failed_count,
            error=to_graphql_error(outcome.error) if outcome.error else None,
            customer_earned_promotions=[EarnedPromotion.from_domain(x, now) for x in outcome.entries],
        )


@strawberry.type
class EarnPromotionsSuccess:
    results: list[EarnPromotionResult]


EarnPromotionsPayload = Annotated[
    EarnPromotionsSuccess
    | InvalidRequestError
    | InvalidCustomerIdentifierError
    | CustomerNotFoundError
    | CustomerLookupFailedError
    | ResourceLockedError
    | InternalError,
    strawberry.union("EarnPromotionsPayload"),
]


@strawberry.type
class EarnMutations:
    @strawberry.mutation(
        permission_classes=[CanWriteWallets],
        description=(
            "Earn several promotions for one customer (scope wallet:write), one result per entry in "
            "request order. Entries succeed or fail on their own; repeating a (promotionId, "
            "earnedFromId) creates only the instances still missing, never more than earnCount."
        ),
    )
    async def earn_promotions(self, info: Info, input: EarnPromotionsInput) -> EarnPromotionsPayload:
        now = info.context.now

        def to_success(result: EarnResult) -> EarnPromotionsSuccess:
            return EarnPromotionsSuccess(
                results=[EarnPromotionResult.from_domain(outcome, now) for outcome in result.outcomes]
            )

        return await run_mutation(
            EarnPromotionsPayload,
            earn.earn_promotions(
                info.context.uow_factory,
                info.context.principal,
                input.to_command(),
                max_instances=info.context.settings.max_batch,
                now=now,
            ),
            to_success,
        )
