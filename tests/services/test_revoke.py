"""revokeEarnedPromotions on fakes: one result per requested id, under the wallet lock."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from app.domain.commands import RevokeEarnedPromotions
from app.domain.errors import (
    CustomerNotFound,
    DomainError,
    EarnedPromotionNotFound,
    InvalidRequest,
    NotRedeemableReason,
    PromotionNotRedeemable,
    ResourceLocked,
)
from app.domain.models import LedgerKind, Principal
from app.services.revoke import REVOKE_SOURCE, RevokeOutcome, revoke_earned_promotions
from tests.fakes import FakeStore, FakeUnitOfWorkFactory
from tests.services.factories import MISSING_ORG_ID, ORG_ID, OTHER_ORG_ID, Given, principal_of, refusal_of

CUSTOMER = 77


async def revoke(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, ids: Sequence[str], customer_id: int = CUSTOMER
) -> RevokeOutcome:
    command = RevokeEarnedPromotions(customer_id=customer_id, earned_promotion_ids=ids)
    return await revoke_earned_promotions(uow_factory, principal, command)


async def refused(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    ids: Sequence[str],
    customer_id: int = CUSTOMER,
) -> DomainError:
    return await refusal_of(uow_factory, store, revoke(uow_factory, principal, ids, customer_id))



async def test_revoke_answers_each_id_on_its_own_in_request_order(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given, now: int
) -> None:
    # given
    promotion = given.promotion(max_redemptions_per_earn=3)
    given.customers(CUSTOMER, 78)
    fresh = given.entry(promotion, CUSTOMER, earned_from_id="a")
    revoked = given.entry(promotion, CUSTOMER, earned_from_id="b", revoked=True)
    redeemed = given.entry(promotion, CUSTOMER, earned_from_id="c", redemptions_used=1)
    someone_elses = given.entry(promotion, 78, earned_from_id="d")
    unknown = "f" * 24
    ids = [redeemed.id, fresh.id, unknown, revoked.id, someone_elses.id, fresh.id]
    # when
    outcome = await revoke(uow_factory, principal, ids)
    # then
    results = outcome.results
    assert [r.earned_promotion_id for r in results] == [
        redeemed.id,
        fresh.id,
        unknown,
        revoked.id,
        someone_elses.id,
    ]
    assert [r.revoked for r in results] == [False, True, False, True, False]
    assert [type(r.error) for r in results] == [
        PromotionNotRedeemable,
        type(None),
        EarnedPromotionNotFound,
        type(None),
        EarnedPromotionNotFound,
    ]
    error = results[0].error
    assert isinstance(error, PromotionNotRedeemable) and error.reason is NotRedeemableReason.ALREADY_REDEEMED
    assert outcome.revoked_count == 1
    assert store.entry(fresh.id).revoked_at is not None
    assert store.entry(redeemed.id).revoked_at is None
    assert store.entry(someone_elses.id).revoked_at is None


async def test_revoke_writes_a_revoked_ledger_row_only_for_entries_it_revoked(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given
) -> None:
    # given
    promotion = given.promotion(max_redemptions_per_earn=3)
    given.customers(CUSTOMER)
    fresh = given.entry(promotion, CUSTOMER, earned_from_id="a")
    already = given.entry(promotion, CUSTOMER, earned_from_id="b", revoked=True)
    # when
    await revoke(uow_factory, principal, [fresh.id, already.id])
    # then
    assert [(x.kind, x.earned_promotion_id, x.quantity, x.source, x.actor) for x in store.ledger] == [
        (LedgerKind.REVOKED, fresh.id, -3, REVOKE_SOURCE, principal.username)
    ]


async def test_revoke_repeated_reports_the_entries_revoked_and_counts_none(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given
) -> None:
    promotion = given.promotion()
    given.customers(CUSTOMER)
    entry = given.entry(promotion, CUSTOMER)
    await revoke(uow_factory, principal, [entry.id])
    after_first = store.state()
    again = await revoke(uow_factory, principal, [entry.id])
    assert (again.revoked_count, again.results[0].revoked, again.results[0].error) == (0, True, None)
    assert store.state() == after_first


async def test_revoke_runs_in_one_write_unit_of_work_under_the_customers_wallet_lock(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given
) -> None:
    promotion = given.promotion()
    given.customers(CUSTOMER)
    entry = given.entry(promotion, CUSTOMER)
    await revoke(uow_factory, principal, [entry.id])
    (record,) = uow_factory.opened
    assert (record.write, record.committed, record.locks) == (True, True, [("wallet", ORG_ID, CUSTOMER)])


@pytest.mark.parametrize(
    ("customer_id", "ids", "field"),
    [
        (0, ["a"], "customerId"),
        (CUSTOMER, [], "earnedPromotionIds"),
        (CUSTOMER, ["a"] * 1001, "earnedPromotionIds"),
        (CUSTOMER, ["a", ""], "earnedPromotionIds"),
    ],
    ids=["customerId", "no ids", "too many ids", "empty id"],
)
async def test_revoke_refuses_a_malformed_request_before_reading_anything(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    customer_id: int,
    ids: list[str],
    field: str,
) -> None:
    error = await refused(uow_factory, store, principal, ids, customer_id)
    assert isinstance(error, InvalidRequest) and error.field == field
    assert uow_factory.opened == []


@pytest.mark.parametrize("org_of_customer", [None, OTHER_ORG_ID], ids=["unknown", "another org's"])
async def test_revoke_refuses_an_unknown_customer_with_404(
    uow_factory: FakeUnitOfWorkFactory,
    store: FakeStore,
    principal: Principal,
    given: Given,
    org_of_customer: int | None,
) -> None:
    # given
    if org_of_customer is not None:
        given.org(org_of_customer)
        given.customers(CUSTOMER, org_id=org_of_customer)
        promotion = given.promotion(org_id=org_of_customer)
        given.entry(promotion, CUSTOMER)
    # when
    error = await refused(uow_factory, store, principal, ["a"])
    # then
    assert isinstance(error, CustomerNotFound) and error.customer_ids == [CUSTOMER]


async def test_revoke_refuses_a_caller_whose_org_is_missing_with_an_org_error(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, given: Given
) -> None:
    given.customers(CUSTOMER, org_id=MISSING_ORG_ID)
    error = await refused(uow_factory, store, principal_of(MISSING_ORG_ID), ["a"])
    assert isinstance(error, InvalidRequest) and error.field == "org"


async def test_revoke_refused_by_the_wallet_lock_is_resource_locked_and_writes_nothing(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, given: Given
) -> None:
    promotion = given.promotion()
    given.customers(CUSTOMER)
    entry = given.entry(promotion, CUSTOMER)
    uow_factory.fail_with_lock()
    error = await refused(uow_factory, store, principal, [entry.id])
    assert isinstance(error, ResourceLocked)
