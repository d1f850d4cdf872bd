"""holdPromotions, commitHold and releaseHold (DESIGN §8.2): input → command → services.holds →
payload. One module for the three: they are one feature, two-phase redemption, and share the Hold
type and their error types."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.domain.clock import now_ms
from app.domain.commands import HoldPromotions
from app.domain.holds import DEFAULT_HOLD_SECONDS
from app.domain.models import Hold as DomainHold
from app.graphql.context import Info
from app.graphql.errors import (
    CustomerNotFoundError,
    EarnedPromotionNotFoundError,
    HoldExpiredError,
    HoldNotFoundError,
    InternalError,
    InvalidRequestError,
    InvalidWebEngageAccountError,
    PromotionNotFoundError,
    PromotionNotRedeemableError,
    RedemptionWithoutEvaluationDisabledError,
    ResourceLockedError,
)
from app.graphql.mutations.redeem import RedeemPromotionsInput, RedeemPromotionsSuccess
from app.graphql.permissions import CanWriteWallets
from app.graphql.resolving import run_mutation
from app.graphql.types import Hold, Redemption
from app.services import holds


@strawberry.input(
    description="A redemption to reserve, checked exactly as redeemPromotions checks it, for "
    "holdSeconds (1 to 86400)."
)
class HoldPromotionsInput:
    redemption: RedeemPromotionsInput
    hold_seconds: int | None = strawberry.field(
        default=DEFAULT_HOLD_SECONDS, description="1 to 86400; null is the default, 900."
    )

    def to_command(self) -> HoldPromotions:
        seconds = self.hold_seconds if self.hold_seconds is not None else DEFAULT_HOLD_SECONDS
        return HoldPromotions(redemption=self.redemption.to_command(), hold_seconds=seconds)


@strawberry.type
class HoldPromotionsSuccess:
    hold: Hold


@strawberry.type
class ReleaseHoldSuccess:
    hold: Hold


HoldPromotionsPayload = Annotated[
    HoldPromotionsSuccess
    | InvalidRequestError
    | CustomerNotFoundError
    | PromotionNotFoundError
    | EarnedPromotionNotFoundError
    | RedemptionWithoutEvaluationDisabledError
    | InvalidWebEngageAccountError
    | PromotionNotRedeemableError
    | ResourceLockedError
    | InternalError,
    strawberry.union("HoldPromotionsPayload"),
]
CommitHoldPayload = Annotated[
    RedeemPromotionsSuccess | HoldNotFoundError | HoldExpiredError | ResourceLockedError | InternalError,
    strawberry.union("CommitHoldPayload"),
]
ReleaseHoldPayload = Annotated[
    ReleaseHoldSuccess | HoldNotFoundError | ResourceLockedError | InternalError,
    strawberry.union("ReleaseHoldPayload"),
]


def _hold(hold: DomainHold) -> Hold:
    return Hold.from_domain(hold, now_ms())


@strawberry.type
class HoldMutations:
    @strawberry.mutation(
        permission_classes=[CanWriteWallets],
        description="Reserve a redemption for a payment's second step (scope wallet:write): every "
        "check of redeemPromotions, then the counts are held, not consumed, until commitHold, "
        "releaseHold or expiresAt. The same transactionIdentifier and content again is the same hold.",
    )
    async def hold_promotions(self, info: Info, input: HoldPromotionsInput) -> HoldPromotionsPayload:
        return await run_mutation(
            HoldPromotionsPayload,
            holds.hold_promotions(info.context.uow_factory, info.context.principal, input.to_command()),
            lambda hold: HoldPromotionsSuccess(hold=_hold(hold)),
        )

    @strawberry.mutation(
        permission_classes=[CanWriteWallets],
        description="Turn a live hold into its redemption, consuming exactly the held counts (scope "
        "wallet:write); a second commit returns the same redemption. A released or expired hold is a "
        "HoldExpiredError.",
    )
    async def commit_hold(self, info: Info, hold_id: str) -> CommitHoldPayload:
        return await run_mutation(
            CommitHoldPayload,
            holds.commit_hold(info.context.uow_factory, info.context.principal, hold_id),
            lambda redemption: RedeemPromotionsSuccess(redemption=Redemption.from_domain(redemption)),
        )

    @strawberry.mutation(
        permission_classes=[CanWriteWallets],
        description="Free a live hold's counts at once (scope wallet:write). Idempotent: a committed, "
        "released or expired hold is returned unchanged.",
    )
    async def release_hold(self, info: Info, hold_id: str) -> ReleaseHoldPayload:
        return await run_mutation(
            ReleaseHoldPayload,
            holds.release_hold(info.context.uow_factory, info.context.principal, hold_id),
            lambda hold: ReleaseHoldSuccess(hold=_hold(hold)),
        )
