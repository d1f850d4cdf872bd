"""earnPromotions on fakes: request-level checks first (DESIGN §6 "Earn"), then an outcome per
entry; replays create only the missing instances."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest

from app.domain import rules
from app.domain.commands import EarnEntryRequest, EarnPromotions
from app.domain.errors import (
    CustomerNotFound,
    DomainError,
    EarnedFromTypeChanged,
    EarnLimitExceeded,
    EarnNotSupported,
    InvalidCustomerIdentifier,
    InvalidRequest,
    MaxActivePromotionsExceeded,
    PromotionExpired,
    PromotionNotFound,
    PromotionTypeNotSupported,
    ResourceLocked,
)
from app.domain.models import EarnedFromType, EventDetails, LedgerKind, Principal, PromotionType
from app.services.earn import EarnResult, earn_promotions
from tests.fakes import FakeStore, FakeUnitOfWorkFactory
from tests.services.factories import MISSING_ORG_ID, ORG_ID, OTHER_ORG_ID, Given, principal_of

CUSTOMER = 5668819330


def entry(promotion_id: str, earn_count: int = 1, earned_from_id: str = "order-1") -> EarnEntryRequest:
    return EarnEntryRequest(promotion_id=promotion_id, earn_count=earn_count, earned_from_id=earned_from_id)


def command(
    entries: Sequence[EarnEntryRequest],
    *,
    customer_id: object = CUSTOMER,
    event_time: int = 1_750_000_000_000,
    earned_from_type: EarnedFromType = EarnedFromType.ACTIVITY,
    event_details: EventDetails | None = None,
    org_id: int | None = None,
) -> EarnPromotions:
    return EarnPromotions(
        customer_id=customer_id,
        event_time=event_time,
        earned_from_type=earned_from_type,
        event_details=event_details or EventDetails(id="event-1", type=earned_from_type.value),
        entries=entries,
        org_id=org_id,
    )


async def earn(
    uow_factory: FakeUnitOfWorkFactory,
    principal: Principal,
    request: EarnPromotions,
    *,
    now: int,
    max_instances: int = 100_000,
) -> EarnResult:
    return await earn_promotions(uow_factory, principal, request, max_instances=max_instances, now=now)


async def refused(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    request: EarnPromotions,
    *,
    now: int,
    max_instances: int = 100_000,
) -> DomainError:
    """The error that refuses the whole request; it must have written nothing."""
    before = store.state()
    with pytest.raises(DomainError) as raised:
        await earn(uow_factory, principal, request, now=now, max_instances=max_instances)
    assert store.state() == before
    assert uow_factory.committed == []
    return raised.value


# --- Request-level checks, in order: each request also breaks the checks after it -----------


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (command([], customer_id=0, event_time=-1), "eventTime"),
        (command([], customer_id=0, event_details=EventDetails(id="", type="ACTIVITY")), "eventDetails.id"),
        (command([], customer_id=0, event_details=EventDetails(id="e", type="")), "eventDetails.type"),
        (command([], customer_id=0), "earnedPromotions"),
        (command([entry("p", 1), entry("", 1, "o2")], customer_id=0), "earnedPromotions[1].promotionId"),
        (command([entry("p", 1, "x" * 251)], customer_id=0), "earnedPromotions[0].earnedFromId"),
        (command([entry("p", 0)], customer_id=0), "earnedPromotions[0].earnCount"),
        (command([entry("p", 1), entry("p", 2)], customer_id=0), "earnedPromotions[1].earnedFromId"),
        (command([entry("p", 2), entry("q", 2)], customer_id=0), "earnedPromotions"),  # max_instances=3
    ],
    ids=[
        "eventTime",
        "eventDetails.id",
        "eventDetails.type",
        "no entries",
        "promotionId",
        "earnedFromId",
        "earnCount",
        "one earning twice",
        "too many instances",
    ],
)
async def test_earn_refuses_a_malformed_request_before_looking_at_the_customer_id(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    now: int,
    request_: EarnPromotions,
    field: str,
) -> None:
    # when
    error = await refused(uow_factory, store, principal, request_, now=now, max_instances=3)
    # then
    assert isinstance(error, InvalidRequest) and error.field == field
    assert uow_factory.opened == []


@pytest.mark.parametrize("customer_id", [0, -1, None, True, 2**63, "5"])
async def test_earn_refuses_a_customer_id_that_is_not_a_positive_long_before_comparing_the_types(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, now: int, customer_id: object
) -> None:
    # given: eventDetails.type differs from earnedFromType too
    request = command(
        [entry("p")], customer_id=customer_id, event_details=EventDetails(id="e", type="MILESTONE")
    )
    # when
    error = await refused(uow_factory, store, principal, request, now=now)
    # then
    assert isinstance(error, InvalidCustomerIdentifier)


async def test_earn_refuses_event_details_of_another_type_than_earned_from_type_before_the_org_id(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, now: int
) -> None:
    request = command([entry("p")], event_details=EventDetails(id="e", type="MILESTONE"), org_id=OTHER_ORG_ID)
    error = await refused(uow_factory, store, principal, request, now=now)
    assert isinstance(error, InvalidRequest) and error.field == "eventDetails.type"


async def test_earn_refuses_an_org_id_other_than_the_callers_before_reading_anything(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, now: int
) -> None:
    # given: the caller's org is missing and the customer unknown
    request = command([entry("p")], org_id=OTHER_ORG_ID)
    # when
    error = await refused(uow_factory, store, principal_of(MISSING_ORG_ID), request, now=now)
    # then
    assert isinstance(error, InvalidRequest) and error.field == "orgId"
    assert uow_factory.opened == []


async def test_earn_accepts_the_callers_own_org_id(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given, now: int
) -> None:
    promotion = given.promotion()
    given.customers(CUSTOMER)
    result = await earn(uow_factory, principal, command([entry(promotion.id)], org_id=ORG_ID), now=now)
    assert result.outcomes[0].successful_count == 1


async def test_earn_refuses_a_caller_whose_org_is_missing_with_an_org_error_before_the_customer(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, given: Given, now: int
) -> None:
    error = await refused(uow_factory, store, principal_of(MISSING_ORG_ID), command([entry("p")]), now=now)
    assert isinstance(error, InvalidRequest) and error.field == "org"


@pytest.mark.parametrize("org_of_customer", [None, OTHER_ORG_ID], ids=["unknown", "another org's"])
async def test_earn_refuses_an_unknown_customer_with_404_and_writes_nothing(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    now: int,
    org_of_customer: int | None,
) -> None:
    # given
    promotion = given.promotion()
    if org_of_customer is not None:
        given.org(org_of_customer)
        given.customers(CUSTOMER, org_id=org_of_customer)
    # when
    error = await refused(uow_factory, store, principal, command([entry(promotion.id)]), now=now)
    # then
    assert isinstance(error, CustomerNotFound) and error.customer_ids == [CUSTOMER]


async def test_earn_refused_by_the_wallet_lock_is_resource_locked_and_writes_nothing(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    promotion = given.promotion()
    given.customers(CUSTOMER)
    uow_factory.fail_with_lock()
    error = await refused(uow_factory, store, principal, command([entry(promotion.id)]), now=now)
    assert isinstance(error, ResourceLocked)


# --- Per-entry outcomes ----------------------------------------------------------------------


async def test_earn_gives_each_entry_its_own_outcome_in_request_order_and_commits_the_successes(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given: POS and CODE ones are also switched off and ended (707 and 714 come before 706)
    good = given.promotion()
    pos = given.promotion(PromotionType.POS, active=False, ends_in_days=-1, starts_in_days=-5)
    code = given.promotion(PromotionType.CODE, active=False, ends_in_days=-1, starts_in_days=-5)
    ended = given.promotion(ends_in_days=-1, starts_in_days=-5)
    given.customers(CUSTOMER)
    request = command(
        [entry(good.id, 2), entry("f" * 24, 3), entry(pos.id, 1), entry(code.id, 2), entry(ended.id, 1)]
    )
    # when
    result = await earn(uow_factory, principal, request, now=now)
    # then
    outcomes = result.outcomes
    assert [o.promotion_id for o in outcomes] == [good.id, "f" * 24, pos.id, code.id, ended.id]
    assert [(o.successful_count, o.failed_count) for o in outcomes] == [
        (2, 0),
        (0, 3),
        (0, 1),
        (0, 2),
        (0, 1),
    ]
    assert [type(o.error) for o in outcomes] == [
        type(None),
        PromotionNotFound,
        PromotionTypeNotSupported,
        EarnNotSupported,
        PromotionExpired,
    ]
    assert [(e.promotion_id, e.instance) for e in store.entries_of(ORG_ID)] == [(good.id, 1), (good.id, 2)]
    assert [e.id for e in outcomes[0].entries] == [e.id for e in store.entries_of(ORG_ID)]


async def test_earn_refuses_entries_while_the_org_is_over_its_cap_but_an_expired_one_is_706(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given, now: int
) -> None:
    # given
    given.settings(max_active_promotions=1)
    first, _second = given.promotion(), given.promotion()
    inactive = given.promotion(active=False)
    given.customers(CUSTOMER)
    # when
    result = await earn(uow_factory, principal, command([entry(first.id), entry(inactive.id)]), now=now)
    # then
    assert [type(o.error) for o in result.outcomes] == [MaxActivePromotionsExceeded, PromotionExpired]
    error = result.outcomes[0].error
    assert isinstance(error, MaxActivePromotionsExceeded) and error.limit == 1


async def test_earn_refuses_an_earned_from_id_used_with_another_type_in_the_org_before_the_earn_limit(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given: another customer got this promotion by a BULK_ISSUE named "order-1"; ours is at the limit
    promotion = given.promotion(max_earns_per_customer=1)
    given.customers(CUSTOMER, 42)
    given.entry(promotion, 42, earned_from_type=EarnedFromType.BULK_ISSUE, earned_from_id="order-1")
    given.entry(promotion, CUSTOMER, earned_from_id="another-order")
    before = store.state()
    # when
    result = await earn(uow_factory, principal, command([entry(promotion.id, 1, "order-1")]), now=now)
    # then
    (outcome,) = result.outcomes
    assert isinstance(outcome.error, EarnedFromTypeChanged)
    assert (outcome.successful_count, outcome.failed_count) == (0, 1)
    assert store.state().tables["entries"] == before.tables["entries"]


async def test_earn_past_the_earn_limit_earns_what_fits_and_fails_the_rest(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given: 3 per customer; 1 held, 1 revoked (not counted)
    promotion = given.promotion(max_earns_per_customer=3)
    given.customers(CUSTOMER)
    given.entry(promotion, CUSTOMER, earned_from_id="earlier")
    given.entry(promotion, CUSTOMER, earned_from_id="revoked-one", revoked=True)
    # when
    result = await earn(uow_factory, principal, command([entry(promotion.id, 5)]), now=now)
    # then
    (outcome,) = result.outcomes
    assert (outcome.successful_count, outcome.failed_count) == (2, 3)
    assert isinstance(outcome.error, EarnLimitExceeded)
    assert [e.instance for e in outcome.entries] == [1, 2]
    assert len([e for e in store.entries_of(ORG_ID) if e.earned_from_id == "order-1"]) == 2


async def test_earn_shares_the_earn_limit_between_entries_of_one_promotion_in_one_request(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given, now: int
) -> None:
    promotion = given.promotion(max_earns_per_customer=2)
    given.customers(CUSTOMER)
    request = command([entry(promotion.id, 2, "order-1"), entry(promotion.id, 2, "order-2")])
    result = await earn(uow_factory, principal, request, now=now)
    assert [(o.successful_count, o.failed_count) for o in result.outcomes] == [(2, 0), (0, 2)]
    assert isinstance(result.outcomes[1].error, EarnLimitExceeded)


async def test_earn_writes_entries_from_the_event_and_an_earned_ledger_row_each(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given
    given.settings(timezone="Asia/Kolkata")
    promotion = given.promotion(redemption_window_days=3, max_redemptions_per_earn=2)
    given.customers(CUSTOMER)
    event_time = now - 3_600_000
    request = command(
        [entry(promotion.id, 2, "order-9")],
        event_time=event_time,
        earned_from_type=EarnedFromType.MILESTONE,
        event_details=EventDetails(id="milestone-3", type="MILESTONE"),
    )
    # when
    await earn(uow_factory, principal, request, now=now)
    # then
    entries = store.entries_of(ORG_ID, CUSTOMER)
    valid_till = rules.valid_till(promotion=promotion, event_time=event_time, timezone="Asia/Kolkata")
    assert [(e.instance, e.earned_from_type, e.earned_from_id) for e in entries] == [
        (1, EarnedFromType.MILESTONE, "order-9"),
        (2, EarnedFromType.MILESTONE, "order-9"),
    ]
    for e in entries:
        assert (e.event_time, e.event_details) == (
            event_time,
            EventDetails(id="milestone-3", type="MILESTONE"),
        )
        assert (e.valid_till, e.unlocks_at, e.redemptions_allowed) == (valid_till, promotion.start_date, 2)
    assert [(x.kind, x.quantity, x.source, x.earned_promotion_id) for x in store.ledger] == [
        (LedgerKind.EARNED, 2, "order-9", e.id) for e in entries
    ]


async def test_earn_holds_the_customers_wallet_lock_in_one_write_unit_of_work(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given, now: int
) -> None:
    promotion = given.promotion()
    given.customers(CUSTOMER)
    await earn(uow_factory, principal, command([entry(promotion.id)]), now=now)
    (record,) = uow_factory.opened
    assert (record.write, record.committed) == (True, True)
    assert ("wallet", ORG_ID, CUSTOMER) in record.locks


# --- Replays ---------------------------------------------------------------------------------


async def test_earn_repeated_creates_nothing_and_reports_the_same_entries(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given
    promotion = given.promotion()
    given.customers(CUSTOMER)
    request = command([entry(promotion.id, 3)])
    first = await earn(uow_factory, principal, request, now=now)
    after_first = store.state()
    # when
    again = await earn(uow_factory, principal, request, now=now + 1000)
    # then
    assert store.state() == after_first
    assert again.outcomes[0].successful_count == 3
    assert [e.id for e in again.outcomes[0].entries] == [e.id for e in first.outcomes[0].entries]


async def test_earn_repeated_with_a_larger_count_creates_only_the_missing_instances(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    promotion = given.promotion()
    given.customers(CUSTOMER)
    await earn(uow_factory, principal, command([entry(promotion.id, 2)]), now=now)
    result = await earn(uow_factory, principal, command([entry(promotion.id, 3)]), now=now)
    assert [e.instance for e in result.outcomes[0].entries] == [1, 2, 3]
    assert sorted(e.instance for e in store.entries_of(ORG_ID)) == [1, 2, 3]
    assert len(store.ledger) == 3


async def test_earn_repeated_with_a_smaller_count_reports_only_the_instances_asked_for(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    promotion = given.promotion()
    given.customers(CUSTOMER)
    await earn(uow_factory, principal, command([entry(promotion.id, 3)]), now=now)
    result = await earn(uow_factory, principal, command([entry(promotion.id, 1)]), now=now)
    assert [e.instance for e in result.outcomes[0].entries] == [1]
    assert len(store.entries_of(ORG_ID)) == 3


async def test_earn_repeated_after_the_promotion_ended_still_reports_the_earning_as_a_success(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given
    promotion = given.promotion()
    given.customers(CUSTOMER)
    await earn(uow_factory, principal, command([entry(promotion.id, 2)]), now=now)
    store.replace_promotion(replace(promotion, active=False))
    # when
    result = await earn(uow_factory, principal, command([entry(promotion.id, 2)]), now=now)
    # then
    (outcome,) = result.outcomes
    assert (outcome.successful_count, outcome.failed_count, outcome.error) == (2, 0, None)


async def test_earn_repeated_with_another_earned_from_type_is_713_and_creates_nothing(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given
    promotion = given.promotion()
    given.customers(CUSTOMER)
    await earn(uow_factory, principal, command([entry(promotion.id, 1)]), now=now)
    # when
    request = command([entry(promotion.id, 1)], earned_from_type=EarnedFromType.REWARD)
    result = await earn(uow_factory, principal, request, now=now)
    # then
    assert isinstance(result.outcomes[0].error, EarnedFromTypeChanged)
    assert len(store.entries_of(ORG_ID)) == 1
