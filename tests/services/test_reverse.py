"""reverseRedemption on fakes: the check order of DESIGN §8.1, replays, full and partial reversals
(which entries get counts back), the statuses, and the concurrent duplicate. Redemptions are made
by the redeem service itself, so each reversal undoes a real record of consumptions."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.domain.clock import DAY_MS
from app.domain.commands import ReverseRedemption
from app.domain.errors import (
    DomainError,
    InvalidRequest,
    RedemptionNotFound,
    ResourceLocked,
    ReversalExceedsRedemption,
)
from app.domain.models import (
    EarnedPromotion,
    EarnedPromotionStatus,
    LedgerKind,
    Principal,
    Promotion,
    PromotionType,
    Redemption,
    RedemptionStatus,
    ReversalLine,
)
from app.domain.reversal import redemption_status
from app.domain.rules import earned_status
from app.services.redeem import redeem_promotions
from app.services.reverse import reverse_redemption
from tests.fakes import FakeStore, FakeUnitOfWorkFactory
from tests.services.factories import OTHER_ORG_ID, Given, line, principal_of, refusal_of
from tests.services.test_redeem import CUSTOMER, redeem_command


def reverse_command(
    *lines: ReversalLine,
    redemption_id: str | None = None,
    transaction_identifier: str | None = "T-1",
    reversal_identifier: str = "R-1",
    reason: str | None = "refund",
) -> ReverseRedemption:
    return ReverseRedemption(
        reversal_identifier=reversal_identifier,
        redemption_id=redemption_id,
        transaction_identifier=None if redemption_id is not None else transaction_identifier,
        reason=reason,
        lines=list(lines) if lines else None,
    )


def back(promotion: Promotion | str, count: int = 1, entry: EarnedPromotion | None = None) -> ReversalLine:
    promotion_id = promotion if isinstance(promotion, str) else promotion.id
    return ReversalLine(
        promotion_id=promotion_id,
        redemption_count=count,
        earned_promotion_id=entry.id if entry is not None else None,
    )


async def refused(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, command: ReverseRedemption
) -> DomainError:
    """The error of a refused reversal; it must have written nothing."""
    return await refusal_of(uow_factory, store, reverse_redemption(uow_factory, principal, command))



@pytest.fixture
def customer(given: Given) -> int:
    given.customer(CUSTOMER)
    return CUSTOMER


@pytest.fixture
def promotion(given: Given) -> Promotion:
    return given.promotion(max_redemptions_per_earn=2)


async def redeemed(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, *lines: object, transaction: str = "T-1"
) -> Redemption:
    return await redeem_promotions(
        uow_factory,
        principal,
        redeem_command(*lines, transaction_identifier=transaction),  # type: ignore[arg-type]
    )


# --- What a reversal gives back -------------------------------------------------------------------


async def test_a_full_reversal_gives_every_consumed_count_back_and_unlocks_the_entry(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
    now: int,
) -> None:
    entry = given.entry(promotion, CUSTOMER)
    await redeemed(uow_factory, principal, line(promotion.id, 2))
    assert earned_status(store.entry(entry.id), now) is EarnedPromotionStatus.REDEEMED
    # when
    outcome = await reverse_redemption(uow_factory, principal, reverse_command())
    # then
    restored = store.entry(entry.id)
    assert restored.redemptions_used == 0
    assert earned_status(restored, now) is EarnedPromotionStatus.UNLOCKED
    assert restored.valid_till == entry.valid_till
    assert outcome.reversal.lines == [back(promotion, 2, entry)]
    assert outcome.reversal.reversal_identifier == "R-1" and outcome.reversal.reason == "refund"
    assert redemption_status(outcome.redemption) is RedemptionStatus.REVERSED
    assert outcome.redemption.reversals == [outcome.reversal]


async def test_a_reversal_appends_a_reversed_ledger_row_per_entry_with_actor_and_reversal_identifier(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
) -> None:
    first, second = (
        given.entry(promotion, CUSTOMER, expires_in_days=5),
        given.entry(promotion, CUSTOMER, earned_from_id="order-2", expires_in_days=9),
    )
    await redeemed(uow_factory, principal, line(promotion.id, 3))
    # when
    await reverse_redemption(uow_factory, principal, reverse_command())
    # then
    reversed_rows = [x for x in store.ledger if x.kind is LedgerKind.REVERSED]
    assert sorted((x.earned_promotion_id, x.quantity) for x in reversed_rows) == sorted(
        [(first.id, 2), (second.id, 1)]
    )
    assert {(x.actor, x.source, x.customer_id) for x in reversed_rows} == {("tester", "R-1", CUSTOMER)}


async def test_the_redemption_is_active_then_partially_reversed_then_reversed(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
) -> None:
    given.entry(promotion, CUSTOMER)
    redemption = await redeemed(uow_factory, principal, line(promotion.id, 2))
    assert redemption_status(redemption) is RedemptionStatus.ACTIVE
    # when part, then the rest, is reversed
    part = await reverse_redemption(uow_factory, principal, reverse_command(back(promotion, 1)))
    rest = await reverse_redemption(uow_factory, principal, reverse_command(reversal_identifier="R-2"))
    # then
    assert redemption_status(part.redemption) is RedemptionStatus.PARTIALLY_REVERSED
    assert redemption_status(rest.redemption) is RedemptionStatus.REVERSED
    assert rest.reversal.lines == [back(promotion, 1, store.entries_of(principal.org_id)[0])]
    recorded = store.redemption_of(principal.org_id, "T-1")
    assert recorded is not None and [x.reversal_identifier for x in recorded.reversals] == ["R-1", "R-2"]


async def test_a_partial_reversal_of_a_promotion_gives_back_to_the_latest_expiring_usable_entry_first(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
) -> None:
    soon = given.entry(promotion, CUSTOMER, expires_in_days=3)
    later = given.entry(promotion, CUSTOMER, earned_from_id="order-2", expires_in_days=9)
    await redeemed(uow_factory, principal, line(promotion.id, 4))
    # when
    outcome = await reverse_redemption(uow_factory, principal, reverse_command(back(promotion, 3)))
    # then the later-expiring entry gets all it gave, the sooner one the rest
    assert store.entry(later.id).redemptions_used == 0
    assert store.entry(soon.id).redemptions_used == 1
    assert outcome.reversal.lines == [back(promotion, 1, soon), back(promotion, 2, later)]


async def test_a_partial_reversal_of_a_promotion_prefers_an_entry_still_valid_over_an_expired_one(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
    now: int,
) -> None:
    soon = given.entry(promotion, CUSTOMER, expires_in_days=3)
    later = given.entry(promotion, CUSTOMER, earned_from_id="order-2", expires_in_days=9)
    await redeemed(uow_factory, principal, line(promotion.id, 4))
    # the later one has expired since (its validity ended), the sooner one was extended meanwhile
    store.replace_entry(replace(store.entry(later.id), valid_till=now - DAY_MS))
    # when
    outcome = await reverse_redemption(uow_factory, principal, reverse_command(back(promotion, 1)))
    # then
    assert outcome.reversal.lines == [back(promotion, 1, soon)]


async def test_a_reversal_naming_an_entry_gives_back_to_that_entry(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
) -> None:
    soon = given.entry(promotion, CUSTOMER, expires_in_days=3)
    later = given.entry(promotion, CUSTOMER, earned_from_id="order-2", expires_in_days=9)
    await redeemed(uow_factory, principal, line(promotion.id, 4))
    # when
    outcome = await reverse_redemption(uow_factory, principal, reverse_command(back(promotion, 2, soon)))
    # then
    assert store.entry(soon.id).redemptions_used == 0
    assert store.entry(later.id).redemptions_used == 2
    assert outcome.reversal.lines == [back(promotion, 2, soon)]


async def test_an_expired_entry_gets_its_count_back_and_stays_expired_with_its_validity(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
    now: int,
) -> None:
    entry = given.entry(promotion, CUSTOMER)
    await redeemed(uow_factory, principal, line(promotion.id, 1))
    ended = replace(store.entry(entry.id), valid_till=now - DAY_MS)
    store.replace_entry(ended)
    # when
    await reverse_redemption(uow_factory, principal, reverse_command())
    # then
    restored = store.entry(entry.id)
    assert restored.redemptions_used == 0 and restored.valid_till == ended.valid_till
    assert earned_status(restored, now) is EarnedPromotionStatus.EXPIRED


@pytest.mark.parametrize("type_", [PromotionType.POS, PromotionType.CODE])
async def test_a_till_promotion_is_reversed_on_the_record_with_no_wallet_effect(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
    type_: PromotionType,
) -> None:
    till = given.promotion(type_)
    entry = given.entry(promotion, CUSTOMER)
    await redeemed(uow_factory, principal, line(till.id, 2), line(promotion.id, 1))
    ledger_before = len(store.ledger)
    # when the till promotion alone is reversed
    outcome = await reverse_redemption(uow_factory, principal, reverse_command(back(till, 2)))
    # then
    assert outcome.reversal.lines == [back(till, 2)]
    assert store.entry(entry.id).redemptions_used == 1
    assert len(store.ledger) == ledger_before
    assert redemption_status(outcome.redemption) is RedemptionStatus.PARTIALLY_REVERSED


async def test_the_original_redemption_sent_again_after_a_reversal_returns_it_reversed_and_consumes_nothing(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
) -> None:
    entry = given.entry(promotion, CUSTOMER)
    await redeemed(uow_factory, principal, line(promotion.id, 2))
    await reverse_redemption(uow_factory, principal, reverse_command())
    # when
    again = await redeemed(uow_factory, principal, line(promotion.id, 2))
    # then
    assert redemption_status(again) is RedemptionStatus.REVERSED
    assert store.entry(entry.id).redemptions_used == 0
    assert len(store.tables.redemptions) == 1


# --- Idempotency ----------------------------------------------------------------------------------


async def test_a_repeated_reversal_returns_the_recorded_one_and_restores_nothing_twice(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
) -> None:
    given.entry(promotion, CUSTOMER, redemptions_allowed=3)
    await redeemed(uow_factory, principal, line(promotion.id, 3))
    first = await reverse_redemption(uow_factory, principal, reverse_command(back(promotion, 1)))
    before = store.state()
    # when
    again = await reverse_redemption(uow_factory, principal, reverse_command(back(promotion, 1)))
    # then
    assert again.reversal == first.reversal
    assert store.state() == before


async def test_a_repeat_naming_the_redemption_by_id_instead_of_transaction_is_the_same_content(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
) -> None:
    given.entry(promotion, CUSTOMER)
    redemption = await redeemed(uow_factory, principal, line(promotion.id, 2))
    first = await reverse_redemption(uow_factory, principal, reverse_command(back(promotion, 1)))
    # when
    again = await reverse_redemption(
        uow_factory, principal, reverse_command(back(promotion, 1), redemption_id=redemption.id)
    )
    # then
    assert again.reversal == first.reversal


async def test_a_repeat_with_other_content_is_400_on_reversal_identifier_and_writes_nothing(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
) -> None:
    given.entry(promotion, CUSTOMER)
    await redeemed(uow_factory, principal, line(promotion.id, 2))
    await reverse_redemption(uow_factory, principal, reverse_command(back(promotion, 1)))
    # when
    error = await refused(uow_factory, store, principal, reverse_command(back(promotion, 1), reason="other"))
    # then
    assert isinstance(error, InvalidRequest) and error.field == "reversalIdentifier"


async def test_a_reversal_identifier_recorded_on_another_redemption_is_400_and_writes_nothing(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
) -> None:
    given.entry(promotion, CUSTOMER)
    given.entry(promotion, CUSTOMER, earned_from_id="order-2")
    await redeemed(uow_factory, principal, line(promotion.id, 2), transaction="T-1")
    await redeemed(uow_factory, principal, line(promotion.id, 2), transaction="T-2")
    await reverse_redemption(uow_factory, principal, reverse_command(transaction_identifier="T-1"))
    # when
    error = await refused(uow_factory, store, principal, reverse_command(transaction_identifier="T-2"))
    # then
    assert isinstance(error, InvalidRequest) and error.field == "reversalIdentifier"


async def test_a_reversal_beaten_by_a_concurrent_duplicate_answers_as_a_replay_and_restores_once(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
) -> None:
    entry = given.entry(promotion, CUSTOMER, redemptions_allowed=3)
    await redeemed(uow_factory, principal, line(promotion.id, 3))
    theirs = []

    async def the_other_request() -> None:
        theirs.append(await reverse_redemption(uow_factory, principal, reverse_command(back(promotion, 1))))

    uow_factory.before_next_commit(the_other_request)
    # when
    ours = await reverse_redemption(uow_factory, principal, reverse_command(back(promotion, 1)))
    # then
    assert ours.reversal == theirs[0].reversal
    assert store.entry(entry.id).redemptions_used == 2
    assert len(store.tables.reversals) == 1
    assert len([x for x in store.ledger if x.kind is LedgerKind.REVERSED]) == 1


# --- Refusals, in the DESIGN order ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "field"),
    [
        (ReverseRedemption(reversal_identifier="R-1"), "redemptionId"),
        (
            ReverseRedemption(reversal_identifier="R-1", redemption_id="r", transaction_identifier="T-1"),
            "redemptionId",
        ),
        (ReverseRedemption(reversal_identifier="R-1", redemption_id=""), "redemptionId"),
        (
            ReverseRedemption(reversal_identifier="R-1", transaction_identifier="x" * 251),
            "transactionIdentifier",
        ),
        (ReverseRedemption(reversal_identifier="", transaction_identifier="T-1"), "reversalIdentifier"),
        (
            ReverseRedemption(reversal_identifier="r" * 251, transaction_identifier="T-1"),
            "reversalIdentifier",
        ),
        (ReverseRedemption(reversal_identifier="R-1", transaction_identifier="T-1", reason=" "), "reason"),
        (
            ReverseRedemption(reversal_identifier="R-1", transaction_identifier="T-1", reason="x" * 1001),
            "reason",
        ),
        (ReverseRedemption(reversal_identifier="R-1", transaction_identifier="T-1", lines=[]), "lines"),
        (
            ReverseRedemption(reversal_identifier="R-1", transaction_identifier="T-1", lines=[back("p", 0)]),
            "lines[0].redemptionCount",
        ),
        (
            ReverseRedemption(reversal_identifier="R-1", transaction_identifier="T-1", lines=[back("", 1)]),
            "lines[0].promotionId",
        ),
    ],
)
async def test_a_malformed_reversal_is_400_before_looking_up_the_redemption(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    command: ReverseRedemption,
    field: str,
) -> None:
    error = await refused(uow_factory, store, principal, command)
    assert isinstance(error, InvalidRequest) and error.field == field
    assert uow_factory.opened == []


async def test_an_unknown_redemption_is_404_by_id_and_by_transaction_identifier(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given
) -> None:
    assert isinstance(
        await refused(uow_factory, store, principal, reverse_command(redemption_id="nope")),
        RedemptionNotFound,
    )
    assert isinstance(
        await refused(uow_factory, store, principal, reverse_command(transaction_identifier="nope")),
        RedemptionNotFound,
    )


async def test_another_orgs_redemption_is_not_found(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
) -> None:
    given.entry(promotion, CUSTOMER)
    redemption = await redeemed(uow_factory, principal, line(promotion.id, 1))
    given.org(OTHER_ORG_ID)
    other = principal_of(OTHER_ORG_ID)
    # when the other org names it by id or by its transactionIdentifier
    by_id = await refused(uow_factory, store, other, reverse_command(redemption_id=redemption.id))
    by_transaction = await refused(uow_factory, store, other, reverse_command())
    # then
    assert isinstance(by_id, RedemptionNotFound) and isinstance(by_transaction, RedemptionNotFound)


@pytest.mark.parametrize(
    "lines",
    [
        pytest.param(lambda p, e: [back(p, 3)], id="more than the promotion has left"),
        pytest.param(lambda p, e: [back(p, 3, e)], id="more than the entry has left"),
        pytest.param(lambda p, e: [back(p, 2, e), back(p, 1)], id="named and unnamed lines together"),
        pytest.param(lambda p, e: [back("000000000000000000000000", 1)], id="a promotion it did not redeem"),
        pytest.param(lambda p, e: [back(p, 1, replace(e, id="0" * 24))], id="an entry it did not consume"),
    ],
)
async def test_a_reversal_of_more_than_is_left_is_refused_and_writes_nothing(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
    lines: object,
) -> None:
    entry = given.entry(promotion, CUSTOMER)
    await redeemed(uow_factory, principal, line(promotion.id, 2))
    # when
    error = await refused(uow_factory, store, principal, reverse_command(*lines(promotion, entry)))  # type: ignore[operator]
    # then
    assert isinstance(error, ReversalExceedsRedemption)


async def test_a_reversal_beyond_what_earlier_reversals_left_is_refused(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
) -> None:
    given.entry(promotion, CUSTOMER)
    await redeemed(uow_factory, principal, line(promotion.id, 2))
    await reverse_redemption(uow_factory, principal, reverse_command(back(promotion, 1)))
    # when
    error = await refused(
        uow_factory, store, principal, reverse_command(back(promotion, 2), reversal_identifier="R-2")
    )
    # then
    assert isinstance(error, ReversalExceedsRedemption)


async def test_a_fully_reversed_redemption_refuses_another_reversal(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
) -> None:
    given.entry(promotion, CUSTOMER)
    await redeemed(uow_factory, principal, line(promotion.id, 2))
    await reverse_redemption(uow_factory, principal, reverse_command())
    # when everything, then a part, is asked again under new identifiers
    whole = await refused(uow_factory, store, principal, reverse_command(reversal_identifier="R-2"))
    part = await refused(
        uow_factory, store, principal, reverse_command(back(promotion, 1), reversal_identifier="R-3")
    )
    # then
    assert isinstance(whole, ReversalExceedsRedemption) and isinstance(part, ReversalExceedsRedemption)


async def test_a_replay_is_answered_before_the_amount_left_is_checked(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
) -> None:
    given.entry(promotion, CUSTOMER)
    await redeemed(uow_factory, principal, line(promotion.id, 2))
    first = await reverse_redemption(uow_factory, principal, reverse_command())
    # when the full reversal is sent again (nothing is left to reverse)
    again = await reverse_redemption(uow_factory, principal, reverse_command())
    # then
    assert again.reversal == first.reversal


async def test_a_reversal_runs_in_one_write_unit_of_work_under_the_customers_wallet_lock(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
) -> None:
    given.entry(promotion, CUSTOMER)
    await redeemed(uow_factory, principal, line(promotion.id, 1))
    opened = len(uow_factory.opened)
    # when
    await reverse_redemption(uow_factory, principal, reverse_command())
    # then
    records = uow_factory.opened[opened:]
    assert [(x.write, x.committed) for x in records] == [(True, True)]
    assert ("wallet", principal.org_id, CUSTOMER) in records[0].locks


async def test_a_reversal_refused_by_the_wallet_lock_is_resource_locked_and_writes_nothing(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    customer: int,
    promotion: Promotion,
) -> None:
    given.entry(promotion, CUSTOMER)
    await redeemed(uow_factory, principal, line(promotion.id, 1))
    uow_factory.fail_with_lock()
    # when
    error = await refused(uow_factory, store, principal, reverse_command())
    # then
    assert isinstance(error, ResourceLocked) and error.retryable
