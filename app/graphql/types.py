"""Output types. Each has `from_domain` (the Customer wraps its domain value); derived fields (ISO
times, statuses) are computed here from the domain values with the request's single clock reading.
The wallet and redemption reads that Customer shares with the query root are here too."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar
from zoneinfo import ZoneInfo

import strawberry
from graphql import FieldNode, FragmentSpreadNode, InlineFragmentNode

from app.domain import models, rules
from app.domain.holds import hold_status
from app.domain.presentation import entry_facts, org_zone, valid_till_local
from app.domain.reversal import redemption_status
from app.graphql.context import Info
from app.graphql.execution import PRECOMPUTED
from app.graphql.scalars import DateTime, Decimal, Long
from app.services import queries

# The domain enums are the GraphQL enums: strawberry.enum marks each class itself (and returns
# it), so these names are plain aliases, which mypy accepts as types.
PromotionType = models.PromotionType
PromotionStatus = models.PromotionStatus
EarnedFromType = models.EarnedFromType
EarnedPromotionStatus = models.EarnedPromotionStatus
CustomerIdentifierType = models.CustomerIdentifierType
RedemptionStatus = models.RedemptionStatus
HoldStatus = models.HoldStatus
for _enum in (
    HoldStatus,
    PromotionType,
    PromotionStatus,
    EarnedFromType,
    EarnedPromotionStatus,
    CustomerIdentifierType,
    RedemptionStatus,
):
    strawberry.enum(_enum, name=_enum.__name__)

T = TypeVar("T")


@strawberry.type
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


def _page_info(page: models.Page[T]) -> PageInfo:
    return PageInfo(has_next_page=page.has_next_page, end_cursor=page.cursors[-1] if page.cursors else None)


@strawberry.type
class _Counted:
    """`totalCount` costs a COUNT query, so it runs only when a client selects it."""

    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field
    async def total_count(self) -> int:
        return await self._count()


# Plain attribute fields, computed once in `from_domain`: graphql-core's default resolver reads
# them directly, while a method per field costs a Strawberry resolver call per field per row
# (measured: ~9 ms for a wallet page of 20 entries, most of the request).
@strawberry.type
class Promotion:
    id: str
    name: str
    type: PromotionType
    status: PromotionStatus
    active: bool
    start_date: Long
    start_date_iso: DateTime = strawberry.field(name="startDateISO")
    end_date: Long
    end_date_iso: DateTime = strawberry.field(name="endDateISO")
    redemption_window_days: int | None
    max_redemptions_per_earn: int
    max_earns_per_customer: int | None

    @classmethod
    def from_domain(cls, promotion: models.Promotion, now: int) -> Promotion:
        return cls(
            id=promotion.id,
            name=promotion.name,
            type=promotion.type,
            status=rules.promotion_status(promotion, now),
            active=promotion.active,
            start_date=promotion.start_date,
            start_date_iso=promotion.start_date,
            end_date=promotion.end_date,
            end_date_iso=promotion.end_date,
            redemption_window_days=promotion.redemption_window_days,
            max_redemptions_per_earn=promotion.max_redemptions_per_earn,
            max_earns_per_customer=promotion.max_earns_per_customer,
        )


@strawberry.type
class EventDetails:
    id: str
    type: str


@strawberry.type
class EarnedPromotion:
    id: str
    customer_id: Long
    promotion_id: str
    earned_from_type: EarnedFromType
    earned_from_id: str
    event_time: Long
    event_time_iso: DateTime = strawberry.field(name="eventTimeISO")
    event_details: EventDetails | None
    valid_till: Long
    valid_till_iso: DateTime = strawberry.field(name="validTillISO")
    status: EarnedPromotionStatus
    redemptions_allowed: int
    redemptions_used: int
    redemptions_held: int = strawberry.field(
        description="Reserved by live holds (HELD, before their expiresAt): not available to "
        "redemptions or other holds, and given back by a release or the expiry with no write."
    )
    redemptions_remaining: int = strawberry.field(
        description="What can still be redeemed: allowed - used - held on LOCKED and UNLOCKED "
        "entries, 0 on REDEEMED, EXPIRED and REVOKED ones."
    )
    redeemable: bool = strawberry.field(description="UNLOCKED with redemptions remaining: redeemable now.")
    now: strawberry.Private[int]
    domain: strawberry.Private[models.EarnedPromotion]
    known_promotion: strawberry.Private[Promotion | None] = None
    known_valid_till_local: strawberry.Private[str | None] = None

    # PRECOMPUTED: when the page was read with them, the executor reads these two as plain
    # fields (no resolver call, no Info) -- which is what the resolvers answer then.
    @strawberry.field(
        graphql_type=str,
        description="validTill in the org's timezone, with its offset and milliseconds "
        "(2025-05-31T23:59:59.999+05:30): the local day to show as 'valid until'.",
        metadata={PRECOMPUTED: "known_valid_till_local"},
    )
    def valid_till_local(self, info: Info) -> str | Awaitable[str]:
        if self.known_valid_till_local is not None:
            return self.known_valid_till_local
        # Synchronous once the request has read the org's timezone; the first entry awaits it.
        zone = info.context.org_zone()
        if isinstance(zone, ZoneInfo):
            return valid_till_local(self.domain, zone)
        return self._valid_till_local(zone)

    async def _valid_till_local(self, zone: Awaitable[ZoneInfo]) -> str:
        return valid_till_local(self.domain, await zone)

    @strawberry.field(graphql_type=Promotion, metadata={PRECOMPUTED: "known_promotion"})
    def promotion(self, info: Info) -> Promotion | Awaitable[Promotion]:
        # A synchronous resolver when the page already carries the promotion (the wallet read
        # loads them with the page): an awaitable per entry costs graphql-core a task, a gather
        # and a list-completion pass, which measured ~1 ms of a 20-entry wallet read. Otherwise
        # the request's DataLoader batches every entry's promotion into one query.
        if self.known_promotion is not None:
            return self.known_promotion
        return self._load_promotion(info)

    async def _load_promotion(self, info: Info) -> Promotion:
        promotion = await info.context.promotion_loader.load(self.promotion_id)
        if promotion is None:  # the foreign key makes this unreachable
            raise LookupError(f"promotion {self.promotion_id} is missing")
        return Promotion.from_domain(promotion, self.now)

    @classmethod
    def from_domain(
        cls,
        entry: models.EarnedPromotion,
        now: int,
        promotion: Promotion | None = None,
        zone: ZoneInfo | None = None,
    ) -> EarnedPromotion:
        """`promotion` and `zone` (the org's timezone), when the read brought them, settle the
        entry's promotion and validTillLocal now."""
        details = entry.event_details
        facts = entry_facts(entry, now)
        return cls(
            id=entry.id,
            customer_id=entry.customer_id,
            promotion_id=entry.promotion_id,
            earned_from_type=entry.earned_from_type,
            earned_from_id=entry.earned_from_id,
            event_time=entry.event_time,
            event_time_iso=entry.event_time,
            event_details=EventDetails(id=details.id, type=details.type) if details else None,
            valid_till=entry.valid_till,
            valid_till_iso=entry.valid_till,
            status=facts.status,
            redemptions_allowed=entry.redemptions_allowed,
            redemptions_used=entry.redemptions_used,
            redemptions_held=entry.redemptions_held,
            redemptions_remaining=facts.redemptions_remaining,
            redeemable=facts.redeemable,
            now=now,
            domain=entry,
            known_promotion=promotion,
            known_valid_till_local=valid_till_local(entry, zone) if zone is not None else None,
        )


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
class ReversalLine:
    promotion_id: str
    earned_promotion_id: str | None = strawberry.field(
        description="The wallet entry given its redemptions back; null for a POS or CODE promotion "
        "(recorded, no wallet effect)."
    )
    redemption_count: int


@strawberry.type
class Reversal:
    id: str
    reversal_identifier: str
    redemption_id: str
    reason: str | None
    created_at: Long
    created_at_iso: DateTime = strawberry.field(name="createdAtISO")
    lines: list[ReversalLine] = strawberry.field(description="What this reversal gave back, entry by entry.")

    @classmethod
    def from_domain(cls, reversal: models.Reversal) -> Reversal:
        return cls(
            id=reversal.id,
            reversal_identifier=reversal.reversal_identifier,
            redemption_id=reversal.redemption_id,
            reason=reversal.reason,
            created_at=reversal.created_at,
            created_at_iso=reversal.created_at,
            lines=[
                ReversalLine(
                    promotion_id=x.promotion_id,
                    earned_promotion_id=x.earned_promotion_id,
                    redemption_count=x.redemption_count,
                )
                for x in reversal.lines
            ],
        )


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
    status: RedemptionStatus = strawberry.field(
        description="ACTIVE until a reversal; PARTIALLY_REVERSED while counts are left to give back; "
        "REVERSED when every count was given back."
    )
    reversals: list[Reversal] = strawberry.field(description="Oldest first.")

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
            transaction_date_iso=redemption.transaction_date,
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
            status=redemption_status(redemption),
            reversals=[Reversal.from_domain(x) for x in redemption.reversals],
        )


def _line_items(lines: list[models.RedemptionLine]) -> list[RedemptionLineItem]:
    return [
        RedemptionLineItem(
            sku=x.sku,
            promotion_id=x.promotion_id,
            earned_promotion_id=x.earned_promotion_id,
            redemption_count=x.redemption_count,
            discount=x.discount,
            discount_applied_on_quantity=x.discount_applied_on_quantity,
            promotion_applied_on_quantity=x.promotion_applied_on_quantity,
        )
        for x in lines
    ]


def _promotion_redemptions(lines: list[models.RedemptionLine]) -> list[PromotionRedemption]:
    return [
        PromotionRedemption(
            sku=x.sku,
            promotion_id=x.promotion_id,
            redemption_count=x.redemption_count,
            discount=x.discount,
            discount_applied_on_quantity=x.discount_applied_on_quantity,
            promotion_applied_on_quantity=x.promotion_applied_on_quantity,
        )
        for x in lines
    ]


@strawberry.type
class Hold:
    id: str
    status: HoldStatus = strawberry.field(
        description="HELD until commitHold (COMMITTED), releaseHold (RELEASED) or expiresAt (EXPIRED)."
    )
    customer_id: Long
    transaction_identifier: str
    expires_at: Long
    expires_at_iso: DateTime = strawberry.field(name="expiresAtISO")
    line_items: list[RedemptionLineItem]
    redemptions: list[PromotionRedemption]
    redemption: Redemption | None = strawberry.field(description="Once committed: what the commit recorded.")

    @classmethod
    def from_domain(cls, hold: models.Hold, now: int) -> Hold:
        return cls(
            id=hold.id,
            status=hold_status(hold, now),
            customer_id=hold.customer_id,
            transaction_identifier=hold.transaction_identifier,
            expires_at=hold.expires_at,
            expires_at_iso=hold.expires_at,
            line_items=_line_items(hold.line_items),
            redemptions=_promotion_redemptions(hold.redemptions),
            redemption=Redemption.from_domain(hold.redemption) if hold.redemption is not None else None,
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
            page_info=_page_info(page),
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
        cls,
        page: models.Page[models.EarnedPromotion],
        now: int,
        count: Callable[[], Awaitable[int]],
        promotions: Mapping[str, models.Promotion],
        zone: ZoneInfo | None = None,
    ) -> EarnedPromotionConnection:
        """`promotions`: those of the page's entries already loaded (by id); the rest are left
        to the DataLoader. `zone`: the org's timezone, when the read brought it."""
        shown = {pid: Promotion.from_domain(p, now) for pid, p in promotions.items()}
        return cls(
            edges=[
                EarnedPromotionEdge(
                    cursor=c, node=EarnedPromotion.from_domain(e, now, shown.get(e.promotion_id), zone)
                )
                for e, c in zip(page.items, page.cursors, strict=True)
            ],
            page_info=_page_info(page),
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
            page_info=_page_info(page),
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


DEFAULT_PAGE_SIZE = 20


def _selected_names(info: Info) -> set[str]:
    """The current field's name and every field name selected below it (fragments included). Read off
    graphql-core's nodes: Strawberry's `selected_fields` converts the whole selection, arguments
    and all, into its own objects first."""
    raw = info._raw_info
    fragments = raw.fragments
    names = {node.name.value for node in raw.field_nodes}
    spread: set[str] = set()
    stack = [node.selection_set for node in raw.field_nodes if node.selection_set is not None]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode):
                names.add(selection.name.value)
                if selection.selection_set is not None:
                    stack.append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is not None and selection.name.value not in spread:
                    spread.add(selection.name.value)
                    stack.append(fragment.selection_set)
    return names


async def resolve_wallet(
    info: Info,
    customer_id: int,
    status: list[models.EarnedPromotionStatus] | None,
    promotion_id: str | None,
    first: int | None,
    after: str | None,
) -> EarnedPromotionConnection:
    ctx = info.context
    selected = _selected_names(info)
    view = await queries.wallet_view(
        ctx.uow_factory,
        ctx.principal,
        customer_id=customer_id,
        statuses=status,
        promotion_id=promotion_id,
        first=DEFAULT_PAGE_SIZE if first is None else first,
        after=after,
        with_count="totalCount" in selected,
        with_promotions="promotion" in selected,
        with_timezone="validTillLocal" in selected,
    )
    zone = None
    if view.timezone is not None:  # then every entry's validTillLocal resolves without a read
        zone = org_zone(view.timezone)
        ctx.know_org_zone(zone)

    async def count() -> int:
        if view.total_count is not None:
            return view.total_count
        return await queries.wallet_count(
            ctx.uow_factory,
            ctx.principal,
            customer_id=customer_id,
            statuses=status,
            promotion_id=promotion_id,
        )

    return EarnedPromotionConnection.from_page(view.page, ctx.now, count, view.promotions, zone)


async def resolve_redemptions(
    info: Info,
    customer_id: int | None,
    promotion_id: str | None,
    transaction_identifier: str | None,
    first: int | None,
    after: str | None,
) -> RedemptionConnection:
    ctx = info.context
    first = DEFAULT_PAGE_SIZE if first is None else first
    page = await queries.redemptions_page(
        ctx.uow_factory,
        ctx.principal,
        customer_id=customer_id,
        promotion_id=promotion_id,
        transaction_identifier=transaction_identifier,
        first=first,
        after=after,
    )

    async def count() -> int:
        return await queries.redemptions_count(
            ctx.uow_factory,
            ctx.principal,
            customer_id=customer_id,
            promotion_id=promotion_id,
            transaction_identifier=transaction_identifier,
        )

    return RedemptionConnection.from_page(page, count)


@strawberry.type
class Customer:
    """Its fields read the domain customer; its wallet and redemptions resolve like the root
    fields of the same names (`resolve_wallet`, `resolve_redemptions`)."""

    domain: strawberry.Private[models.Customer]

    @strawberry.field
    def id(self) -> Long:
        return self.domain.id

    @strawberry.field
    def mobile(self) -> str | None:
        return self.domain.mobile

    @strawberry.field
    def email(self) -> str | None:
        return self.domain.email

    @strawberry.field
    def external_id(self) -> str | None:
        return self.domain.external_id

    @strawberry.field
    async def wallet(
        self,
        info: Info,
        status: list[EarnedPromotionStatus] | None = None,
        promotion_id: str | None = None,
        first: int | None = 20,
        after: str | None = None,
    ) -> EarnedPromotionConnection:
        return await resolve_wallet(info, self.domain.id, status, promotion_id, first, after)

    @strawberry.field
    async def redemptions(
        self, info: Info, first: int | None = 20, after: str | None = None
    ) -> RedemptionConnection:
        return await resolve_redemptions(info, self.domain.id, None, None, first, after)
