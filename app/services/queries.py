"""Read use cases: customers, wallets, promotions, redemptions. Each opens a read-only unit of
work of its own, so concurrently resolving GraphQL fields never share a session."""

from __future__ import annotations

from collections.abc import Sequence

from app.domain.clock import now_ms
from app.domain.commands import CustomerLookup
from app.domain.errors import InvalidRequest
from app.domain.models import (
    Customer,
    EarnedPromotion,
    EarnedPromotionStatus,
    Page,
    Principal,
    Promotion,
    PromotionStatus,
    PromotionType,
    Redemption,
    WalletPage,
)
from app.domain.paging import MAX_PAGE_SIZE, check_page_size
from app.domain.ports import UnitOfWorkFactory


async def find_customer(
    uow_factory: UnitOfWorkFactory, principal: Principal, lookup: CustomerLookup
) -> Customer | None:
    if lookup.customer_id is None and (lookup.identifier_type is None or lookup.identifier_value is None):
        raise InvalidRequest("give id, or identifierType and identifierValue", field="id")
    async with uow_factory() as uow:
        if lookup.customer_id is not None:
            customer = await uow.customers.get(principal.org_id, lookup.customer_id)
        else:
            assert lookup.identifier_type is not None and lookup.identifier_value is not None
            customer = await uow.customers.get_by_identifier(
                principal.org_id, lookup.identifier_type, lookup.identifier_value
            )
    if customer is None or (
        lookup.customer_id is not None
        and lookup.identifier_type is not None
        and customer.identifiers().get(lookup.identifier_type) != lookup.identifier_value
    ):
        return None
    return customer


async def wallet_page(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    *,
    customer_id: int,
    statuses: Sequence[EarnedPromotionStatus] | None,
    promotion_id: str | None,
    first: int,
    after: str | None,
) -> Page[EarnedPromotion]:
    """A wallet page alone, soonest-expiring first (without its total or promotions)."""
    view = await wallet_view(
        uow_factory,
        principal,
        customer_id=customer_id,
        statuses=statuses,
        promotion_id=promotion_id,
        first=first,
        after=after,
        with_count=False,
        with_promotions=False,
    )
    return view.page


async def wallet_view(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    *,
    customer_id: int,
    statuses: Sequence[EarnedPromotionStatus] | None,
    promotion_id: str | None,
    first: int,
    after: str | None,
    with_count: bool,
    with_promotions: bool,
    with_timezone: bool = False,
) -> WalletPage:
    """A wallet page with its total, the promotions its entries name and the org's timezone (for
    validTillLocal), each only when asked for, read by one statement
    (the wallet read is the hot path: each statement is a driver round trip). An unknown
    customer's wallet is empty, on every face: like another org's data, it is simply not there.
    No snapshot: the page is one statement (an empty page after a cursor counts its total by a
    second one, which needs to agree with nothing else the page read)."""
    check_page_size(first, MAX_PAGE_SIZE)
    async with uow_factory(snapshot=False) as uow:
        return await uow.wallet.view(
            principal.org_id,
            customer_id,
            statuses=statuses,
            promotion_id=promotion_id,
            first=first,
            after=after,
            now=now_ms(),
            with_count=with_count,
            with_promotions=with_promotions,
            with_timezone=with_timezone,
        )


async def wallet_count(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    *,
    customer_id: int,
    statuses: Sequence[EarnedPromotionStatus] | None,
    promotion_id: str | None,
) -> int:
    async with uow_factory(snapshot=False) as uow:
        return await uow.wallet.count(
            principal.org_id, customer_id, statuses=statuses, promotion_id=promotion_id, now=now_ms()
        )


async def get_promotion(
    uow_factory: UnitOfWorkFactory, principal: Principal, promotion_id: str
) -> Promotion | None:
    async with uow_factory(snapshot=False) as uow:
        return await uow.promotions.get(principal.org_id, promotion_id)


async def promotions_by_id(
    uow_factory: UnitOfWorkFactory, org_id: int, promotion_ids: Sequence[str]
) -> dict[str, Promotion]:
    async with uow_factory(snapshot=False) as uow:
        return await uow.promotions.get_many(org_id, promotion_ids)


async def promotions_page(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    *,
    status: PromotionStatus | None,
    type_: PromotionType | None,
    first: int,
    after: str | None,
) -> Page[Promotion]:
    check_page_size(first, MAX_PAGE_SIZE)
    async with uow_factory() as uow:
        return await uow.promotions.page(
            principal.org_id, status=status, type_=type_, first=first, after=after, now=now_ms()
        )


async def promotions_count(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    *,
    status: PromotionStatus | None,
    type_: PromotionType | None,
) -> int:
    async with uow_factory() as uow:
        return await uow.promotions.count(principal.org_id, status=status, type_=type_, now=now_ms())


async def redemptions_page(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    *,
    customer_id: int | None,
    promotion_id: str | None,
    transaction_identifier: str | None,
    first: int,
    after: str | None,
) -> Page[Redemption]:
    check_page_size(first, MAX_PAGE_SIZE)
    async with uow_factory() as uow:
        return await uow.redemptions.page(
            principal.org_id,
            customer_id=customer_id,
            promotion_id=promotion_id,
            transaction_identifier=transaction_identifier,
            first=first,
            after=after,
        )


async def redemptions_count(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    *,
    customer_id: int | None,
    promotion_id: str | None,
    transaction_identifier: str | None,
) -> int:
    # bulk: without a filter this counts every redemption of the org, a scan that grows with it.
    async with uow_factory(bulk=True) as uow:
        return await uow.redemptions.count(
            principal.org_id,
            customer_id=customer_id,
            promotion_id=promotion_id,
            transaction_identifier=transaction_identifier,
        )
