"""Output types of walletHistory and explainRedemption (DESIGN §8.5)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from app.domain import history, models
from app.graphql.errors import Error, to_graphql_error
from app.graphql.scalars import DateTime, Long
from app.graphql.types import PageInfo, _Counted, _page_info
from app.services.explain import Explanation

LedgerEventKind = models.LedgerKind
strawberry.enum(LedgerEventKind, name="LedgerEventKind")


@strawberry.type(description="One change of one promotion in a customer's wallet.")
class LedgerEvent:
    id: str
    kind: LedgerEventKind
    at: Long
    at_iso: DateTime = strawberry.field(name="atISO")
    customer_id: Long
    promotion_id: str
    earned_promotion_id: str | None = strawberry.field(
        description="The entry, when the change touched exactly one (an earn of several is one event)."
    )
    redemption_id: str | None = strawberry.field(
        description="REDEEMED: the redemption recorded; REVERSED: the redemption reversed."
    )
    count: int = strawberry.field(
        description="Entries moved (ISSUED, EARNED, REVOKED) or redemptions moved (REDEEMED, REVERSED, "
        "HELD, RELEASED)."
    )
    actor: str = strawberry.field(description="The API client's username, or cli:<login>.")
    source: str | None = strawberry.field(
        description="contextId, earnedFromId, transactionIdentifier, reversalIdentifier or holdId."
    )

    @classmethod
    def from_domain(cls, event: history.LedgerEvent) -> LedgerEvent:
        return cls(
            id=event.id,
            kind=event.kind,
            at=event.at,
            at_iso=event.at,
            customer_id=event.customer_id,
            promotion_id=event.promotion_id,
            earned_promotion_id=event.earned_promotion_id,
            redemption_id=event.redemption_id,
            count=event.count,
            actor=event.actor,
            source=event.source,
        )


@strawberry.type
class LedgerEventEdge:
    cursor: str
    node: LedgerEvent


@strawberry.type
class LedgerEventConnection(_Counted):
    edges: list[LedgerEventEdge]
    page_info: PageInfo

    @classmethod
    def from_page(
        cls, page: models.Page[history.LedgerEvent], count: Callable[[], Awaitable[int]]
    ) -> LedgerEventConnection:
        return cls(
            edges=[
                LedgerEventEdge(cursor=c, node=LedgerEvent.from_domain(x))
                for x, c in zip(page.items, page.cursors, strict=True)
            ],
            page_info=_page_info(page),
            _count=count,
        )


@strawberry.type
class RedemptionCheck:
    name: str
    passed: bool
    detail: str
    code: int | None


@strawberry.type
class RedemptionAllocation:
    promotion_id: str
    earned_promotion_id: str
    redemption_count: int


@strawberry.type(description="What redeemPromotions would do with this input now, check by check.")
class RedemptionExplanation:
    would_succeed: bool
    error: Error | None = strawberry.field(
        description="The error redeemPromotions would return now (same type and code); null if it "
        "would succeed."
    )
    checks: list[RedemptionCheck]
    allocations: list[RedemptionAllocation] = strawberry.field(
        description="The entries it would consume, and how many redemptions of each (none for a replay)."
    )

    @classmethod
    def from_domain(cls, explanation: Explanation) -> RedemptionExplanation:
        return cls(
            would_succeed=explanation.would_succeed,
            error=to_graphql_error(explanation.error) if explanation.error is not None else None,
            checks=[
                RedemptionCheck(name=x.name, passed=x.passed, detail=x.detail, code=x.code)
                for x in explanation.checks
            ],
            allocations=[
                RedemptionAllocation(
                    promotion_id=a.promotion_id,
                    earned_promotion_id=a.earned_promotion_id,
                    redemption_count=a.count,
                )
                for a in explanation.allocations
            ],
        )
