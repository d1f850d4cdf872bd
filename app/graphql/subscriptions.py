"""The subscription root, served over graphql-transport-ws on /graphql (router.py authenticates
the connection). One mixin per subscription module, like the mutation root."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import strawberry

from app.domain.clock import now_ms
from app.graphql.context import Info
from app.graphql.permissions import CanReadWallets
from app.graphql.scalars import Long
from app.graphql.types import EarnedPromotion
from app.services.wallet_changes import follow_wallet


@strawberry.type
class WalletSubscription:
    @strawberry.subscription(
        permission_classes=[CanReadWallets],
        description="Each entry of the customer's wallet as it changes (issue, earn, redeem, "
        "reversal, hold, release, commit, revoke), once the change is committed, by whichever "
        "server process. Starts with the next change; another org's customer sends nothing.",
    )
    async def wallet_changed(self, info: Info, customer_id: Long) -> AsyncGenerator[EarnedPromotion, None]:
        context = info.context
        async for entry in follow_wallet(context.uow_factory, context.principal, customer_id):
            # One connection can live for hours: promotions are read afresh for each push.
            context.promotion_loader.clear_all()
            yield EarnedPromotion.from_domain(entry, now_ms())


@strawberry.type
class Subscription(WalletSubscription):
    pass
