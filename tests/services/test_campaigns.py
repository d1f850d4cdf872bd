"""Campaign runs on fakes: issuing and importing in batches, the 521 retry policy, and which
refusals stop a run (app/services/campaigns.py)."""

from __future__ import annotations

import pytest

from app.domain.commands import CreateCustomer
from app.domain.errors import (
    CustomerNotFound,
    DomainError,
    EarnLimitExceeded,
    InvalidCustomerIdentifier,
    InvalidRequest,
    MaxActivePromotionsExceeded,
    PromotionExpired,
    PromotionNotFound,
    ResourceLocked,
)
from app.domain.models import EarnedFromType, Principal, PromotionType
from app.services.campaigns import (
    LOCK_RETRY_DELAYS_S,
    ImportSummary,
    IssueSummary,
    RetryPolicy,
    import_in_batches,
    issue_in_batches,
    stops_the_run,
)
from tests.fakes import FakeStore, FakeUnitOfWorkFactory
from tests.services.factories import MISSING_ORG_ID, ORG_ID, Given, principal_of


class Pauses:
    """A RetryPolicy's sleep that records the pauses instead of taking them."""

    def __init__(self) -> None:
        self.taken: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.taken.append(seconds)


@pytest.fixture
def pauses() -> Pauses:
    return Pauses()


async def issue(
    uow_factory: FakeUnitOfWorkFactory,
    principal: Principal,
    promotion_id: str,
    customer_ids: list[int],
    pauses: Pauses,
    *,
    batch_size: int = 2,
    skip_missing: bool = False,
    settled: list[int] | None = None,
    context_id: str = "spring-1",
) -> IssueSummary:
    return await issue_in_batches(
        uow_factory,
        principal,
        promotion_id=promotion_id,
        context_id=context_id,
        customer_ids=customer_ids,
        batch_size=batch_size,
        max_batch=100,
        skip_missing=skip_missing,
        on_batch=(settled if settled is not None else []).append,
        retry=RetryPolicy(sleep=pauses),
    )


def issued_to(store: FakeStore, context_id: str = "spring-1") -> set[int]:
    return {
        entry.customer_id
        for entry in store.tables.entries.values()
        if entry.earned_from_type is EarnedFromType.BULK_ISSUE and entry.earned_from_id == context_id
    }


# --- Issuing ---------------------------------------------------------------------------------


async def test_issue_in_batches_sends_every_batch_and_a_second_run_issues_nothing_twice(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, pauses: Pauses
) -> None:
    # given
    promotion = given.promotion(PromotionType.CUSTOMER)
    given.customers(1, 2, 3, 4, 5)
    # when the run goes twice, two customers per batch
    settled: list[int] = []
    first = await issue(uow_factory, principal, promotion.id, [1, 2, 3, 4, 5], pauses, settled=settled)
    second = await issue(uow_factory, principal, promotion.id, [1, 2, 3, 4, 5], pauses)
    # then
    assert (first.issued, first.already_issued, first.refusals) == (5, 0, [])
    assert settled == [2, 2, 1]
    assert (second.issued, second.already_issued) == (0, 5)
    assert issued_to(store) == {1, 2, 3, 4, 5}


async def test_a_batch_refused_with_521_is_sent_again_after_a_pause(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, pauses: Pauses
) -> None:
    # given the first batch's lock is not won twice (after the promotion was looked up)
    promotion = given.promotion(PromotionType.CUSTOMER)
    given.customers(1, 2, 3)
    uow_factory.fail_with_lock(after=1)
    uow_factory.fail_with_lock()
    # when
    summary = await issue(uow_factory, principal, promotion.id, [1, 2, 3], pauses)
    # then it went in on the third try, after the policy's first two pauses
    assert (summary.issued, summary.refusals) == (3, [])
    assert pauses.taken == [0.5, 1.0]  # the policy the README states: 0.5, 1 and 2 s
    assert issued_to(store) == {1, 2, 3}


async def test_a_batch_still_locked_after_every_retry_is_refused_and_the_run_goes_on(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, pauses: Pauses
) -> None:
    # given the first batch's lock is lost on every try (the first and each retry)
    promotion = given.promotion(PromotionType.CUSTOMER)
    given.customers(1, 2, 3)
    uow_factory.fail_with_lock(after=1)
    for _ in LOCK_RETRY_DELAYS_S:
        uow_factory.fail_with_lock()
    # when
    summary = await issue(uow_factory, principal, promotion.id, [1, 2, 3], pauses)
    # then that batch is a 521 refusal, and the next batch was still sent
    assert [(r.code, r.customers) for r in summary.refusals] == [(521, 2)]
    assert pauses.taken == list(LOCK_RETRY_DELAYS_S)
    assert (summary.issued, summary.not_sent, summary.stopped_by) == (1, 0, None)
    assert issued_to(store) == {3}


async def test_an_unknown_promotion_is_raised_before_any_batch_is_sent(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given, pauses: Pauses
) -> None:
    given.customers(1, 2)
    with pytest.raises(PromotionNotFound):
        await issue(uow_factory, principal, "0" * 24, [1, 2], pauses)
    assert uow_factory.writes == []


async def test_a_promotion_of_another_org_is_unknown_to_the_run(
    uow_factory: FakeUnitOfWorkFactory, given: Given, pauses: Pauses
) -> None:
    given.org(MISSING_ORG_ID - 1)
    theirs = given.promotion(PromotionType.CUSTOMER, org_id=MISSING_ORG_ID - 1)
    with pytest.raises(PromotionNotFound):
        await issue(uow_factory, principal_of(ORG_ID), theirs.id, [1], pauses)


async def test_a_malformed_context_id_is_raised_before_any_unit_of_work_opens(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given, pauses: Pauses
) -> None:
    promotion = given.promotion(PromotionType.CUSTOMER)
    with pytest.raises(InvalidRequest) as raised:
        await issue(uow_factory, principal, promotion.id, [1], pauses, context_id="")
    assert raised.value.field == "contextId"
    assert uow_factory.opened == []


async def test_an_expired_promotion_stops_the_run_at_its_first_batch_and_the_rest_is_not_sent(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, pauses: Pauses
) -> None:
    # given
    promotion = given.promotion(PromotionType.CUSTOMER, ends_in_days=-1)
    given.customers(1, 2, 3, 4, 5)
    settled: list[int] = []
    # when
    summary = await issue(uow_factory, principal, promotion.id, [1, 2, 3, 4, 5], pauses, settled=settled)
    # then
    assert [(r.code, r.customers) for r in summary.refusals] == [(706, 2)]
    assert summary.not_sent == 3 and summary.stopped_by is not None
    assert settled == [2]
    assert issued_to(store) == set()


async def test_a_batch_naming_unknown_customers_is_refused_whole_and_the_run_goes_on(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, pauses: Pauses
) -> None:
    # given customer 9 does not exist
    promotion = given.promotion(PromotionType.CUSTOMER)
    given.customers(1, 2, 3)
    # when the first batch names it
    summary = await issue(uow_factory, principal, promotion.id, [1, 9, 2, 3], pauses)
    # then that batch is refused (issuing is atomic per call) and lists 9; the second went in
    assert [(r.code, r.customers, r.missing) for r in summary.refusals] == [(404, 2, [9])]
    assert (summary.issued, summary.not_sent) == (2, 0)
    assert issued_to(store) == {2, 3}


async def test_skip_missing_issues_the_rest_of_a_batch_naming_unknown_customers(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, pauses: Pauses
) -> None:
    promotion = given.promotion(PromotionType.CUSTOMER)
    given.customers(1, 2, 3)
    summary = await issue(uow_factory, principal, promotion.id, [1, 9, 2, 3], pauses, skip_missing=True)
    assert [(r.code, r.customers, r.missing) for r in summary.refusals] == [(404, 1, [9])]
    assert summary.issued == 3
    assert issued_to(store) == {1, 2, 3}


@pytest.mark.parametrize(
    ("error", "stops"),
    [
        (PromotionNotFound("x"), True),
        (PromotionExpired("x"), True),
        (MaxActivePromotionsExceeded("x"), True),
        (InvalidRequest("x", field="contextId"), True),
        (InvalidRequest("x", field="org"), True),
        (CustomerNotFound("x", [1]), False),
        (EarnLimitExceeded("x"), False),
        (InvalidCustomerIdentifier("x"), False),
        (ResourceLocked("x"), False),
        (InvalidRequest("customers were created concurrently by another request; retry"), False),
    ],
)
def test_refusals_about_the_promotion_or_the_org_stop_a_run_and_those_about_customers_do_not(
    error: DomainError, stops: bool
) -> None:
    assert stops_the_run(error) is stops


# --- Importing -------------------------------------------------------------------------------


async def import_(
    uow_factory: FakeUnitOfWorkFactory,
    principal: Principal,
    customers: list[CreateCustomer],
    pauses: Pauses,
    *,
    settled: list[int] | None = None,
) -> ImportSummary:
    return await import_in_batches(
        uow_factory,
        principal,
        customers,
        batch_size=2,
        max_batch=100,
        on_batch=(settled if settled is not None else []).append,
        retry=RetryPolicy(sleep=pauses),
    )


async def test_import_in_batches_creates_new_customers_and_skips_those_already_there_identically(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, pauses: Pauses
) -> None:
    # given customer 1 exists with this mobile
    given.customer(1, mobile="9876543210")
    rows = [
        CreateCustomer(id=1, mobile="9876543210"),
        CreateCustomer(id=2),
        CreateCustomer(id=3, email="a@b.co"),
    ]
    settled: list[int] = []
    # when
    summary = await import_(uow_factory, principal, rows, pauses, settled=settled)
    # then
    assert (summary.created, summary.skipped, summary.rejected, summary.refusals) == (2, 1, [], [])
    assert settled == [2, 1]
    assert {c.id for c in store.tables.customers.values() if c.org_id == ORG_ID} == {1, 2, 3}


async def test_rejected_rows_carry_their_position_in_the_whole_run_and_the_others_go_in(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, pauses: Pauses
) -> None:
    # given the fourth row (second batch) has a malformed mobile
    rows = [
        CreateCustomer(id=1),
        CreateCustomer(id=2),
        CreateCustomer(id=3),
        CreateCustomer(id=4, mobile="x"),
    ]
    # when
    summary = await import_(uow_factory, principal, rows, pauses)
    # then
    assert [(r.position, r.error.code) for r in summary.rejected] == [(3, 400)]
    assert summary.created == 3
    assert {c.id for c in store.tables.customers.values()} == {1, 2, 3}


async def test_an_import_batch_refused_with_521_is_sent_again_after_a_pause(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, pauses: Pauses
) -> None:
    uow_factory.fail_with_lock()
    summary = await import_(uow_factory, principal, [CreateCustomer(id=1)], pauses)
    assert (summary.created, summary.refusals) == (1, [])
    assert pauses.taken == [LOCK_RETRY_DELAYS_S[0]]


async def test_an_import_for_an_org_that_does_not_exist_stops_at_its_first_batch(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, given: Given, pauses: Pauses
) -> None:
    rows = [CreateCustomer(id=i) for i in range(1, 6)]
    summary = await import_(uow_factory, principal_of(MISSING_ORG_ID), rows, pauses)
    assert [(r.code, r.customers) for r in summary.refusals] == [(400, 2)]
    assert summary.not_sent == 3 and summary.stopped_by == f"org {MISSING_ORG_ID} does not exist"
    assert store.tables.customers == {}


async def test_an_import_batch_larger_than_the_call_limit_is_refused_before_anything_is_sent(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        await import_in_batches(uow_factory, principal, [CreateCustomer(id=1)], batch_size=5, max_batch=4)
    assert raised.value.field == "batchSize"
    assert uow_factory.opened == []
