"""revokeEarnedPromotions: input → command → services.revoke → payload."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.domain.commands import RevokeEarnedPromotions
from app.graphql.context import Info
from app.graphql.errors import (
    CustomerNotFoundError,
    Error,
    InternalError,
    InvalidRequestError,
    ResourceLockedError,
    to_graphql_error,
)
from app.graphql.permissions import CanWriteWallets
from app.graphql.resolving import run_mutation
from app.graphql.scalars import Long
from app.services import revoke


@strawberry.type
class RevokeResult:
    earned_promotion_id: str
    revoked: bool = strawberry.field(description="The entry is revoked after this call (now or before).")
    error: Error | None


@strawberry.type
class RevokeEarnedPromotionsSuccess:
    revoked_count: int = strawberry.field(description="Entries this call revoked.")
    results: list[RevokeResult]


RevokeEarnedPromotionsPayload = Annotated[
    RevokeEarnedPromotionsSuccess
    | InvalidRequestError
    | CustomerNotFoundError
    | ResourceLockedError
    | InternalError,
    strawberry.union("RevokeEarnedPromotionsPayload"),
]


def _success(outcome: revoke.RevokeOutcome) -> RevokeEarnedPromotionsSuccess:
    return RevokeEarnedPromotionsSuccess(
        revoked_count=outcome.revoked_count,
        results=[
            RevokeResult(
                earned_promotion_id=r.earned_promotion_id,
                revoked=r.revoked,
                error=to_graphql_error(r.error) if r.error else None,
            )
            for r in outcome.results
        ],
    )


@strawberry.type
class RevokeMutations:
    @strawberry.mutation(
        permission_classes=[CanWriteWallets],
        description="Revoke unredeemed wallet entries (scope wallet:write), 1 to 1000 ids, one result "
        "per distinct id. Entries with any redemption used are refused (ALREADY_REDEEMED); an "
        "entry already revoked is reported revoked without being counted again.",
    )
    async def revoke_earned_promotions(
        self, info: Info, customer_id: Long, earned_promotion_ids: list[str]
    ) -> RevokeEarnedPromotionsPayload:
        command = RevokeEarnedPromotions(customer_id=customer_id, earned_promotion_ids=earned_promotion_ids)
        return await run_mutation(
            RevokeEarnedPromotionsPayload,
            revoke.revoke_earned_promotions(info.context.uow_factory, info.context.principal, command),
            _success,
        )
