"""reverseRedemption: input → command → services.reverse → payload."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.domain.commands import ReverseRedemption
from app.domain.models import ReversalLine, ReversalOutcome
from app.graphql.context import Info
from app.graphql.errors import (
    InternalError,
    InvalidRequestError,
    RedemptionNotFoundError,
    ResourceLockedError,
    ReversalExceedsRedemptionError,
)
from app.graphql.permissions import CanWriteWallets
from app.graphql.resolving import run_mutation
from app.graphql.types import Redemption, Reversal
from app.services import reverse


@strawberry.input
class ReversalLineInput:
    promotion_id: str
    earned_promotion_id: str | None = strawberry.field(
        default=None,
        description="The consumed entry to give back to; without it, the promotion's entries that "
        "can be used again get theirs back first, latest-expiring first.",
    )
    redemption_count: int


@strawberry.input(
    description="Name the redemption by exactly one of redemptionId and transactionIdentifier. Without "
    "lines, everything not yet reversed is reversed."
)
class ReverseRedemptionInput:
    redemption_id: str | None = None
    transaction_identifier: str | None = None
    reversal_identifier: str = strawberry.field(
        description="Unique in the org: a repeat with the same content returns the recorded reversal."
    )
    reason: str | None = None
    lines: list[ReversalLineInput] | None = None

    def to_command(self) -> ReverseRedemption:
        return ReverseRedemption(
            reversal_identifier=self.reversal_identifier,
            redemption_id=self.redemption_id,
            transaction_identifier=self.transaction_identifier,
            reason=self.reason,
            lines=(
                [
                    ReversalLine(
                        promotion_id=x.promotion_id,
                        earned_promotion_id=x.earned_promotion_id,
                        redemption_count=x.redemption_count,
                    )
                    for x in self.lines
                ]
                if self.lines is not None
                else None
            ),
        )


@strawberry.type
class ReverseRedemptionSuccess:
    reversal: Reversal
    redemption: Redemption

    @classmethod
    def from_domain(cls, outcome: ReversalOutcome) -> ReverseRedemptionSuccess:
        return cls(
            reversal=Reversal.from_domain(outcome.reversal),
            redemption=Redemption.from_domain(outcome.redemption),
        )


ReverseRedemptionPayload = Annotated[
    ReverseRedemptionSuccess
    | InvalidRequestError
    | RedemptionNotFoundError
    | ReversalExceedsRedemptionError
    | ResourceLockedError
    | InternalError,
    strawberry.union("ReverseRedemptionPayload"),
]


@strawberry.type
class ReverseMutations:
    @strawberry.mutation(
        permission_classes=[CanWriteWallets],
        description="Undo a redemption, fully or partly (scope wallet:write): each count goes back to the "
        "wallet entry it came from. Idempotent by reversalIdentifier; one transaction under the "
        "customer's wallet lock, so nothing is ever given back twice.",
    )
    async def reverse_redemption(self, info: Info, input: ReverseRedemptionInput) -> ReverseRedemptionPayload:
        return await run_mutation(
            ReverseRedemptionPayload,
            reverse.reverse_redemption(info.context.uow_factory, info.context.principal, input.to_command()),
            ReverseRedemptionSuccess.from_domain,
        )
