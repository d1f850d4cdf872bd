"""Output types. Each has `from_domain`; derived fields (ISO times, statuses) are computed here
from the domain values with the request's single clock reading."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry

from app.domain import models, rules
from app.domain.clock import to_datetime
from app.graphql.context import Info
from app.graphql.scalars import DateTime, Decimal, Long

PromotionType = strawberry.enum(models.PromotionType, name="PromotionType")
PromotionStatus = strawberry.enum(models.PromotionStatus, name="PromotionStatus")
EarnedFromType = strawberry.enum(models.EarnedFromType, name="EarnedFromType")
EarnedPromotionStatus = strawberry.enum(models.EarnedPromotionStatus, name="EarnedPromotionStatus")
CustomerIdentifierType = strawberry.enum(models.CustomerIdentifierType, name="CustomerIdentifierType")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


def _page_info(page: models.Page[object]) -> PageInfo:
    return PageInfo(has_next_page=page.has_next_page, end_cursor=page.cursors[-1] if page.cursors else None)


@strawberry.type
class _Counted:
    """`totalCount` costs a COUNT query, so it runs only when a client selects it."""

    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    async def total_count(self) -> int:
        return await self._count()


@strawberry.type
class Promotion:
    domain: strawberry.Private[models.Promotion]
    now: strawberry.Private[int]

    @strawberry.field
    def id(self) -> str:
        return self.domain.id

    @strawberry.field
    def name(self) -> str:
        return self.domain.name

    @strawberry.field
    def type(self) -> PromotionType:
        return self.domain.type

    @strawberry.field
    def status(self) -> PromotionStatus:
        return rules.promotion_status(self.domain, self.now)

    @strawberry.field
    def active(self) -> bool:
        return self.domain.active

    @strawberry.field
    def start_date(self) -> Long:
        return self.domain.start_date

    @strawberry.field(name="startDateISO")
    def start_date_iso(self) -> DateTime:
        return to_datetime(self.domain.start_date)

    @strawberry.field
    def end_date(self) -> Long:
        return self.domain.end_date

    @strawberry.field(name="endDateISO")
    def end_date_iso(self) -> DateTime:
        return to_datetime(self.domain.end_date)

    @strawberry.field
    def redemption_window_days(self) -> int | None:
        return self.domain.redemption_window_days

    @strawberry.field
    def max_redemptions_per_earn(self) -> int:
        return self.domain.max_redemptions_per_earn

    @strawberry.field
    def max_earns_per_customer(self) -> int | None:
        return self.domain.max_earns_per_customer

    @classmethod
    def from_domain(cls, promotion: models.Promotion, now: int) -> Promotion:
        return cls(domain=promotion, now=now)


@strawberry.type
class EventDetails:
    id: str
    type: str


@strawberry.type
class EarnedPromotion:
    domain: strawberry.Private[models.EarnedPromotion]
    now: strawberry.Private[int]

    @strawberry.field
    def id(self) -> str:
        return self.domain.id

    @strawberry.field
    def customer_id(self) -> Long:
        return self.domain.customer_id

    @strawberry.field
    def promotion_id(self) -> str:
        return self.domain.promotion_id

    @strawberry.field
    async def promotion(self, info: Info) -> Promotion:
        promotion = await info.context.promotion_loader.load(self.domain.promotion_id)
        if promotion is None:  # the foreign key makes this unreachable
            raise LookupError(f"promotion {self.domain.promotion_id} is missing")
        return Promotion.from_domain(promotion, self.now)

    @strawberry.field
    def earned_from_type(self) -> EarnedFromType:
        return self.domain.earned_from_type

    @strawberry.field
    def earned_from_id(self) -> str:
        return self.domain.earned_from_id

    @strawberry.field
    def event_time(self) -> Long:
        return self.domain.event_time

    @strawberry.field(name="eventTimeISO")
    def event_time_iso(self) -> DateTime:
        return to_datetime(self.domain.event_time)

    @strawberry.field
    def event_details(self) -> EventDetails | None:
        details = self.domain.event_details
        return EventDetails(id=details.id, type=details.type) if details else None

    @strawberry.field
    def valid_till(self) -> Long:
        return self.domain.valid_till

    @strawberry.field(name="validTillISO")
    def valid_till_iso(self) -> DateTime:
        return to_datetime(self.domain.valid_till)

    @strawberry.field
    def status(self) -> EarnedPromotionStatus:
        return rules.earned_status(self.domain, self.now)

    @strawberry.field
    def redemptions_allowed(self) -> int:
        return self.domain.redemptions_allowed

    @strawberry.field
    def redemptions_used(self) -> int:
        return self.domain.redemptions_used

    @classmethod
    def from_domain(cls, entry: models.EarnedPromotion, now: int) -> EarnedPromotion:
        return cls(domain=entry, now=now)


@strawberry.type
class RedemptionLineItem:
    sku: str | None
    promotion_id: str
    earned_promotion_id: str | None
    redemption_count: int
    discount: Decimal
    discount_applied_on_quantity: Decimal
    promotion_applied_on_quantity: Decimal


@strawberry.type
class PromotionRedemption:
    sku: str | None
    promotion_id: str
    redemption_count: int
    discount: Decimal
    discount_applied_on_quantity: Decimal
    promotion_applied_on_quantity: Decimal


@strawberry.type
class ConsumedEarnedPromotion:
    earned_promotion_id: str
    promotion_id: str
    count: int


@strawberry.type
class Redemption:
    id: str
    customer_id: Long
    customer_identifier_type: CustomerIdentifierType | None
    customer_identifier_value: str | None
    transaction_identifier: str
    transaction_number: str
    transaction_date: Long
    transaction_date_iso: DateTime = strawberry.field(name="transactionDateISO")
    amount: Decimal
    line_items: list[RedemptionLineItem]
    redemptions: list[PromotionRedemption]
    consumed: list[ConsumedEarnedPromotion] = strawberry.field(
        description="The wallet entries this redemption used, and how many redemptions of each."
    )

    @classmethod
    def from_domain(cls, redemption: models.Redemption) -> Redemption:
        return cls(
            id=redemption.id,
            customer_id=redemption.customer_id,
            customer_identifier_type=redemption.customer_identifier_type,
            customer_identifier_value=redemption.customer_identifier_value,
            transaction_identifier=redemption.transaction_identifier,
            transaction_number=redemption.transaction_number,
            transaction_date=redemption.transaction_date,
            transaction_date_iso=to_datetime(redemption.transaction_date),
            amount=redemption.amount,
            line_items=[
                RedemptionLineItem(
                    sku=x.sku,
                    promotion_id=x.promotion_id,
                    earned_promotion_id=x.earned_promotion_id,
                    redemption_count=x.redemption_count,
                    discount=x.discount,
                    discount_applied_on_quantity=x.discount_applied_on_quantity,
                    promotion_applied_on_quantity=x.promotion_applied_on_quantity,
                )
                for x in redemption.line_items
            ],
            redemptions=[
                PromotionRedemption(
                    sku=x.sku,
                    promotion_id=x.promotion_id,
                    redemption_count=x.redemption_count,
                    discount=x.discount,
                    discount_applied_on_quantity=x.discount_applied_on_quantity,
                    promotion_applied_on_quantity=x.promotion_applied_on_quantity,
                )
                for x in redemption.redemptions
            ],
            consumed=[
                ConsumedEarnedPromotion(
                    earned_promotion_id=c.earned_promotion_id, promotion_id=c.promotion_id, count=c.count
                )
                for c in redemption.consumed
            ],
        )


@strawberry.type
class PromotionEdge:
    cursor: str
    node: Promotion


@strawberry.type
class PromotionConnection(_Counted):
    edges: list[PromotionEdge]
    page_info: PageInfo

    @classmethod
    def from_page(
        cls, page: models.Page[models.Promotion], now: int, count: Callable[[], Awaitable[int]]
    ) -> PromotionConnection:
        return cls(
            edges=[
                PromotionEdge(cursor=c, node=Promotion.from_domain(p, now))
                for p, c in zip(page.items, page.cursors, strict=True)
            ],
            page_info=_page_info(page),  # type: ignore[arg-type]
            _count=count,
        )


@strawberry.type
class EarnedPromotionEdge:
    cursor: str
    node: EarnedPromotion


@strawberry.type
class EarnedPromotionConnection(_Counted):
    edges: list[EarnedPromotionEdge]
    page_info: PageInfo

    @classmethod
    def from_page(
        cls, page: models.Page[models.EarnedPromotion], now: int, count: Callable[[], Awaitable[int]]
    ) -> EarnedPromotionConnection:
        return cls(
            edges=[
                EarnedPromotionEdge(cursor=c, node=EarnedPromotion.from_domain(e, now))
                for e, c in zip(page.items, page.cursors, strict=True)
            ],
            page_info=_page_info(page),  # type: ignore[arg-type]
            _count=count,
        )


@strawberry.type
class RedemptionEdge:
    cursor: str
    node: Redemption


@strawberry.type
class RedemptionConnection(_Counted):
    edges: list[RedemptionEdge]
    page_info: PageInfo

    @classmethod
    def from_page(
        cls, page: models.Page[models.Redemption], count: Callable[[], Awaitable[int]]
    ) -> RedemptionConnection:
        return cls(
            edges=[
                RedemptionEdge(cursor=c, node=Redemption.from_domain(r))
                for r, c in zip(page.items, page.cursors, strict=True)
            ],
            page_info=_page_info(page),  # type: ignore[arg-type]
            _count=count,
        )


@strawberry.type
class OrgSettings:
    timezone: str
    max_active_promotions: int
    redemption_without_evaluation: bool
    web_engage_account_id: str | None

    @classmethod
    def from_domain(cls, settings: models.OrgSettings) -> OrgSettings:
        return cls(
            timezone=settings.timezone,
            max_active_promotions=settings.max_active_promotions,
            redemption_without_evaluation=settings.redemption_without_evaluation,
            web_engage_account_id=settings.web_engage_account_id,
        )
