"""redeemPromotions on fakes: the check order of DESIGN §6 "Redeem", replays, coverage
(soonest-expiring first, each not-redeemable reason), and the concurrent duplicate."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from app.domain.commands import RedeemPromotions
from app.domain.errors import (
    CustomerNotFound,
    DomainError,
    EarnedPromotionNotFound,
    InvalidRequest,
    InvalidWebEngageAccount,
    NotRedeemableReason,
    PromotionNotFound,
    PromotionNotRedeemable,
    RedemptionWithoutEvaluationDisabled,
    ResourceLocked,
)
from app.domain.models import (
    Consumption,
    CustomerIdentifierType,
    EarnedPromotion,
    LedgerKind,
    Principal,
    PromotionType,
    Redemption,
    RedemptionLine,
)
from app.services.redeem import redeem_promotions
from tests.fakes import FakeStore, FakeUnitOfWorkFactory
from tests.services.factories import (
    MISSING_ORG_ID,
    ORG_ID,
    OTHER_ORG_ID,
    Given,
    line,
    principal_of,
    refusal_of,
)

CUSTOMER = 5668819330
MOBILE = "+919876543210"


def redeem_command(
    *redemptions: RedemptionLine,
    line_items: tuple[RedemptionLine, ...] | None = None,
    transaction_identifier: str = "T-1",
    transaction_number: str = "N-1",
    transaction_date: int = 1_750_000_000_000,
    amount: str = "100",
    customer_id: int | None = CUSTOMER,
    identifier_type: CustomerIdentifierType | None = None,
    identifier_value: str | None = None,
) -> RedeemPromotions:
    return RedeemPromotions(
        transaction_identifier=transaction_identifier,
        transaction_number=transaction_number,
        transaction_date=transaction_date,
        amount=Decimal(amount),
        customer_id=customer_id,
        identifier_type=identifier_type,
        identifier_value=identifier_value,
        line_items=line_items,
        redemptions=redemptions or None,
    )


async def refused(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, command: RedeemPromotions
) -> DomainError:
    """The error of a refused redemption; it must have written nothing."""
    return await refusal_of(uow_factory, store, redeem_promotions(uow_factory, principal, command))



@pytest.fixture
def customer(given: Given) -> int:
    given.customer(CUSTOMER, mobile=MOBILE)
    return CUSTOMER


# --- 400: the shape, before any read ---------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (redeem_command(line("p"), customer_id=None), "customerId"),
        (redeem_command(line("p"), customer_id=0), "customerId"),
        (
            redeem_command(line("p"), identifier_type=CustomerIdentifierType.MOBILE),
            "customerIdentifierValue",
        ),
        (redeem_command(line("p"), transaction_identifier=""), "transactionIdentifier"),
        (redeem_command(line("p"), transaction_identifier="t" * 251), "transactionIdentifier"),
        (redeem_command(line("p"), transaction_number="  "), "transactionNumber"),
        (redeem_command(line("p"), transaction_date=-1), "transactionDate"),
        (redeem_command(line("p"), amount="-1"), "amount"),
        (redeem_command(line("p"), amount="1.0000001"), "amount"),
        (redeem_command(), "lineItems"),
        (redeem_command(line("p", 0)), "redemptions[0].redemptionCount"),
        (redeem_command(line("p", applied="2", eligible="1")), "redemptions[0].discountAppliedOnQuantity"),
        (redeem_command(line("p", earned_promotion_id="e")), "redemptions[0].earnedPromotionId"),
        (redeem_command(line("p", 1), line_items=(line("p", 2),)), "redemptions"),
        (redeem_command(line("p", discount="60"), line("q", discount="50")), "amount"),
    ],
    ids=[
        "no customer",
        "customerId",
        "identifier pair",
        "empty transactionIdentifier",
        "long transactionIdentifier",
        "blank transactionNumber",
        "transactionDate",
        "negative amount",
        "amount precision",
        "no lines",
        "redemptionCount",
        "quantities",
        "entry named outside lineItems",
        "lists disagree",
        "discount over amount",
    ],
)
async def test_redeem_refuses_a_malformed_request_before_looking_up_the_customer(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    command: RedeemPromotions,
    field: str,
) -> None:
    # given: no customer exists at all
    # when
    error = await refused(uow_factory, store, principal, command)
    # then
    assert isinstance(error, InvalidRequest) and error.field == field
    assert uow_factory.opened == []


# --- 404 customer → 405 → 406 → replay → 404 promotion ---------------------------------------


async def test_redeem_refuses_an_unknown_customer_before_the_org_settings(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given
) -> None:
    given.settings(redemption_without_evaluation=False)
    error = await refused(uow_factory, store, principal, redeem_command(line("p")))
    assert isinstance(error, CustomerNotFound) and error.customer_ids == [CUSTOMER]


async def test_redeem_refuses_an_unknown_identifier_with_404_and_no_ids(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    command = redeem_command(
        line("p"), customer_id=None, identifier_type=CustomerIdentifierType.MOBILE, identifier_value="+100000"
    )
    error = await refused(uow_factory, store, principal, command)
    assert isinstance(error, CustomerNotFound) and error.customer_ids == []


async def test_redeem_does_not_see_a_customer_of_another_org(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given
) -> None:
    given.org(OTHER_ORG_ID)
    given.customers(CUSTOMER, org_id=OTHER_ORG_ID)
    error = await refused(uow_factory, store, principal, redeem_command(line("p")))
    assert isinstance(error, CustomerNotFound)


async def test_redeem_refuses_a_customer_id_and_identifier_naming_two_customers_before_the_org_settings(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    given.settings(redemption_without_evaluation=False)
    command = redeem_command(
        line("p"), identifier_type=CustomerIdentifierType.MOBILE, identifier_value="+100000"
    )
    error = await refused(uow_factory, store, principal, command)
    assert isinstance(error, InvalidRequest) and error.field == "customerIdentifierValue"


async def test_redeem_refuses_an_org_without_redemption_without_evaluation_before_its_web_engage_account(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    given.settings(redemption_without_evaluation=False, web_engage_account_id="NOT VALID")
    error = await refused(uow_factory, store, principal, redeem_command(line("p")))
    assert isinstance(error, RedemptionWithoutEvaluationDisabled)


async def test_redeem_refuses_an_invalid_web_engage_account_before_looking_at_the_promotions(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    given.settings(web_engage_account_id="NOT VALID")
    error = await refused(uow_factory, store, principal, redeem_command(line("f" * 24)))
    assert isinstance(error, InvalidWebEngageAccount)


async def test_redeem_accepts_a_valid_web_engage_account(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given, customer: int
) -> None:
    given.settings(web_engage_account_id="~2024c5d1")
    promotion = given.promotion(PromotionType.POS)
    redemption = await redeem_promotions(uow_factory, principal, redeem_command(line(promotion.id)))
    assert redemption.transaction_identifier == "T-1"


async def test_redeem_refuses_a_caller_whose_org_is_missing_with_an_org_error(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, given: Given
) -> None:
    given.customers(CUSTOMER, org_id=MISSING_ORG_ID)
    error = await refused(uow_factory, store, principal_of(MISSING_ORG_ID), redeem_command(line("p")))
    assert isinstance(error, InvalidRequest) and error.field == "org"


@pytest.mark.parametrize("org_of_promotion", [None, OTHER_ORG_ID], ids=["unknown", "another org's"])
async def test_redeem_refuses_an_unknown_promotion_with_404(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    org_of_promotion: int | None,
) -> None:
    # given
    known = given.promotion(PromotionType.POS)
    unknown = "f" * 24 if org_of_promotion is None else given.promotion(org_id=org_of_promotion).id
    # when
    error = await refused(uow_factory, store, principal, redeem_command(line(known.id), line(unknown)))
    # then
    assert isinstance(error, PromotionNotFound) and unknown in error.message


# --- Replays ---------------------------------------------------------------------------------


@pytest.mark.parametrize("allowed", [2, 1], ids=["entries left: stopped at the insert", "entries used up"])
async def test_redeem_repeated_with_the_same_content_returns_the_recorded_redemption_without_consuming(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    allowed: int,
) -> None:
    # given
    promotion = given.promotion(max_redemptions_per_earn=allowed)
    entry = given.entry(promotion, CUSTOMER)
    command = redeem_command(line(promotion.id), line_items=(line(promotion.id, sku="SKU-1"),))
    first = await redeem_promotions(uow_factory, principal, command)
    after_first = store.state()
    # when
    again = await redeem_promotions(uow_factory, principal, command)
    # then
    assert again == first
    assert store.state() == after_first
    assert store.entry(entry.id).redemptions_used == 1


async def test_redeem_repeated_with_the_lines_in_another_order_and_the_customer_by_mobile_is_a_replay(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given, customer: int
) -> None:
    # given
    one, two = given.promotion(PromotionType.POS), given.promotion(PromotionType.CODE)
    first = await redeem_promotions(uow_factory, principal, redeem_command(line(one.id), line(two.id)))
    # when
    command = redeem_command(
        line(two.id),
        line(one.id),
        customer_id=None,
        identifier_type=CustomerIdentifierType.MOBILE,
        identifier_value=MOBILE,
        amount="100.000000",
    )
    again = await redeem_promotions(uow_factory, principal, command)
    # then
    assert again.id == first.id


@pytest.mark.parametrize("allowed", [2, 1], ids=["entries left", "entries used up"])
async def test_redeem_repeated_with_other_content_is_400_on_transaction_identifier(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    allowed: int,
) -> None:
    # given
    promotion = given.promotion(max_redemptions_per_earn=allowed)
    given.entry(promotion, CUSTOMER)
    await redeem_promotions(uow_factory, principal, redeem_command(line(promotion.id)))
    uow_factory.opened.clear()
    # when
    error = await refused(uow_factory, store, principal, redeem_command(line(promotion.id), amount="99"))
    # then
    assert isinstance(error, InvalidRequest) and error.field == "transactionIdentifier"


async def test_redeem_repeated_answers_as_a_replay_before_looking_at_the_promotions(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    promotion = given.promotion(PromotionType.POS)
    await redeem_promotions(uow_factory, principal, redeem_command(line(promotion.id)))
    uow_factory.opened.clear()
    error = await refused(uow_factory, store, principal, redeem_command(line("f" * 24)))
    assert isinstance(error, InvalidRequest) and error.field == "transactionIdentifier"


# --- Coverage --------------------------------------------------------------------------------


async def test_redeem_consumes_the_soonest_expiring_unlocked_entries_first(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    # given: in store order latest, soonest, middle; and a locked one expiring sooner still
    promotion = given.promotion()
    latest = given.entry(promotion, CUSTOMER, earned_from_id="a", expires_in_days=9)
    soonest = given.entry(promotion, CUSTOMER, earned_from_id="b", expires_in_days=2)
    middle = given.entry(promotion, CUSTOMER, earned_from_id="c", expires_in_days=5)
    given.entry(promotion, CUSTOMER, earned_from_id="d", expires_in_days=1, unlocks_in_days=0.5)
    # when
    redemption = await redeem_promotions(uow_factory, principal, redeem_command(line(promotion.id, 2)))
    # then
    assert redemption.consumed == [
        Consumption(earned_promotion_id=soonest.id, promotion_id=promotion.id, count=1),
        Consumption(earned_promotion_id=middle.id, promotion_id=promotion.id, count=1),
    ]
    used = {e.id: e.redemptions_used for e in store.entries_of(ORG_ID)}
    assert (used[soonest.id], used[middle.id], used[latest.id]) == (1, 1, 0)


async def test_redeem_takes_a_named_entry_even_when_another_expires_sooner(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    promotion = given.promotion()
    given.entry(promotion, CUSTOMER, earned_from_id="a", expires_in_days=2)
    named = given.entry(promotion, CUSTOMER, earned_from_id="b", expires_in_days=9)
    command = redeem_command(line_items=(line(promotion.id, earned_promotion_id=named.id),))
    redemption = await redeem_promotions(uow_factory, principal, command)
    assert [c.earned_promotion_id for c in redemption.consumed] == [named.id]
    assert store.entry(named.id).redemptions_used == 1


async def test_redeem_spans_entries_and_uses_what_each_has_left(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    promotion = given.promotion(max_redemptions_per_earn=3)
    first = given.entry(promotion, CUSTOMER, earned_from_id="a", expires_in_days=2, redemptions_used=2)
    second = given.entry(promotion, CUSTOMER, earned_from_id="b", expires_in_days=3)
    redemption = await redeem_promotions(uow_factory, principal, redeem_command(line(promotion.id, 3)))
    assert [(c.earned_promotion_id, c.count) for c in redemption.consumed] == [(first.id, 1), (second.id, 2)]
    assert (store.entry(first.id).redemptions_used, store.entry(second.id).redemptions_used) == (3, 2)


@pytest.mark.parametrize("type_", [PromotionType.POS, PromotionType.CODE])
async def test_redeem_of_a_till_promotion_needs_no_wallet_entry(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    type_: PromotionType,
) -> None:
    promotion = given.promotion(type_)
    redemption = await redeem_promotions(uow_factory, principal, redeem_command(line(promotion.id, 4)))
    assert redemption.consumed == []
    assert store.redemption_of(ORG_ID, "T-1") == redemption


@pytest.mark.parametrize(
    ("entry_fields", "reason"),
    [
        (None, NotRedeemableReason.NOT_EARNED),
        ({"unlocks_in_days": 2}, NotRedeemableReason.LOCKED),
        ({"expires_in_days": -1, "unlocks_in_days": -5}, NotRedeemableReason.EXPIRED),
        ({"redemptions_used": 1}, NotRedeemableReason.ALREADY_REDEEMED),
        ({"revoked": True}, NotRedeemableReason.REVOKED),
    ],
    ids=lambda value: value.value if isinstance(value, NotRedeemableReason) else None,
)
async def test_redeem_refuses_a_promotion_the_wallet_cannot_cover_with_the_reason(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    entry_fields: dict[str, Any] | None,
    reason: NotRedeemableReason,
) -> None:
    # given: a till promotion in the same request needs nothing, so only the wallet one is refused
    promotion = given.promotion()
    till = given.promotion(PromotionType.POS)
    if entry_fields is not None:
        given.entry(promotion, CUSTOMER, **entry_fields)
    # when
    error = await refused(uow_factory, store, principal, redeem_command(line(till.id), line(promotion.id)))
    # then
    assert isinstance(error, PromotionNotRedeemable) and error.reason is reason


async def test_redeem_of_more_than_an_unlocked_entry_has_left_is_already_redeemed(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    promotion = given.promotion(max_redemptions_per_earn=2)
    given.entry(promotion, CUSTOMER, redemptions_used=1)
    error = await refused(uow_factory, store, principal, redeem_command(line(promotion.id, 2)))
    assert isinstance(error, PromotionNotRedeemable) and error.reason is NotRedeemableReason.ALREADY_REDEEMED


async def test_redeem_names_locked_as_the_reason_when_one_entry_will_unlock_and_another_is_revoked(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    promotion = given.promotion()
    given.entry(promotion, CUSTOMER, earned_from_id="a", revoked=True)
    given.entry(promotion, CUSTOMER, earned_from_id="b", unlocks_in_days=1)
    error = await refused(uow_factory, store, principal, redeem_command(line(promotion.id)))
    assert isinstance(error, PromotionNotRedeemable) and error.reason is NotRedeemableReason.LOCKED


@pytest.mark.parametrize("whose", ["another promotion's", "another customer's", "unknown"])
async def test_redeem_refuses_a_named_entry_that_is_not_this_customers_entry_of_the_promotion_with_404(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    whose: str,
) -> None:
    # given
    promotion, other = given.promotion(), given.promotion()
    given.customers(42)
    given.entry(promotion, CUSTOMER)
    named: EarnedPromotion | None = {
        "another promotion's": given.entry(other, CUSTOMER),
        "another customer's": given.entry(promotion, 42),
        "unknown": None,
    }[whose]
    entry_id = named.id if named else "f" * 24
    # when
    command = redeem_command(line_items=(line(promotion.id, earned_promotion_id=entry_id),))
    error = await refused(uow_factory, store, principal, command)
    # then
    assert isinstance(error, EarnedPromotionNotFound)


# --- What a redemption writes ----------------------------------------------------------------


async def test_redeem_records_the_redemption_with_canonical_amounts_and_a_ledger_row_per_entry(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    # given
    promotion = given.promotion(max_redemptions_per_earn=2)
    entry = given.entry(promotion, CUSTOMER)
    # when
    redemption = await redeem_promotions(
        uow_factory, principal, redeem_command(line(promotion.id, 2, discount="12.5"), amount="250.5")
    )
    # then
    stored = store.redemption_of(ORG_ID, "T-1")
    assert stored == redemption
    assert isinstance(stored, Redemption)
    assert str(stored.amount) == "250.500000"
    assert str(stored.redemptions[0].discount) == "12.500000"
    assert [(x.kind, x.quantity, x.earned_promotion_id, x.source) for x in store.ledger] == [
        (LedgerKind.REDEEMED, -2, entry.id, "T-1")
    ]


async def test_redeem_runs_in_one_write_unit_of_work_under_the_customers_wallet_lock(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given, customer: int
) -> None:
    promotion = given.promotion(PromotionType.POS)
    await redeem_promotions(uow_factory, principal, redeem_command(line(promotion.id)))
    (record,) = uow_factory.opened
    assert (record.write, record.committed) == (True, True)
    assert record.locks == [("wallet", ORG_ID, CUSTOMER)]


# --- Concurrency -----------------------------------------------------------------------------


async def test_redeem_beaten_by_a_concurrent_duplicate_answers_as_a_replay_and_consumes_once(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    # given: the same request, sent twice at once; the other one commits first
    promotion = given.promotion(max_redemptions_per_earn=5)
    entry = given.entry(promotion, CUSTOMER)
    command = redeem_command(line(promotion.id))
    theirs: list[Redemption] = []

    async def the_other_request() -> None:
        theirs.append(await redeem_promotions(uow_factory, principal, command))

    uow_factory.before_next_commit(the_other_request)
    # when
    ours = await redeem_promotions(uow_factory, principal, command)
    # then
    assert ours == theirs[0]
    assert store.entry(entry.id).redemptions_used == 1
    assert len(store.tables.redemptions) == 1
    assert len(store.ledger) == 1


async def test_redeem_beaten_by_a_concurrent_request_with_other_content_is_400(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    promotion = given.promotion(max_redemptions_per_earn=5)
    given.entry(promotion, CUSTOMER)

    async def the_other_request() -> None:
        await redeem_promotions(uow_factory, principal, redeem_command(line(promotion.id), amount="50"))

    uow_factory.before_next_commit(the_other_request)
    with pytest.raises(InvalidRequest) as raised:
        await redeem_promotions(uow_factory, principal, redeem_command(line(promotion.id)))
    assert raised.value.field == "transactionIdentifier"
    recorded = store.redemption_of(ORG_ID, "T-1")
    assert recorded is not None and recorded.amount == Decimal("50")


async def test_redeem_refused_by_the_wallet_lock_is_resource_locked_and_writes_nothing(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    promotion = given.promotion()
    given.entry(promotion, CUSTOMER)
    uow_factory.fail_with_lock(retry_after_ms=400)
    error = await refused(uow_factory, store, principal, redeem_command(line(promotion.id)))
    assert isinstance(error, ResourceLocked) and error.retry_after_ms == 400
