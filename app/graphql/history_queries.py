"""walletHistory, walletAsOf and explainRedemption (DESIGN §8.5): a Query mixin of the root."""

from __future__ import annotations

import strawberry

from app.graphql.context import Info
from app.graphql.history_types import LedgerEventConnection, LedgerEventKind, RedemptionExplanation
from app.graphql.mutations.redeem import RedeemPromotionsInput
from app.graphql.permissions import CanReadWallets
from app.graphql.scalars import Long
from app.graphql.types import (
    DEFAULT_PAGE_SIZE,
    EarnedPromotionConnection,
    EarnedPromotionStatus,
    _selected_names,
)
from app.services import explain, history


@strawberry.type
class HistoryQueries:
    @strawberry.field(
        permission_classes=[CanReadWallets],
        description="The customer's wallet changes, newest first: one event per change of a promotion. "
        "since inclusive, until exclusive (epoch ms).",
    )
    async def wallet_history(
        self,
        info: Info,
        customer_id: Long,
        kinds: list[LedgerEventKind] | None = None,
        since: Long | None = None,
        until: Long | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> LedgerEventConnection:
        ctx = info.context
        query = history.history_query(
            customer_id=customer_id,
            kinds=kinds,
            since=since,
            until=until,
            first=DEFAULT_PAGE_SIZE if first is None else first,
            after=after,
        )
        found = await history.wallet_history(
            ctx.uow_factory, ctx.principal, query, with_count="totalCount" in _selected_names(info)
        )

        async def count() -> int:
            if found.total_count is not None:
                return found.total_count
            return await history.wallet_history_count(ctx.uow_factory, ctx.principal, query)

        return LedgerEventConnection.from_page(found.page, count)

    @strawberry.field(
        permission_classes=[CanReadWallets],
        description="The wallet as it stood at asOf (epoch ms), rebuilt from the ledger; statuses "
        "evaluated at asOf. For asOf = now it equals wallet.",
    )
    async def wallet_as_of(
        self,
        info: Info,
        customer_id: Long,
        as_of: Long,
        status: list[EarnedPromotionStatus] | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> EarnedPromotionConnection:
        ctx = info.context
        view = await history.wallet_as_of(
            ctx.uow_factory,
            ctx.principal,
            customer_id=customer_id,
            as_of=as_of,
            statuses=status,
            first=DEFAULT_PAGE_SIZE if first is None else first,
            after=after,
        )
        total = view.total_count or 0

        async def count() -> int:
            return total

        return EarnedPromotionConnection.from_page(view.page, as_of, count, {})

    @strawberry.field(
        permission_classes=[CanReadWallets],
        description="Why can't this be redeemed? Runs the checks of redeemPromotions in their order, "
        "writing nothing and taking no lock (scope wallet:read).",
    )
    async def explain_redemption(self, info: Info, input: RedeemPromotionsInput) -> RedemptionExplanation:
        explanation = await explain.explain_redemption(
            info.context.uow_factory, info.context.principal, input.to_command()
        )
        return RedemptionExplanation.from_domain(explanation)
