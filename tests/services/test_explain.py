"""explainRedemption on fakes: every refusal reason gives the very error redeemPromotions returns,
checks come in the redemption's order with their details, a passing run gives the allocations the
redemption then makes, and an explanation writes nothing and takes no lock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from app.domain.commands import HoldPromotions, RedeemPromotions
from app.domain.errors import DomainError
from app.domain.models import CustomerIdentifierType, Principal, PromotionType
from app.services.explain import Explanation, explain_redemption
from app.services.holds import hold_promotions
from app.services.redeem import redeem_promotions
from tests.fakes import FakeStore, FakeUnitOfWorkFactory
from tests.services.factories import MISSING_ORG_ID, Given, line, principal_of
from tests.services.test_redeem import CUSTOMER, MOBILE, redeem_command

ALL_CHECKS = [
    "request",
    "customer",
    "customerIdentifier",
    "redemptionWithoutEvaluation",
    "webEngageAccount",
    "transactionIdentifier",
    "promotions",
]


async def explained(
    uow_factory: FakeUnitOfWorkFactory, store: FakeStore, principal: Principal, command: RedeemPromotions
) -> Explanation:
    """The explanation; it must have written nothing, in read-only units of work that lock nothing."""
    before, opened = store.state(), len(uow_factory.opened)
    explanation = await explain_redemption(uow_factory, principal, command)
    assert store.state() == before
    assert all(not x.write and not x.locks for x in uow_factory.opened[opened:])
    return explanation


# Each arranges the store and returns the request that redeemPromotions refuses for that reason.
Scenario = Callable[[Given, FakeUnitOfWorkFactory, Principal], object]


def _wallet(given: Given, **entry: object) -> RedeemPromotions:
    promotion = given.promotion()
    if entry.pop("none", False) is False:
        given.entry(promotion, CUSTOMER, **entry)  # type: ignore[arg-type]
    return redeem_command(line(promotion.id))


async def _shape(given: Given, *_: object) -> RedeemPromotions:
    return replace(redeem_command(line("p" * 24)), redemptions=None)


async def _unknown_customer(given: Given, *_: object) -> RedeemPromotions:
    return replace(_wallet(given), customer_id=42)


async def _identifier_mismatch(given: Given, *_: object) -> RedeemPromotions:
    return replace(
        _wallet(given), identifier_type=CustomerIdentifierType.MOBILE, identifier_value="+910000000000"
    )


async def _evaluation_disabled(given: Given, *_: object) -> RedeemPromotions:
    given.settings(redemption_without_evaluation=False)
    return _wallet(given)


async def _bad_web_engage(given: Given, *_: object) -> RedeemPromotions:
    given.settings(web_engage_account_id="NOT VALID")
    return _wallet(given)


async def _replay_other_content(
    given: Given, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> object:
    promotion = given.promotion(max_redemptions_per_earn=3)
    given.entry(promotion, CUSTOMER)
    await redeem_promotions(uow_factory, principal, redeem_command(line(promotion.id)))
    return redeem_command(line(promotion.id), amount="99")


async def _held_transaction(given: Given, uow_factory: FakeUnitOfWorkFactory, principal: Principal) -> object:
    promotion = given.promotion(max_redemptions_per_earn=3)
    given.entry(promotion, CUSTOMER)
    command = redeem_command(line(promotion.id))
    await hold_promotions(uow_factory, principal, HoldPromotions(redemption=command))
    return command


async def _unknown_promotion(given: Given, *_: object) -> RedeemPromotions:
    return redeem_command(line(_wallet(given).redemptions[0].promotion_id), line("f" * 24))  # type: ignore[index]


async def _unknown_entry(given: Given, *_: object) -> RedeemPromotions:
    promotion = given.promotion()
    given.entry(promotion, CUSTOMER)
    return redeem_command(line_items=(line(promotion.id, earned_promotion_id="e" * 24),))


async def _not_earned(given: Given, *_: object) -> RedeemPromotions:
    return _wallet(given, none=True)


async def _locked(given: Given, *_: object) -> RedeemPromotions:
    return _wallet(given, unlocks_in_days=2)


async def _expired(given: Given, *_: object) -> RedeemPromotions:
    return _wallet(given, expires_in_days=-1)


async def _used_up(given: Given, *_: object) -> RedeemPromotions:
    return _wallet(given, redemptions_used=1)


async def _revoked(given: Given, *_: object) -> RedeemPromotions:
    return _wallet(given, revoked=True)


async def _held(given: Given, uow_factory: FakeUnitOfWorkFactory, principal: Principal) -> object:
    promotion = given.promotion()
    given.entry(promotion, CUSTOMER)
    held = redeem_command(line(promotion.id), transaction_identifier="T-held")
    await hold_promotions(uow_factory, principal, HoldPromotions(redemption=held))
    return redeem_command(line(promotion.id))


async def _second_promotion_used_up(given: Given, *_: object) -> RedeemPromotions:
    fine, used = given.promotion(), given.promotion()
    given.entry(fine, CUSTOMER)
    given.entry(used, CUSTOMER, redemptions_used=1)
    return redeem_command(line(fine.id), line(used.id))


REFUSALS = {
    "shape": (_shape, "request"),
    "unknown customer": (_unknown_customer, "customer"),
    "identifier of another customer": (_identifier_mismatch, "customerIdentifier"),
    "redemption without evaluation off": (_evaluation_disabled, "redemptionWithoutEvaluation"),
    "invalid web engage account": (_bad_web_engage, "webEngageAccount"),
    "replay with other content": (_replay_other_content, "transactionIdentifier"),
    "transaction held": (_held_transaction, "transactionIdentifier"),
    "unknown promotion": (_unknown_promotion, "promotions"),
    "unknown earned promotion": (_unknown_entry, "coverage:"),
    "not earned": (_not_earned, "coverage:"),
    "locked": (_locked, "coverage:"),
    "expired": (_expired, "coverage:"),
    "already redeemed": (_used_up, "coverage:"),
    "revoked": (_revoked, "coverage:"),
    "held by another transaction": (_held, "coverage:"),
    "second promotion used up": (_second_promotion_used_up, "coverage:"),
}


@pytest.fixture
def customer(given: Given) -> int:
    given.customer(CUSTOMER, mobile=MOBILE)
    return CUSTOMER


@pytest.mark.parametrize("reason", list(REFUSALS))
async def test_explain_gives_the_error_redeem_returns_for_every_refusal_reason(
    reason: str,
    customer: int,
    given: Given,
    store: FakeStore,
    uow_factory: FakeUnitOfWorkFactory,
    principal: Principal,
) -> None:
    # given a request redeemPromotions refuses for this reason
    arrange, failing_check = REFUSALS[reason]
    command = await arrange(given, uow_factory, principal)
    assert isinstance(command, RedeemPromotions)
    # when it is explained, then redeemed
    explanation = await explained(uow_factory, store, principal, command)
    with pytest.raises(DomainError) as raised:
        await redeem_promotions(uow_factory, principal, command)
    # then the explanation's error is the redemption's: same type, code, message and fields
    assert explanation.error == raised.value
    assert not explanation.would_succeed and explanation.allocations == []
    failed = [x for x in explanation.checks if not x.passed]
    assert failed[0].name.startswith(failing_check)
    assert failed[0].code == int(raised.value.code)
    assert all(x.passed for x in explanation.checks[: explanation.checks.index(failed[0])])


async def test_a_passing_explanation_lists_every_check_in_order_and_the_allocations_redeem_makes(
    customer: int, given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    # given two entries of a promotion (the sooner-expiring one has one redemption) and a POS one
    promotion, till = given.promotion(max_redemptions_per_earn=2), given.promotion(PromotionType.POS)
    later = given.entry(promotion, CUSTOMER, expires_in_days=20)
    sooner = given.entry(promotion, CUSTOMER, expires_in_days=5, redemptions_used=1, instance=2)
    command = redeem_command(line(promotion.id, 2), line(till.id))
    # when it is explained
    explanation = await explained(uow_factory, store, principal, command)
    # then every check passed, in the redemption's order, and the plan takes soonest-expiring first
    assert explanation.would_succeed and explanation.error is None
    assert [x.name for x in explanation.checks] == [
        *ALL_CHECKS,
        f"coverage:{promotion.id}",
        f"coverage:{till.id}",
    ]
    assert all(x.passed and x.code is None for x in explanation.checks)
    assert [(a.earned_promotion_id, a.count) for a in explanation.allocations] == [
        (sooner.id, 1),
        (later.id, 1),
    ]
    assert f"1 from {sooner.id}" in explanation.checks[-2].detail
    assert "POS" in explanation.checks[-1].detail
    # and the redemption then consumes exactly those
    redemption = await redeem_promotions(uow_factory, principal, command)
    assert redemption.consumed == explanation.allocations


async def test_explain_goes_on_past_a_promotion_that_cannot_be_covered_and_names_each(
    customer: int, given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    # given one promotion used up and one locked
    used, locked = given.promotion(), given.promotion()
    used_entry = given.entry(used, CUSTOMER, redemptions_used=1)
    given.entry(locked, CUSTOMER, unlocks_in_days=3)
    # when a redemption of both is explained
    explanation = await explained(
        uow_factory, store, principal, redeem_command(line(used.id), line(locked.id))
    )
    # then both coverage checks failed, each with its reason and the entries it looked at
    coverage = [x for x in explanation.checks if x.name.startswith("coverage:")]
    assert [(x.name, x.passed, x.code) for x in coverage] == [
        (f"coverage:{used.id}", False, 400),
        (f"coverage:{locked.id}", False, 400),
    ]
    assert f"{used_entry.id} REDEEMED, 1 of 1 used" in coverage[0].detail
    assert "LOCKED" in coverage[1].detail
    # and the error is the first one, as the redemption answers
    assert explanation.error is not None and used.id in explanation.error.message


async def test_explaining_a_replay_with_the_same_content_says_it_would_succeed_consuming_nothing(
    customer: int, given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    # given a recorded redemption that used the entry up
    promotion = given.promotion()
    given.entry(promotion, CUSTOMER)
    command = redeem_command(line(promotion.id))
    await redeem_promotions(uow_factory, principal, command)
    # when the same request is explained
    explanation = await explained(uow_factory, store, principal, command)
    # then it would succeed (redeemPromotions answers the recorded one) with no allocation
    assert explanation.would_succeed and explanation.allocations == []
    assert explanation.checks[-1].name == "transactionIdentifier"
    assert "already recorded with the same content" in explanation.checks[-1].detail


async def test_explain_names_the_customer_by_identifier_in_its_detail(
    customer: int, given: Given, store: FakeStore, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    # given a request naming the customer by mobile only
    command = replace(
        _wallet(given),
        customer_id=None,
        identifier_type=CustomerIdentifierType.MOBILE,
        identifier_value=MOBILE,
    )
    # when it is explained
    explanation = await explained(uow_factory, store, principal, command)
    # then the customer check names the identifier and the customer it resolved to
    assert explanation.checks[1].detail == f"MOBILE {MOBILE!r} is customer {CUSTOMER}"
    assert explanation.would_succeed


async def test_explaining_for_a_client_whose_org_is_gone_gives_the_redemptions_400_on_org(
    store: FakeStore, uow_factory: FakeUnitOfWorkFactory
) -> None:
    # given a client of an org that does not exist
    principal = principal_of(MISSING_ORG_ID)
    given = Given(store, 0)
    given.customer(CUSTOMER, org_id=MISSING_ORG_ID)
    command = redeem_command(line("a" * 24))
    # when explained, then redeemed
    explanation = await explained(uow_factory, store, principal, command)
    with pytest.raises(DomainError) as raised:
        await redeem_promotions(uow_factory, principal, command)
    # then the same 400 on org, recorded as the failed check
    assert explanation.error == raised.value and getattr(raised.value, "field", None) == "org"
    assert (explanation.checks[-1].name, explanation.checks[-1].passed) == ("org", False)
