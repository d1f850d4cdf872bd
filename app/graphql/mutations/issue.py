"""issuePromotion: issue one promotion to many customers (DESIGN §6 "Issue")."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated

import strawberry
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from app.domain.commands import IssuePromotion
from app.graphql.context import Info
from app.graphql.errors import (
    CustomerLookupFailedError,
    CustomerNotFoundError,
    EarnedFromTypeChangedError,
    EarnLimitExceededError,
    EarnNotSupportedError,
    InternalError,
    InvalidCustomerIdentifierError,
    InvalidRequestError,
    MaxActivePromotionsExceededError,
    PromotionExpiredError,
    PromotionNotFoundError,
    PromotionTypeNotSupportedError,
    ResourceLockedError,
)
from app.graphql.permissions import CanWriteWallets
from app.graphql.resolving import run_mutation
from app.graphql.scalars import Long
from app.graphql.types import EarnedPromotion
from app.services import issue
from app.services.issue import IssueResult


@strawberry.type
class IssuePromotionSuccess:
    earned_promotions: list[EarnedPromotion] = strawberry.field(
        description="One per distinct customer, in request order: new entries and repeats alike."
    )
    issued_count: int = strawberry.field(description="Entries created by this call.")
    already_issued_count: int = strawberry.field(
        description="Customers who already held the entry of this contextId (a repeat)."
    )


IssuePromotionPayload = Annotated[
    IssuePromotionSuccess
    | InvalidRequestError
    | InvalidCustomerIdentifierError
    | PromotionNotFoundError
    | PromotionTypeNotSupportedError
    | EarnNotSupportedError
    | PromotionExpiredError
    | MaxActivePromotionsExceededError
    | CustomerNotFoundError
    | EarnedFromTypeChangedError
    | EarnLimitExceededError
    | CustomerLookupFailedError
    | ResourceLockedError
    | InternalError,
    strawberry.union("IssuePromotionPayload"),
]


def _selects(selections: Iterable[object], name: str) -> bool:
    """Whether `name` is selected anywhere under these selections (through fragments too)."""
    for selection in selections:
        if isinstance(selection, SelectedField) and selection.name == name:
            return True
        if isinstance(selection, InlineFragment | FragmentSpread | SelectedField) and _selects(
            selection.selections, name
        ):
            return True
    return False


@strawberry.type
class IssueMutations:
    @strawberry.mutation(
        permission_classes=[CanWriteWallets],
        description="Issue one promotion to many customers. Idempotent per (promotion, contextId, customer).",
    )
    async def issue_promotion(
        self, info: Info, promotion_id: str, context_id: str, customer_ids: list[Long | None]
    ) -> IssuePromotionPayload:
        now = info.context.now
        command = IssuePromotion(promotion_id=promotion_id, context_id=context_id, customer_ids=customer_ids)

        def to_success(result: IssueResult) -> IssuePromotionSuccess:
            return IssuePromotionSuccess(
                earned_promotions=[EarnedPromotion.from_domain(entry, now) for entry in result.entries],
                issued_count=result.issued_count,
                already_issued_count=result.already_issued_count,
            )

        return await run_mutation(
            IssuePromotionPayload,
            issue.issue_promotion(
                info.context.uow_factory,
                info.context.principal,
                command,
                max_batch=info.context.settings.max_batch,
                # Only clients that read the entries pay for building 100k of them.
                include_entries=_selects(info.selected_fields, "earnedPromotions"),
                now=now,
            ),
            to_success,
        )
