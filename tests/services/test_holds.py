"""holdPromotions, commitHold, releaseHold and hold(id) on fakes (DESIGN §8.2): every check of
redeemPromotions in its order, held counts unavailable to redemptions and other holds, expiry by
the clock alone (`now` passed explicitly), commit consuming exactly the held entries once, release
idempotent, the reserved transactionIdentifier, and the ledger rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from app.domain.clock import DAY_MS
from app.domain.commands import HoldPromotions, RedeemPromotions, RevokeEarnedPromotions
from app.domain.errors import (
    CustomerNotFound,
    DomainError,
    EarnedPromotionNotFound,
    HoldExpired,
    HoldNotFound,
    InvalidRequest,
    InvalidWebEngageAccount,
    NotRedeemableReason,
    PromotionNotFound,
    PromotionNotRedeemable,
    RedemptionWithoutEvaluationDisabled,
    ResourceLocked,
)
from app.domain.holds import hold_status
from app.domain.models import (
    Consumption,
    EarnedPromotionStatus,
    HoldStatus,
    LedgerKind,
    Principal,
    Promotion,
    PromotionType,
)
from app.domain.rules import earned_status
from app.services.holds import commit_hold, get_hold, hold_promotions, release_hold
from app.services.queries import wallet_page
from app.services.redeem import redeem_promotions
from app.services.revoke import revoke_earned_promotions
from tests.fakes import FakeStore, FakeUnitOfWorkFactory
from tests.services.factories import OTHER_ORG_ID, Given, line, principal_of, refusal_of
from tests.services.test_redeem import CUSTOMER, redeem_command


def hold_command(
    *lines: object, hold_seconds: int = 900, transaction_identifier: str = "T-1", **fields: object
) -> HoldPromotions:
    return HoldPromotions(
        redemption=redeem_command(*lines, transaction_identifier=transaction_identifier, **fields),  # type: ignore[arg-type]
        hold_seconds=hold_seconds,
    )


async def refused(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, command: HoldPromotions
) -> DomainError:
    """The error of a refused hold; it must have written nothing."""
    return await refusal_of(uow_factory, store, hold_promotions(uow_factory, principal, command))



@pytest.fixture
def customer(given: Given) -> int:
    given.customer(CUSTOMER)
    return CUSTOMER


@pytest.fixture
def single_use(given: Given) -> Promotion:
    return given.promotion(max_redemptions_per_earn=1)


# --- What a hold reserves --------------------------------------------------------------------


async def test_a_hold_reserves_the_counts_without_consuming_them_and_writes_held_ledger_rows(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    promotion = given.promotion(max_redemptions_per_earn=3)
    entry = given.entry(promotion, CUSTOMER)
    # when
    hold = await hold_promotions(uow_factory, principal, hold_command(line(promotion.id, 2)), now=given.now)
    # then
    assert hold.status is HoldStatus.HELD and hold.expires_at == given.now + 900_000
    assert hold.allocations == [Consumption(entry.id, promotion.id, 2)]
    assert store.entry(entry.id).redemptions_used == 0
    assert store.tables.held(entry.id, given.now) == 2
    held_rows = [x for x in store.ledger if x.kind is LedgerKind.HELD]
    assert [(x.earned_promotion_id, x.quantity, x.source, x.actor) for x in held_rows] == [
        (entry.id, 0, hold.id, "tester")
    ]
    assert store.hold(hold.id).transaction_identifier == "T-1"
    assert ("wallet", principal.org_id, CUSTOMER) in uow_factory.writes[-1].locks


async def test_the_wallet_shows_held_counts_and_an_entry_all_held_stays_unlocked(
    uow_factory: FakeUnitOfWorkFactory,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
) -> None:
    entry = given.entry(single_use, CUSTOMER)
    await hold_promotions(uow_factory, principal, hold_command(line(single_use.id)))
    # when
    page = await wallet_page(
        uow_factory, principal, customer_id=CUSTOMER, statuses=None, promotion_id=None, first=10, after=None
    )
    # then
    (shown,) = page.items
    assert shown.id == entry.id and shown.redemptions_held == 1 and shown.redemptions_used == 0
    assert earned_status(shown, given.now) is EarnedPromotionStatus.UNLOCKED


async def test_held_counts_are_not_available_to_a_redemption_reason_held(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
) -> None:
    given.entry(single_use, CUSTOMER)
    await hold_promotions(uow_factory, principal, hold_command(line(single_use.id)))
    before = store.state()
    # when
    with pytest.raises(PromotionNotRedeemable) as raised:
        await redeem_promotions(
            uow_factory, principal, redeem_command(line(single_use.id), transaction_identifier="T-2")
        )
    # then
    assert raised.value.reason is NotRedeemableReason.HELD
    assert store.state() == before


async def test_held_counts_are_not_available_to_another_hold(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
) -> None:
    given.entry(single_use, CUSTOMER)
    await hold_promotions(uow_factory, principal, hold_command(line(single_use.id)))
    # when
    error = await refused(
        uow_factory, store, principal, hold_command(line(single_use.id), transaction_identifier="T-2")
    )
    # then
    assert isinstance(error, PromotionNotRedeemable) and error.reason is NotRedeemableReason.HELD


async def test_what_is_left_beyond_the_held_counts_stays_redeemable(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    promotion = given.promotion(max_redemptions_per_earn=2)
    entry = given.entry(promotion, CUSTOMER)
    await hold_promotions(uow_factory, principal, hold_command(line(promotion.id)))
    # when one more is redeemed, then one more still is asked for
    await redeem_promotions(
        uow_factory, principal, redeem_command(line(promotion.id), transaction_identifier="T-2")
    )
    with pytest.raises(PromotionNotRedeemable) as raised:
        await redeem_promotions(
            uow_factory, principal, redeem_command(line(promotion.id), transaction_identifier="T-3")
        )
    # then
    assert store.entry(entry.id).redemptions_used == 1
    assert raised.value.reason is NotRedeemableReason.HELD


async def test_a_hold_takes_the_soonest_expiring_unheld_entry(
    uow_factory: FakeUnitOfWorkFactory,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
) -> None:
    soon = given.entry(single_use, CUSTOMER, expires_in_days=3)
    later = given.entry(single_use, CUSTOMER, earned_from_id="order-2", expires_in_days=9)
    # when
    first = await hold_promotions(uow_factory, principal, hold_command(line(single_use.id)))
    second = await hold_promotions(
        uow_factory, principal, hold_command(line(single_use.id), transaction_identifier="T-2")
    )
    # then
    assert [a.earned_promotion_id for a in first.allocations] == [soon.id]
    assert [a.earned_promotion_id for a in second.allocations] == [later.id]


async def test_an_expired_hold_frees_its_counts_with_no_write(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
) -> None:
    entry = given.entry(single_use, CUSTOMER)
    hold = await hold_promotions(
        uow_factory, principal, hold_command(line(single_use.id), hold_seconds=2), now=given.now - 5_000
    )
    stored = store.hold(hold.id)
    # when a redemption comes after expiresAt (the clock's now is past it)
    await redeem_promotions(
        uow_factory, principal, redeem_command(line(single_use.id), transaction_identifier="T-2")
    )
    # then
    assert store.entry(entry.id).redemptions_used == 1
    assert store.hold(hold.id) is stored  # nothing wrote to the hold
    assert hold_status(stored, given.now) is HoldStatus.EXPIRED


async def test_a_hold_is_live_until_its_expires_at_instant(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
) -> None:
    entry = given.entry(single_use, CUSTOMER)
    hold = await hold_promotions(
        uow_factory, principal, hold_command(line(single_use.id), hold_seconds=1), now=given.now
    )
    # then
    assert store.tables.held(entry.id, hold.expires_at - 1) == 1
    assert store.tables.held(entry.id, hold.expires_at) == 0
    assert hold_status(hold, hold.expires_at - 1) is HoldStatus.HELD
    assert hold_status(hold, hold.expires_at) is HoldStatus.EXPIRED


# --- The checks of redeemPromotions, in its order -----------------------------------------------


@pytest.mark.parametrize("hold_seconds", [0, -1, 86_401])
async def test_hold_seconds_out_of_range_is_a_400(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
    hold_seconds: int,
) -> None:
    given.entry(single_use, CUSTOMER)
    error = await refused(
        uow_factory, store, principal, hold_command(line(single_use.id), hold_seconds=hold_seconds)
    )
    assert isinstance(error, InvalidRequest) and error.field == "holdSeconds"


@pytest.mark.parametrize("hold_seconds", [1, 86_400])
async def test_hold_seconds_at_the_bounds_are_accepted(
    uow_factory: FakeUnitOfWorkFactory,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
    hold_seconds: int,
) -> None:
    given.entry(single_use, CUSTOMER)
    hold = await hold_promotions(
        uow_factory, principal, hold_command(line(single_use.id), hold_seconds=hold_seconds), now=given.now
    )
    assert hold.expires_at == given.now + hold_seconds * 1000


async def test_the_redemption_shape_is_checked_before_hold_seconds(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    error = await refused(uow_factory, store, principal, hold_command(hold_seconds=0))
    assert isinstance(error, InvalidRequest) and error.field == "lineItems"


Arrange = Callable[[Given, Promotion], HoldPromotions]


def _unknown_customer(given: Given, promotion: Promotion) -> HoldPromotions:
    return hold_command(line(promotion.id), customer_id=CUSTOMER + 1)


def _disabled_org(given: Given, promotion: Promotion) -> HoldPromotions:
    given.settings(redemption_without_evaluation=False)
    return hold_command(line("0" * 24))  # the promotion check would 404: 405 comes first


def _bad_web_engage(given: Given, promotion: Promotion) -> HoldPromotions:
    given.settings(web_engage_account_id="NOT VALID")
    return hold_command(line("0" * 24))


def _unknown_promotion(given: Given, promotion: Promotion) -> HoldPromotions:
    return hold_command(line("0" * 24))


def _unknown_entry(given: Given, promotion: Promotion) -> HoldPromotions:
    return hold_command(line_items=(line(promotion.id, earned_promotion_id="f" * 24),))


def _not_earned(given: Given, promotion: Promotion) -> HoldPromotions:
    other = given.promotion()
    return hold_command(line(other.id))


@pytest.mark.parametrize(
    ("arrange", "expected"),
    [
        (_unknown_customer, CustomerNotFound),
        (_disabled_org, RedemptionWithoutEvaluationDisabled),
        (_bad_web_engage, InvalidWebEngageAccount),
        (_unknown_promotion, PromotionNotFound),
        (_unknown_entry, EarnedPromotionNotFound),
        (_not_earned, PromotionNotRedeemable),
    ],
)
async def test_each_check_of_redeem_refuses_a_hold_and_writes_nothing(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
    arrange: Arrange,
    expected: type[DomainError],
) -> None:
    given.entry(single_use, CUSTOMER)
    command = arrange(given, single_use)
    error = await refused(uow_factory, store, principal, command)
    assert type(error) is expected


async def test_pos_and_code_promotions_are_held_with_no_wallet_entry(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    pos = given.promotion(PromotionType.POS)
    hold = await hold_promotions(uow_factory, principal, hold_command(line(pos.id)))
    redemption = await commit_hold(uow_factory, principal, hold.id)
    assert hold.allocations == [] and redemption.consumed == []
    assert [x for x in store.ledger if x.kind is not LedgerKind.ISSUED] == []


# --- The reserved transactionIdentifier ---------------------------------------------------------


async def test_a_plain_redemption_with_a_live_holds_transaction_identifier_is_a_400(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    promotion = given.promotion(max_redemptions_per_earn=5)  # counts are left: only the identifier refuses
    given.entry(promotion, CUSTOMER)
    await hold_promotions(uow_factory, principal, hold_command(line(promotion.id)))
    before = store.state()
    with pytest.raises(InvalidRequest) as raised:
        await redeem_promotions(uow_factory, principal, redeem_command(line(promotion.id)))
    assert raised.value.field == "transactionIdentifier"
    assert store.state() == before


async def test_a_held_transaction_identifier_is_a_400_even_when_the_redemption_names_no_known_promotion(
    uow_factory: FakeUnitOfWorkFactory,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
) -> None:
    given.entry(single_use, CUSTOMER)
    await hold_promotions(uow_factory, principal, hold_command(line(single_use.id)))
    with pytest.raises(InvalidRequest) as raised:
        await redeem_promotions(uow_factory, principal, redeem_command(line("0" * 24)))
    assert raised.value.field == "transactionIdentifier"


@pytest.mark.parametrize("how", ["released", "expired"])
async def test_the_transaction_identifier_is_free_again_once_the_hold_is_released_or_expired(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
    how: str,
) -> None:
    entry = given.entry(single_use, CUSTOMER)
    at = given.now if how == "released" else given.now - 5_000
    hold = await hold_promotions(
        uow_factory, principal, hold_command(line(single_use.id), hold_seconds=1), now=at
    )
    if how == "released":
        await release_hold(uow_factory, principal, hold.id, now=at)
    # when
    redemption = await redeem_promotions(uow_factory, principal, redeem_command(line(single_use.id)))
    # then
    assert redemption.transaction_identifier == "T-1"
    assert store.entry(entry.id).redemptions_used == 1


async def test_a_hold_repeated_with_the_same_content_is_the_same_hold_and_writes_nothing(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
) -> None:
    given.entry(single_use, CUSTOMER)
    first = await hold_promotions(uow_factory, principal, hold_command(line(single_use.id)))
    before = store.state()
    again = await hold_promotions(uow_factory, principal, hold_command(line(single_use.id)))
    assert again.id == first.id
    assert store.state() == before


async def test_a_hold_repeated_with_other_content_is_a_400(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    promotion = given.promotion(max_redemptions_per_earn=3)
    given.entry(promotion, CUSTOMER)
    await hold_promotions(uow_factory, principal, hold_command(line(promotion.id)))
    error = await refused(uow_factory, store, principal, hold_command(line(promotion.id, 2)))
    assert isinstance(error, InvalidRequest) and error.field == "transactionIdentifier"


async def test_a_hold_of_a_recorded_transaction_identifier_is_a_400(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, customer: int
) -> None:
    promotion = given.promotion(max_redemptions_per_earn=3)
    given.entry(promotion, CUSTOMER)
    await redeem_promotions(uow_factory, principal, redeem_command(line(promotion.id)))
    error = await refused(uow_factory, store, principal, hold_command(line(promotion.id)))
    assert isinstance(error, InvalidRequest) and error.field == "transactionIdentifier"


# --- commitHold ----------------------------------------------------------------------------------


async def test_commit_consumes_exactly_the_held_entries_and_records_the_redemption(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
) -> None:
    soon = given.entry(single_use, CUSTOMER, expires_in_days=3)
    later = given.entry(single_use, CUSTOMER, earned_from_id="order-2", expires_in_days=9)
    hold = await hold_promotions(uow_factory, principal, hold_command(line(single_use.id)))
    # when the sooner entry's count is not free and the commit comes
    redemption = await commit_hold(uow_factory, principal, hold.id)
    # then
    assert redemption.consumed == hold.allocations == [Consumption(soon.id, single_use.id, 1)]
    assert store.entry(soon.id).redemptions_used == 1 and store.entry(later.id).redemptions_used == 0
    assert store.tables.held(soon.id, given.now) == 0
    assert store.redemption_of(principal.org_id, "T-1") == redemption
    settled = store.hold(hold.id)
    assert settled.status is HoldStatus.COMMITTED and settled.redemption_id == redemption.id
    moves = [(x.kind, x.quantity, x.source) for x in store.ledger if x.earned_promotion_id == soon.id]
    assert moves == [
        (LedgerKind.HELD, 0, hold.id),
        (LedgerKind.RELEASED, 0, hold.id),
        (LedgerKind.REDEEMED, -1, "T-1"),
    ]
    assert ("wallet", principal.org_id, CUSTOMER) in uow_factory.writes[-1].locks


async def test_a_second_commit_returns_the_same_redemption_and_consumes_nothing(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
) -> None:
    given.entry(single_use, CUSTOMER)
    hold = await hold_promotions(uow_factory, principal, hold_command(line(single_use.id)))
    first = await commit_hold(uow_factory, principal, hold.id)
    before = store.state()
    again = await commit_hold(uow_factory, principal, hold.id)
    assert again == first
    assert store.state() == before


async def test_resending_a_committed_holds_transaction_as_a_redemption_is_a_replay(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
) -> None:
    given.entry(single_use, CUSTOMER)
    hold = await hold_promotions(uow_factory, principal, hold_command(line(single_use.id)))
    committed = await commit_hold(uow_factory, principal, hold.id)
    before = store.state()
    replay = await redeem_promotions(uow_factory, principal, redeem_command(line(single_use.id)))
    assert replay == committed
    assert store.state() == before


@pytest.mark.parametrize("how", ["released", "expired"])
async def test_committing_a_released_or_expired_hold_is_hold_expired_and_writes_nothing(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
    how: str,
) -> None:
    given.entry(single_use, CUSTOMER)
    hold = await hold_promotions(
        uow_factory, principal, hold_command(line(single_use.id), hold_seconds=60), now=given.now
    )
    at = given.now + 1_000
    if how == "released":
        await release_hold(uow_factory, principal, hold.id, now=at)
    else:
        at = hold.expires_at  # the instant it expires
    before = store.state()
    with pytest.raises(HoldExpired):
        await commit_hold(uow_factory, principal, hold.id, now=at)
    assert store.state() == before


async def test_a_commit_one_millisecond_before_expiry_consumes(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
) -> None:
    entry = given.entry(single_use, CUSTOMER)
    hold = await hold_promotions(
        uow_factory, principal, hold_command(line(single_use.id), hold_seconds=60), now=given.now
    )
    await commit_hold(uow_factory, principal, hold.id, now=hold.expires_at - 1)
    assert store.entry(entry.id).redemptions_used == 1


async def test_a_commit_honours_the_hold_after_the_entry_passed_its_valid_till(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
) -> None:
    entry = given.entry(single_use, CUSTOMER, expires_in_days=0.25)
    hold = await hold_promotions(
        uow_factory, principal, hold_command(line(single_use.id), hold_seconds=86_400), now=given.now
    )
    # when the payment's second step completes after the entry's validTill
    await commit_hold(uow_factory, principal, hold.id, now=given.now + DAY_MS // 2)
    # then the counts checked and reserved at hold time are consumed
    assert store.entry(entry.id).redemptions_used == 1


@pytest.mark.parametrize("org_id", [None, OTHER_ORG_ID])
async def test_an_unknown_or_another_orgs_hold_is_not_found_for_commit_release_and_read(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
    org_id: int | None,
) -> None:
    given.entry(single_use, CUSTOMER)
    hold = await hold_promotions(uow_factory, principal, hold_command(line(single_use.id)))
    if org_id is None:
        caller, hold_id = principal, "f" * 24
    else:
        given.org(org_id)
        caller, hold_id = principal_of(org_id), hold.id
    before = store.state()
    with pytest.raises(HoldNotFound):
        await commit_hold(uow_factory, caller, hold_id)
    with pytest.raises(HoldNotFound):
        await release_hold(uow_factory, caller, hold_id)
    assert await get_hold(uow_factory, caller, hold_id) is None
    assert store.state() == before


async def test_a_commit_that_does_not_get_the_wallet_lock_is_a_521_and_writes_nothing(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
) -> None:
    given.entry(single_use, CUSTOMER)
    hold = await hold_promotions(uow_factory, principal, hold_command(line(single_use.id)))
    before = store.state()
    uow_factory.fail_with_lock()
    with pytest.raises(ResourceLocked):
        await commit_hold(uow_factory, principal, hold.id)
    assert store.state() == before


async def test_a_release_that_commits_while_a_commit_waits_makes_the_commit_hold_expired(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
) -> None:
    entry = given.entry(single_use, CUSTOMER)
    hold = await hold_promotions(uow_factory, principal, hold_command(line(single_use.id)))
    # when a release is published just before the commit's writes: the fake's serialization check
    uow_factory.before_next_commit(lambda: release_hold(uow_factory, principal, hold.id))  # type: ignore[arg-type, return-value]
    with pytest.raises(ResourceLocked):
        await commit_hold(uow_factory, principal, hold.id)
    # then only the release happened, and a retried commit is told so
    assert store.hold(hold.id).status is HoldStatus.RELEASED
    assert store.entry(entry.id).redemptions_used == 0
    with pytest.raises(HoldExpired):
        await commit_hold(uow_factory, principal, hold.id)


# --- releaseHold and hold(id) --------------------------------------------------------------------


async def test_release_frees_the_counts_at_once_and_writes_released_rows(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
) -> None:
    entry = given.entry(single_use, CUSTOMER)
    hold = await hold_promotions(uow_factory, principal, hold_command(line(single_use.id)))
    # when
    released = await release_hold(uow_factory, principal, hold.id, now=given.now)
    # then
    assert released.status is HoldStatus.RELEASED and released.settled_at == given.now
    assert store.hold(hold.id).status is HoldStatus.RELEASED
    assert store.tables.held(entry.id, given.now) == 0
    assert [(x.kind, x.quantity) for x in store.ledger if x.kind is LedgerKind.RELEASED] == [
        (LedgerKind.RELEASED, 0)
    ]
    other = await hold_promotions(
        uow_factory, principal, hold_command(line(single_use.id), transaction_identifier="T-2")
    )
    assert [a.earned_promotion_id for a in other.allocations] == [entry.id]


@pytest.mark.parametrize("how", ["released", "committed", "expired"])
async def test_releasing_a_released_committed_or_expired_hold_changes_nothing_and_returns_it(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
    how: str,
) -> None:
    given.entry(single_use, CUSTOMER)
    hold = await hold_promotions(
        uow_factory, principal, hold_command(line(single_use.id), hold_seconds=60), now=given.now
    )
    at = given.now + 1_000
    if how == "released":
        await release_hold(uow_factory, principal, hold.id, now=at)
    elif how == "committed":
        await commit_hold(uow_factory, principal, hold.id, now=at)
    else:
        at = hold.expires_at + 1
    before = store.state()
    # when
    answered = await release_hold(uow_factory, principal, hold.id, now=at)
    # then
    assert store.state() == before
    expected = {
        "released": HoldStatus.RELEASED,
        "committed": HoldStatus.COMMITTED,
        "expired": HoldStatus.EXPIRED,
    }
    assert hold_status(answered, at) is expected[how]
    assert (answered.redemption is not None) == (how == "committed")


async def test_hold_reads_the_hold_with_its_redemption_once_committed(
    uow_factory: FakeUnitOfWorkFactory,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
) -> None:
    given.entry(single_use, CUSTOMER)
    hold = await hold_promotions(uow_factory, principal, hold_command(line(single_use.id)))
    read = await get_hold(uow_factory, principal, hold.id)
    assert read is not None and replace(read, redemption=None) == hold and read.redemption is None
    redemption = await commit_hold(uow_factory, principal, hold.id)
    read = await get_hold(uow_factory, principal, hold.id)
    assert read is not None and read.status is HoldStatus.COMMITTED and read.redemption == redemption


# --- Other writes meet held counts ---------------------------------------------------------------


async def test_a_held_entry_cannot_be_revoked_reason_held(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
) -> None:
    entry = given.entry(single_use, CUSTOMER)
    await hold_promotions(uow_factory, principal, hold_command(line(single_use.id)))
    # when
    outcome = await revoke_earned_promotions(
        uow_factory, principal, RevokeEarnedPromotions(customer_id=CUSTOMER, earned_promotion_ids=[entry.id])
    )
    # then
    (result,) = outcome.results
    assert not result.revoked and isinstance(result.error, PromotionNotRedeemable)
    assert result.error.reason is NotRedeemableReason.HELD
    assert store.entry(entry.id).revoked_at is None


async def test_a_held_count_is_not_given_to_a_redemption_even_by_naming_the_entry(
    uow_factory: FakeUnitOfWorkFactory,
    principal: Principal,
    given: Given,
    customer: int,
    single_use: Promotion,
) -> None:
    entry = given.entry(single_use, CUSTOMER)
    await hold_promotions(uow_factory, principal, hold_command(line(single_use.id)))
    command: RedeemPromotions = redeem_command(
        line_items=(line(single_use.id, earned_promotion_id=entry.id),), transaction_identifier="T-2"
    )
    with pytest.raises(PromotionNotRedeemable) as raised:
        await redeem_promotions(uow_factory, principal, command)
    assert raised.value.reason is NotRedeemableReason.HELD
