"""issuePromotion on fakes: the check order of DESIGN §6 "Issue", all-or-nothing, idempotency,
and chunked writes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pytest

from app.domain import rules
from app.domain.commands import IssuePromotion
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
from app.domain.models import (
    EarnedFromType,
    EarnedPromotionStatus,
    EventDetails,
    LedgerKind,
    Principal,
    PromotionType,
)
from app.services.issue import IssueResult, issue_promotion
from tests.fakes import FakeStore, FakeUnitOfWorkFactory
from tests.services.factories import MISSING_ORG_ID, ORG_ID, OTHER_ORG_ID, Given, principal_of

CONTEXT = "campaign-7"


async def issue(
    uow_factory: FakeUnitOfWorkFactory,
    principal: Principal,
    promotion_id: str,
    customer_ids: Sequence[object],
    *,
    now: int,
    context_id: str = CONTEXT,
    max_batch: int = 100_000,
    write_chunk: int | None = None,
    include_entries: bool = True,
) -> IssueResult:
    command = IssuePromotion(promotion_id=promotion_id, context_id=context_id, customer_ids=customer_ids)
    chunking = {} if write_chunk is None else {"write_chunk": write_chunk}
    return await issue_promotion(
        uow_factory,
        principal,
        command,
        max_batch=max_batch,
        now=now,
        include_entries=include_entries,
        **chunking,
    )


async def refused(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    promotion_id: str,
    customer_ids: Sequence[object],
    *,
    now: int,
    **options: Any,
) -> DomainError:
    """The error a refused request raises; it must have written nothing."""
    before = store.state()
    with pytest.raises(DomainError) as raised:
        await issue(uow_factory, principal, promotion_id, customer_ids, now=now, **options)
    assert store.state() == before
    assert uow_factory.committed == []
    return raised.value


# --- The check order, one step at a time: each request also breaks every later rule -----------


@pytest.mark.parametrize("context_id", ["", "x" * 251])
async def test_issue_refuses_a_context_id_out_of_range_before_looking_at_customer_ids(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, now: int, context_id: str
) -> None:
    # when
    error = await refused(uow_factory, store, principal, "nope", [], now=now, context_id=context_id)
    # then
    assert isinstance(error, InvalidRequest) and error.field == "contextId"
    assert uow_factory.opened == []


async def test_issue_refuses_null_and_non_positive_customer_ids_with_their_indexes_before_the_batch_limit(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, now: int
) -> None:
    # when
    error = await refused(
        uow_factory, store, principal, "nope", [5, None, -3, 0, True, 2**63], now=now, max_batch=1
    )
    # then
    assert isinstance(error, InvalidCustomerIdentifier)
    assert error.indexes == [1, 2, 3, 4, 5]
    assert uow_factory.opened == []


async def test_issue_refuses_an_empty_customer_list_with_1006(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, now: int
) -> None:
    error = await refused(uow_factory, store, principal, "nope", [], now=now)
    assert isinstance(error, InvalidCustomerIdentifier)


async def test_issue_refuses_more_ids_than_the_batch_limit_before_looking_up_the_promotion(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, now: int
) -> None:
    # when
    error = await refused(uow_factory, store, principal, "nope", [1, 2, 3], now=now, max_batch=2)
    # then
    assert isinstance(error, InvalidRequest) and error.field == "customerIds"
    assert uow_factory.opened == []


async def test_issue_refuses_an_unknown_promotion_before_anything_else_of_the_data(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # when: the customers are unknown too
    error = await refused(uow_factory, store, principal, "0" * 24, [1, 2], now=now)
    # then
    assert isinstance(error, PromotionNotFound)


async def test_issue_does_not_see_a_promotion_of_another_org(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given
    given.org(OTHER_ORG_ID)
    theirs = given.promotion(org_id=OTHER_ORG_ID)
    given.customers(1)
    # when
    error = await refused(uow_factory, store, principal, theirs.id, [1], now=now)
    # then
    assert isinstance(error, PromotionNotFound)


async def test_issue_refuses_a_pos_promotion_before_looking_at_its_dates_or_customers(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given: POS, and also inactive and past its end
    promotion = given.promotion(PromotionType.POS, active=False, ends_in_days=-1, starts_in_days=-5)
    # when
    error = await refused(uow_factory, store, principal, promotion.id, [1], now=now)
    # then
    assert isinstance(error, PromotionTypeNotSupported)


async def test_issue_refuses_a_code_promotion_before_looking_at_its_dates(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    promotion = given.promotion(PromotionType.CODE, active=False, ends_in_days=-1, starts_in_days=-5)
    error = await refused(uow_factory, store, principal, promotion.id, [1], now=now)
    assert isinstance(error, EarnNotSupported)


@pytest.mark.parametrize(("active", "ends_in_days"), [(False, 30), (True, -1)], ids=["inactive", "ended"])
async def test_issue_refuses_an_expired_or_inactive_promotion_before_the_active_cap(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    now: int,
    active: bool,
    ends_in_days: int,
) -> None:
    # given: the org is over its cap too
    given.settings(max_active_promotions=1)
    given.promotion()
    given.promotion()
    promotion = given.promotion(active=active, ends_in_days=ends_in_days, starts_in_days=-5)
    # when
    error = await refused(uow_factory, store, principal, promotion.id, [1], now=now)
    # then
    assert isinstance(error, PromotionExpired)


async def test_issue_refuses_when_the_org_has_more_active_promotions_than_its_cap_before_customers(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given: two promotions count (one upcoming), the cap is 1; the customer is unknown
    given.settings(max_active_promotions=1)
    given.promotion(starts_in_days=3)
    promotion = given.promotion()
    # when
    error = await refused(uow_factory, store, principal, promotion.id, [1], now=now)
    # then
    assert isinstance(error, MaxActivePromotionsExceeded)
    assert error.limit == 1


async def test_issue_goes_ahead_when_the_org_is_exactly_at_its_cap(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given, now: int
) -> None:
    # given: 2 counted, cap 2; an inactive and an ended one do not count
    given.settings(max_active_promotions=2)
    given.promotion(active=False)
    given.promotion(ends_in_days=-1, starts_in_days=-5)
    given.promotion()
    promotion = given.promotion()
    given.customers(1)
    # when
    result = await issue(uow_factory, principal, promotion.id, [1], now=now)
    # then
    assert result.issued_count == 1


async def test_issue_refuses_unknown_customers_listing_every_missing_id_in_request_order_before_713(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given: an ACTIVITY earning with this contextId exists too (713)
    promotion = given.promotion()
    given.customers(2, 4)
    given.entry(promotion, 4, earned_from_type=EarnedFromType.ACTIVITY, earned_from_id=CONTEXT)
    # when
    error = await refused(uow_factory, store, principal, promotion.id, [9, 2, 7, 4, 9, 5], now=now)
    # then
    assert isinstance(error, CustomerNotFound)
    assert error.customer_ids == [9, 7, 5]
    assert "9, 7, 5" in error.message


async def test_issue_lists_the_first_20_missing_customers_in_its_message_and_all_in_its_ids(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    promotion = given.promotion()
    error = await refused(uow_factory, store, principal, promotion.id, list(range(1, 26)), now=now)
    assert isinstance(error, CustomerNotFound)
    assert error.customer_ids == list(range(1, 26))
    assert error.message.endswith("20 and 5 more")


async def test_issue_refuses_a_context_id_used_with_another_earned_from_type_before_the_earn_limit(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given: another customer earned this promotion from an ACTIVITY named like the contextId, and
    # customer 1 is at the earn limit
    promotion = given.promotion(max_earns_per_customer=1)
    given.customers(1, 2)
    given.entry(promotion, 2, earned_from_type=EarnedFromType.ACTIVITY, earned_from_id=CONTEXT)
    given.entry(promotion, 1, earned_from_id="elsewhere")
    # when
    error = await refused(uow_factory, store, principal, promotion.id, [1], now=now)
    # then
    assert isinstance(error, EarnedFromTypeChanged)


async def test_issue_refuses_the_whole_request_when_one_customer_would_pass_the_earn_limit(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given
    promotion = given.promotion(max_earns_per_customer=1)
    given.customers(1, 2, 3)
    given.entry(promotion, 2, earned_from_id="an-earlier-campaign")
    # when
    error = await refused(uow_factory, store, principal, promotion.id, [1, 2, 3], now=now)
    # then
    assert isinstance(error, EarnLimitExceeded)


async def test_issue_does_not_count_a_revoked_entry_against_the_earn_limit(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given, now: int
) -> None:
    promotion = given.promotion(max_earns_per_customer=1)
    given.customers(1)
    given.entry(promotion, 1, earned_from_id="an-earlier-campaign", revoked=True)
    result = await issue(uow_factory, principal, promotion.id, [1], now=now)
    assert result.issued_count == 1


async def test_issue_refuses_a_caller_whose_org_is_missing_with_an_org_error(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, given: Given, now: int
) -> None:
    # given
    promotion = given.promotion(org_id=MISSING_ORG_ID)
    given.customers(1, org_id=MISSING_ORG_ID)
    # when
    error = await refused(uow_factory, store, principal_of(MISSING_ORG_ID), promotion.id, [1], now=now)
    # then
    assert isinstance(error, InvalidRequest) and error.field == "org"
    assert not error.retryable


# --- What a successful issue writes ----------------------------------------------------------


async def test_issue_gives_each_distinct_customer_one_bulk_issue_entry_and_a_ledger_row(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given
    given.settings(timezone="Asia/Kolkata")
    promotion = given.promotion(redemption_window_days=7, max_redemptions_per_earn=3)
    given.customers(1, 2, 3)
    # when
    result = await issue(uow_factory, principal, promotion.id, [3, 1, 3, 2, 1], now=now)
    # then
    assert (result.issued_count, result.already_issued_count) == (3, 0)
    assert [e.customer_id for e in result.entries] == [3, 1, 2]
    stored = store.entries_of(ORG_ID)
    assert sorted(e.customer_id for e in stored) == [1, 2, 3]
    valid_till = rules.valid_till(promotion=promotion, event_time=now, timezone="Asia/Kolkata")
    for entry in stored:
        assert entry.earned_from_type is EarnedFromType.BULK_ISSUE
        assert (entry.earned_from_id, entry.instance) == (CONTEXT, 1)
        assert entry.event_details == EventDetails(id=CONTEXT, type="BULK_ISSUE")
        assert (entry.valid_till, entry.unlocks_at) == (valid_till, promotion.start_date)
        assert (entry.redemptions_allowed, entry.redemptions_used) == (3, 0)
        assert rules.earned_status(entry, now) is EarnedPromotionStatus.UNLOCKED
    assert {e.id for e in result.entries} == {e.id for e in stored}
    assert sorted((x.customer_id, x.kind, x.quantity, x.source) for x in store.ledger) == [
        (c, LedgerKind.ISSUED, 3, CONTEXT) for c in (1, 2, 3)
    ]
    assert {x.earned_promotion_id for x in store.ledger} == {e.id for e in stored}


async def test_issue_of_an_upcoming_promotion_gives_locked_entries(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    promotion = given.promotion(starts_in_days=2)
    given.customers(1)
    await issue(uow_factory, principal, promotion.id, [1], now=now)
    (entry,) = store.entries_of(ORG_ID)
    assert rules.earned_status(entry, now) is EarnedPromotionStatus.LOCKED


async def test_issue_repeated_counts_every_customer_as_already_issued_and_returns_the_same_entries(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given
    promotion = given.promotion()
    given.customers(1, 2, 3)
    first = await issue(uow_factory, principal, promotion.id, [1, 2, 3], now=now)
    after_first = store.state()
    # when
    again = await issue(uow_factory, principal, promotion.id, [3, 2, 1], now=now + 5000)
    # then
    assert (again.issued_count, again.already_issued_count) == (0, 3)
    assert {e.id for e in again.entries} == {e.id for e in first.entries}
    assert [e.customer_id for e in again.entries] == [3, 2, 1]
    assert store.state() == after_first


async def test_issue_partly_repeated_issues_only_the_new_customers(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given
    promotion = given.promotion(max_earns_per_customer=1)
    given.customers(1, 2, 3)
    await issue(uow_factory, principal, promotion.id, [1, 2], now=now)
    # when: a repeat is not a new earn, so the earn limit of 1 does not refuse customers 1 and 2
    result = await issue(uow_factory, principal, promotion.id, [1, 2, 3], now=now)
    # then
    assert (result.issued_count, result.already_issued_count) == (1, 2)
    assert len(store.entries_of(ORG_ID)) == 3
    assert len(store.ledger) == 3


async def test_issue_with_another_context_id_gives_a_second_entry(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    promotion = given.promotion()
    given.customers(1)
    await issue(uow_factory, principal, promotion.id, [1], now=now)
    result = await issue(uow_factory, principal, promotion.id, [1], now=now, context_id="campaign-8")
    assert result.issued_count == 1
    assert len(store.entries_of(ORG_ID, 1)) == 2


async def test_issue_without_entries_asked_for_returns_only_the_counts(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given, now: int
) -> None:
    promotion = given.promotion()
    given.customers(1, 2)
    result = await issue(uow_factory, principal, promotion.id, [1, 2], now=now, include_entries=False)
    assert (result.issued_count, result.entries) == (2, [])


async def test_issue_of_a_small_request_is_one_write_unit_of_work(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given, now: int
) -> None:
    promotion = given.promotion()
    given.customers(1, 2)
    await issue(uow_factory, principal, promotion.id, [1, 2], now=now)
    assert [(r.write, r.bulk, r.committed) for r in uow_factory.opened] == [(True, True, True)]


# --- Chunked writes --------------------------------------------------------------------------


def _comparable(store: FakeStore) -> list[tuple[object, ...]]:
    """The entries as a request's outcome, without the random ids."""
    return sorted(
        (e.customer_id, e.promotion_id, e.earned_from_type, e.earned_from_id, e.instance, e.valid_till)
        for e in store.entries_of(ORG_ID)
    )


async def test_issue_in_chunks_checks_in_a_read_only_pass_then_commits_each_chunk(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given
    promotion = given.promotion()
    given.customers(*range(1, 6))
    # when
    result = await issue(uow_factory, principal, promotion.id, [5, 4, 3, 2, 1, 5], now=now, write_chunk=2)
    # then
    assert (result.issued_count, result.already_issued_count) == (5, 0)
    assert [e.customer_id for e in result.entries] == [5, 4, 3, 2, 1]
    assert [(r.write, r.bulk, r.committed) for r in uow_factory.opened] == [
        (False, True, False),
        (True, True, True),
        (True, True, True),
        (True, True, True),
    ]
    assert len(store.ledger) == 5


async def test_issue_in_chunks_ends_in_the_same_state_as_in_one_transaction(
    principal: Principal, given: Given, now: int
) -> None:
    # given: two stores alike
    promotion = given.promotion(max_earns_per_customer=2)
    given.customers(*range(1, 8))
    given.entry(promotion, 3, earned_from_id="an-earlier-campaign")
    chunked = FakeUnitOfWorkFactory(given.store)
    single_store = FakeStore()
    single_store.tables = given.store.tables.copy()
    single = FakeUnitOfWorkFactory(single_store)
    ids = [7, 1, 3, 5, 2, 6, 4]
    # when
    one = await issue(single, principal, promotion.id, ids, now=now)
    many = await issue(chunked, principal, promotion.id, ids, now=now, write_chunk=3)
    # then
    assert (one.issued_count, one.already_issued_count) == (many.issued_count, many.already_issued_count)
    assert _comparable(single_store) == _comparable(given.store)
    assert len(single_store.ledger) == len(given.store.ledger) == 7


async def test_issue_in_chunks_refused_by_a_check_opens_no_write_unit_of_work(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    promotion = given.promotion()
    given.customers(1, 2, 3)
    error = await refused(
        uow_factory, store, principal, promotion.id, [5, 1, 4, 2, 3], now=now, write_chunk=2
    )
    assert isinstance(error, CustomerNotFound)
    assert error.customer_ids == [5, 4]  # in request order, as a request of one chunk lists them
    assert uow_factory.writes == []


async def test_issue_in_chunks_keeps_the_chunks_before_a_lock_timeout_and_a_repeat_completes_the_rest(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given: the read-only pass and the first chunk get through, the second chunk does not
    promotion = given.promotion()
    given.customers(*range(1, 6))
    uow_factory.fail_with_lock(after=2)
    # when
    with pytest.raises(ResourceLocked):
        await issue(uow_factory, principal, promotion.id, [1, 2, 3, 4, 5], now=now, write_chunk=2)
    # then
    assert sorted(e.customer_id for e in store.entries_of(ORG_ID)) == [1, 2]
    # when
    again = await issue(uow_factory, principal, promotion.id, [1, 2, 3, 4, 5], now=now, write_chunk=2)
    # then
    assert (again.issued_count, again.already_issued_count) == (3, 2)
    assert sorted(e.customer_id for e in store.entries_of(ORG_ID)) == [1, 2, 3, 4, 5]


async def test_issue_in_chunks_rechecks_the_promotion_in_every_chunk(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given: another writer switches the promotion off while the first chunk commits
    promotion = given.promotion()
    given.customers(1, 2, 3, 4)

    async def deactivate() -> None:
        store.replace_promotion(replace(promotion, active=False))

    uow_factory.before_next_commit(deactivate)
    # when
    with pytest.raises(PromotionExpired):
        await issue(uow_factory, principal, promotion.id, [1, 2, 3, 4], now=now, write_chunk=1)
    # then: the first chunk stays issued, the second was refused by its own check
    assert [e.customer_id for e in store.entries_of(ORG_ID)] == [1]


async def test_issue_refuses_a_timed_out_lock_with_resource_locked_and_writes_nothing(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    promotion = given.promotion()
    given.customers(1)
    uow_factory.fail_with_lock()
    error = await refused(uow_factory, store, principal, promotion.id, [1], now=now)
    assert isinstance(error, ResourceLocked) and error.retryable
