"""The read use cases on fakes: wallet pages (soonest-expiring first, filters, cursors), promotions,
redemptions, customers; paging errors are `InvalidPage`; nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from app.domain.commands import CustomerLookup
from app.domain.errors import InvalidRequest
from app.domain.models import (
    Customer,
    CustomerIdentifierType,
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
from app.domain.paging import InvalidPage, PageArgument, encode_cursor
from app.services import queries
from tests.fakes import FakeUnitOfWorkFactory
from tests.services.factories import ORG_ID, OTHER_ORG_ID, Given, line

CUSTOMER = 31


@pytest.fixture(autouse=True)
def nothing_is_written(uow_factory: FakeUnitOfWorkFactory) -> Iterator[None]:
    yield
    assert uow_factory.writes == []


async def view(
    uow_factory: FakeUnitOfWorkFactory,
    principal: Principal,
    *,
    customer_id: int = CUSTOMER,
    first: int = 10,
    after: str | None = None,
    statuses: list[EarnedPromotionStatus] | None = None,
    promotion_id: str | None = None,
) -> WalletPage:
    return await queries.wallet_view(
        uow_factory,
        principal,
        customer_id=customer_id,
        statuses=statuses,
        promotion_id=promotion_id,
        first=first,
        after=after,
        with_count=True,
        with_promotions=True,
    )


def a_wallet(given: Given) -> dict[str, EarnedPromotion]:
    """One entry of each status, and a second unlocked one of another promotion."""
    promotion, other = given.promotion(), given.promotion()
    given.customers(CUSTOMER)
    return {
        "unlocked": given.entry(promotion, CUSTOMER, earned_from_id="u", expires_in_days=5),
        "locked": given.entry(promotion, CUSTOMER, earned_from_id="l", expires_in_days=4, unlocks_in_days=1),
        "expired": given.entry(
            promotion, CUSTOMER, earned_from_id="e", expires_in_days=-1, unlocks_in_days=-3
        ),
        "redeemed": given.entry(
            promotion, CUSTOMER, earned_from_id="r", expires_in_days=3, redemptions_used=1
        ),
        "revoked": given.entry(promotion, CUSTOMER, earned_from_id="x", expires_in_days=2, revoked=True),
        "other": given.entry(other, CUSTOMER, earned_from_id="o", expires_in_days=6),
    }


# --- Wallets ---------------------------------------------------------------------------------


async def test_a_wallet_lists_the_soonest_expiring_entries_first_with_its_total_and_promotions(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given
) -> None:
    # given
    wallet = a_wallet(given)
    # when
    page = await view(uow_factory, principal)
    # then
    assert [e.id for e in page.page.items] == [
        wallet[name].id for name in ("expired", "revoked", "redeemed", "locked", "unlocked", "other")
    ]
    assert page.total_count == 6
    assert set(page.promotions) == {wallet["unlocked"].promotion_id, wallet["other"].promotion_id}
    assert page.page.has_next_page is False


async def test_a_wallet_is_read_page_by_page_with_the_cursors_it_returns(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given
) -> None:
    # given
    promotion = given.promotion()
    given.customers(CUSTOMER)
    entries = [
        given.entry(promotion, CUSTOMER, earned_from_id=f"o{i}", expires_in_days=10 - i) for i in range(5)
    ]
    expected = [e.id for e in sorted(entries, key=lambda e: (e.valid_till, e.id))]
    # when
    first = await view(uow_factory, principal, first=2)
    second = await view(uow_factory, principal, first=2, after=first.page.cursors[-1])
    third = await view(uow_factory, principal, first=2, after=second.page.cursors[-1])
    # then
    assert [e.id for p in (first, second, third) for e in p.page.items] == expected
    assert [p.page.has_next_page for p in (first, second, third)] == [True, True, False]
    assert [p.total_count for p in (first, second, third)] == [5, 5, 5]
    assert first.page.cursors == [encode_cursor(e.valid_till, e.id) for e in first.page.items]


async def test_a_wallet_pages_entries_with_the_same_valid_till_by_id(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given
) -> None:
    promotion = given.promotion()
    given.customers(CUSTOMER)
    entries = [given.entry(promotion, CUSTOMER, earned_from_id=f"o{i}", expires_in_days=3) for i in range(3)]
    first = await view(uow_factory, principal, first=1)
    rest = await view(uow_factory, principal, first=5, after=first.page.cursors[0])
    assert [e.id for e in [*first.page.items, *rest.page.items]] == sorted(e.id for e in entries)


@pytest.mark.parametrize(
    ("statuses", "names"),
    [
        ([EarnedPromotionStatus.UNLOCKED], ["unlocked", "other"]),
        ([EarnedPromotionStatus.LOCKED], ["locked"]),
        ([EarnedPromotionStatus.EXPIRED], ["expired"]),
        ([EarnedPromotionStatus.REDEEMED], ["redeemed"]),
        ([EarnedPromotionStatus.REVOKED], ["revoked"]),
        ([EarnedPromotionStatus.REVOKED, EarnedPromotionStatus.LOCKED], ["revoked", "locked"]),
        ([], ["expired", "revoked", "redeemed", "locked", "unlocked", "other"]),
    ],
    ids=["unlocked", "locked", "expired", "redeemed", "revoked", "two", "none means all"],
)
async def test_a_wallet_filtered_by_status_lists_and_counts_only_those_entries(
    uow_factory: FakeUnitOfWorkFactory,
    principal: Principal,
    given: Given,
    statuses: list[EarnedPromotionStatus],
    names: list[str],
) -> None:
    # given
    wallet = a_wallet(given)
    # when
    page = await view(uow_factory, principal, statuses=statuses)
    count = await queries.wallet_count(
        uow_factory, principal, customer_id=CUSTOMER, statuses=statuses, promotion_id=None
    )
    # then
    assert [e.id for e in page.page.items] == [wallet[name].id for name in names]
    assert page.total_count == count == len(names)


async def test_a_wallet_filtered_by_promotion_lists_only_its_entries(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given
) -> None:
    wallet = a_wallet(given)
    page = await queries.wallet_page(
        uow_factory,
        principal,
        customer_id=CUSTOMER,
        statuses=None,
        promotion_id=wallet["other"].promotion_id,
        first=10,
        after=None,
    )
    assert [e.id for e in page.items] == [wallet["other"].id]


@pytest.mark.parametrize("whose", ["unknown", "another org's"])
async def test_the_wallet_of_a_customer_not_in_the_org_is_empty(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given, whose: str
) -> None:
    # given
    if whose == "another org's":
        given.org(OTHER_ORG_ID)
        given.customers(CUSTOMER, org_id=OTHER_ORG_ID)
        given.entry(given.promotion(org_id=OTHER_ORG_ID), CUSTOMER)
    # when
    page = await view(uow_factory, principal)
    # then
    assert (page.page.items, page.page.has_next_page, page.total_count, page.promotions) == ([], False, 0, {})


async def test_a_wallet_page_of_size_0_reports_whether_there_are_entries(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given
) -> None:
    a_wallet(given)
    page = await view(uow_factory, principal, first=0)
    assert (page.page.items, page.page.has_next_page, page.total_count) == ([], True, 6)


@pytest.mark.parametrize("first", [-1, 101])
async def test_a_wallet_page_size_out_of_range_is_an_invalid_page_on_the_size(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, first: int
) -> None:
    with pytest.raises(InvalidPage) as raised:
        await view(uow_factory, principal, first=first)
    assert raised.value.argument is PageArgument.SIZE
    assert uow_factory.opened == []


@pytest.mark.parametrize("cursor", ["garbage", encode_cursor("only-an-id"), encode_cursor(1, 2)])
async def test_a_wallet_cursor_it_did_not_return_is_an_invalid_page_on_the_cursor(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given, cursor: str
) -> None:
    with pytest.raises(InvalidPage) as raised:
        await view(uow_factory, principal, after=cursor)
    assert raised.value.argument is PageArgument.CURSOR


# --- Promotions ------------------------------------------------------------------------------


async def test_promotions_are_listed_in_creation_order_page_by_page_and_filtered(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given
) -> None:
    # given
    active = given.promotion()
    upcoming = given.promotion(PromotionType.REWARD, starts_in_days=2)
    ended = given.promotion(ends_in_days=-1, starts_in_days=-5)
    off = given.promotion(PromotionType.POS, active=False)
    given.org(OTHER_ORG_ID)
    given.promotion(org_id=OTHER_ORG_ID)
    in_order = sorted([active, upcoming, ended, off], key=lambda p: p.id)

    async def page(
        first: int = 10,
        after: str | None = None,
        status: PromotionStatus | None = None,
        type_: PromotionType | None = None,
    ) -> Page[Promotion]:
        return await queries.promotions_page(
            uow_factory, principal, status=status, type_=type_, first=first, after=after
        )

    # when
    one = await page(first=3)
    two = await page(first=3, after=one.cursors[-1])
    # then
    assert [p.id for p in [*one.items, *two.items]] == [p.id for p in in_order]
    assert (one.has_next_page, two.has_next_page) == (True, False)
    for status, expected in [
        (PromotionStatus.ACTIVE, active),
        (PromotionStatus.UPCOMING, upcoming),
        (PromotionStatus.EXPIRED, ended),
        (PromotionStatus.INACTIVE, off),
    ]:
        assert (await page(status=status)).items == [expected]
        assert await queries.promotions_count(uow_factory, principal, status=status, type_=None) == 1
    assert (await page(type_=PromotionType.REWARD)).items == [upcoming]
    assert await queries.promotions_count(uow_factory, principal, status=None, type_=None) == 4


async def test_a_promotion_of_another_org_is_not_found(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given
) -> None:
    ours = given.promotion()
    given.org(OTHER_ORG_ID)
    theirs = given.promotion(org_id=OTHER_ORG_ID)
    assert await queries.get_promotion(uow_factory, principal, ours.id) == ours
    assert await queries.get_promotion(uow_factory, principal, theirs.id) is None
    assert await queries.promotions_by_id(uow_factory, ORG_ID, [ours.id, theirs.id]) == {ours.id: ours}


async def test_a_promotions_page_size_out_of_range_is_an_invalid_page(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    with pytest.raises(InvalidPage):
        await queries.promotions_page(uow_factory, principal, status=None, type_=None, first=101, after=None)


# --- Redemptions -----------------------------------------------------------------------------


def a_redemption(number: int, customer_id: int, promotion_id: str) -> Redemption:
    return Redemption(
        org_id=ORG_ID,
        id=f"{number:024x}",
        customer_id=customer_id,
        customer_identifier_type=None,
        customer_identifier_value=None,
        transaction_identifier=f"T-{number}",
        transaction_number=f"N-{number}",
        transaction_date=1_750_000_000_000,
        amount=Decimal("10.000000"),
        redemptions=[line(promotion_id)],
    )


async def test_redemptions_are_listed_newest_first_page_by_page_and_filtered(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given
) -> None:
    # given
    one, two = given.promotion(), given.promotion()
    given.customers(1, 2)
    for number, customer_id, promotion in [(1, 1, one), (2, 2, one), (3, 1, two), (4, 1, one)]:
        given.store.put_redemption(a_redemption(number, customer_id, promotion.id))

    async def page(
        after: str | None = None,
        customer_id: int | None = None,
        promotion_id: str | None = None,
        transaction_identifier: str | None = None,
    ) -> list[str]:
        found = await queries.redemptions_page(
            uow_factory,
            principal,
            customer_id=customer_id,
            promotion_id=promotion_id,
            transaction_identifier=transaction_identifier,
            first=10,
            after=after,
        )
        return [r.transaction_identifier for r in found.items]

    # when
    first = await queries.redemptions_page(
        uow_factory,
        principal,
        customer_id=None,
        promotion_id=None,
        transaction_identifier=None,
        first=3,
        after=None,
    )
    # then
    assert [r.transaction_identifier for r in first.items] == ["T-4", "T-3", "T-2"]
    assert first.has_next_page
    assert await page(after=first.cursors[-1]) == ["T-1"]
    assert await page(customer_id=1) == ["T-4", "T-3", "T-1"]
    assert await page(promotion_id=two.id) == ["T-3"]
    assert await page(transaction_identifier="T-2") == ["T-2"]
    assert await page(customer_id=2, promotion_id=two.id) == []
    count = await queries.redemptions_count(
        uow_factory, principal, customer_id=1, promotion_id=one.id, transaction_identifier=None
    )
    assert count == 2


# --- Customers -------------------------------------------------------------------------------


async def test_a_customer_is_found_by_id_or_by_identifier_and_both_must_agree(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given
) -> None:
    # given
    customer = given.customer(CUSTOMER, email="ann@example.com")
    mobile = CustomerIdentifierType.MOBILE
    email = CustomerIdentifierType.EMAIL

    async def find(
        customer_id: int | None = None,
        identifier_type: CustomerIdentifierType | None = None,
        identifier_value: str | None = None,
    ) -> Customer | None:
        lookup = CustomerLookup(customer_id, identifier_type, identifier_value)
        return await queries.find_customer(uow_factory, principal, lookup)

    # then
    assert await find(customer_id=CUSTOMER) == customer
    assert await find(identifier_type=email, identifier_value="ann@example.com") == customer
    assert (
        await find(customer_id=CUSTOMER, identifier_type=email, identifier_value="ann@example.com")
        == customer
    )
    assert await find(customer_id=CUSTOMER, identifier_type=email, identifier_value="bob@example.com") is None
    assert await find(customer_id=CUSTOMER, identifier_type=mobile, identifier_value="+4912345") is None
    assert await find(customer_id=CUSTOMER + 1) is None


async def test_a_customer_lookup_without_an_id_or_a_full_identifier_is_invalid(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        await queries.find_customer(
            uow_factory, principal, CustomerLookup(identifier_type=CustomerIdentifierType.EMAIL)
        )
    assert raised.value.field == "id"
