"""The redemption rules on plain values: shape checks, canonical decimals, the idempotency hash,
coverage planning and revoke decisions. No database, no server."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest

from app.domain.commands import RedeemPromotions, RevokeEarnedPromotions
from app.domain.errors import (
    EarnedPromotionNotFound,
    InvalidRequest,
    NotRedeemableReason,
    PromotionNotRedeemable,
)
from app.domain.models import (
    Consumption,
    Customer,
    CustomerIdentifierType,
    EarnedFromType,
    EarnedPromotion,
    Promotion,
    PromotionType,
    RedemptionLine,
)
from app.domain.redemption import (
    best_reason,
    canonical_decimal,
    check_customer_agrees,
    content_hash,
    decide_revocations,
    plan_coverage,
    validate_redeem,
    validate_revoke,
)

NOW = 1_750_000_000_000
DAY = 86_400_000


def promotion(pid: str, type_: PromotionType = PromotionType.CUSTOMER) -> Promotion:
    return Promotion(
        org_id=1,
        id=pid,
        name="P",
        type=type_,
        start_date=NOW - DAY,
        end_date=NOW + 30 * DAY,
        active=True,
        redemption_window_days=None,
        max_redemptions_per_earn=1,
        max_earns_per_customer=None,
    )


def entry(
    eid: str,
    pid: str = "p",
    *,
    valid_till: int = NOW + DAY,
    allowed: int = 1,
    used: int = 0,
    customer_id: int = 7,
    **changes: Any,
) -> EarnedPromotion:
    made = EarnedPromotion(
        org_id=1,
        id=eid,
        customer_id=customer_id,
        promotion_id=pid,
        earned_from_type=EarnedFromType.ACTIVITY,
        earned_from_id="src",
        instance=1,
        event_time=NOW - DAY,
        event_details=None,
        valid_till=valid_till,
        unlocks_at=NOW - DAY,
        redemptions_allowed=allowed,
        redemptions_used=used,
    )
    return replace(made, **changes)


def ln(
    pid: str = "p", count: int = 1, discount: str = "10", entry_id: str | None = None, **changes: Any
) -> RedemptionLine:
    return replace(
        RedemptionLine(
            promotion_id=pid,
            redemption_count=count,
            discount=Decimal(discount),
            discount_applied_on_quantity=Decimal(1),
            promotion_applied_on_quantity=Decimal(1),
            earned_promotion_id=entry_id,
        ),
        **changes,
    )


def request(
    *lines: RedemptionLine, redemptions: list[RedemptionLine] | None = None, **changes: Any
) -> RedeemPromotions:
    made = RedeemPromotions(
        transaction_identifier="t",
        transaction_number="n",
        transaction_date=NOW,
        amount=Decimal(1000),
        customer_id=7,
        line_items=list(lines),
        redemptions=redemptions,
    )
    return validate_redeem(replace(made, **changes))


PROMOTIONS = {"p": promotion("p"), "q": promotion("q"), "pos": promotion("pos", PromotionType.POS)}


# --- shape ---------------------------------------------------------------------------------


def test_decimals_become_six_place_canonical_values() -> None:
    assert str(canonical_decimal(Decimal("500"), "x")) == "500.000000"
    assert str(canonical_decimal(Decimal("-0"), "x")) == "0.000000"
    with pytest.raises(InvalidRequest):
        canonical_decimal(Decimal("0.0000001"), "x")
    with pytest.raises(InvalidRequest):
        canonical_decimal(Decimal("1e18"), "x")


def test_only_line_items_may_name_an_entry() -> None:
    with pytest.raises(InvalidRequest) as raised:
        request(ln(), redemptions=[ln(entry_id="e")])
    assert raised.value.field == "redemptions[0].earnedPromotionId"


def test_both_lists_must_agree_per_promotion_but_not_line_by_line() -> None:
    validated = request(
        ln(count=1, discount="4"), ln(count=2, discount="6"), redemptions=[ln(count=3, discount="10.0")]
    )
    assert len(validated.line_items or ()) == 2
    with pytest.raises(InvalidRequest):
        request(ln(count=1), redemptions=[ln(count=2)])


def test_the_discount_total_may_equal_the_amount() -> None:
    request(ln(discount="600"), ln("q", discount="400"))
    with pytest.raises(InvalidRequest) as raised:
        request(ln(discount="600"), ln("q", discount="400.000001"))
    assert raised.value.field == "amount"


def test_an_identifier_pair_must_match_the_customer_found_by_id() -> None:
    command = request(ln(), identifier_type=CustomerIdentifierType.MOBILE, identifier_value="98765")
    check_customer_agrees(command, Customer(org_id=1, id=7, mobile="98765"))
    with pytest.raises(InvalidRequest):
        check_customer_agrees(command, Customer(org_id=1, id=7, mobile="11111"))


# --- idempotency ---------------------------------------------------------------------------


def test_the_content_hash_ignores_spelling_and_line_order_but_not_content() -> None:
    base = request(ln("p"), ln("q"))
    respelled = request(ln("q", discount="10.000"), ln("p"), amount=Decimal("1000.0"))
    assert content_hash(base, 7) == content_hash(respelled, 7)
    assert content_hash(base, 7) != content_hash(base, 8)
    assert content_hash(base, 7) != content_hash(request(ln("p"), ln("q", count=2)), 7)
    assert content_hash(base, 7) != content_hash(request(ln("p"), ln("q", sku="A")), 7)


# --- coverage ------------------------------------------------------------------------------


def test_soonest_expiring_first_spanning_entries() -> None:
    entries = [
        entry("late", valid_till=NOW + 3 * DAY, allowed=2),
        entry("soon", allowed=2),
        entry("mid", valid_till=NOW + 2 * DAY, allowed=2),
    ]
    plan = plan_coverage(request(ln(count=3)), promotions=PROMOTIONS, entries=entries, now=NOW)
    assert plan == [Consumption("soon", "p", 2), Consumption("mid", "p", 1)]


def test_named_entries_are_taken_before_the_automatic_choice() -> None:
    entries = [entry("soon", allowed=2), entry("named", valid_till=NOW + 9 * DAY, allowed=2)]
    plan = plan_coverage(
        request(ln(count=2, entry_id="named"), ln(count=1)), promotions=PROMOTIONS, entries=entries, now=NOW
    )
    assert plan == [Consumption("named", "p", 2), Consumption("soon", "p", 1)]


def test_pos_and_code_consume_nothing_but_cannot_name_entries() -> None:
    assert plan_coverage(request(ln("pos", count=5)), promotions=PROMOTIONS, entries=[], now=NOW) == []
    with pytest.raises(EarnedPromotionNotFound):
        plan_coverage(request(ln("pos", entry_id="e")), promotions=PROMOTIONS, entries=[], now=NOW)


def test_a_named_entry_of_another_promotion_is_not_found() -> None:
    with pytest.raises(EarnedPromotionNotFound):
        plan_coverage(
            request(ln("p", entry_id="e")), promotions=PROMOTIONS, entries=[entry("e", "q")], now=NOW
        )


@pytest.mark.parametrize(
    ("entries", "reason"),
    [
        ([], NotRedeemableReason.NOT_EARNED),
        ([entry("e", unlocks_at=NOW + 1)], NotRedeemableReason.LOCKED),
        ([entry("e", valid_till=NOW - 1)], NotRedeemableReason.EXPIRED),
        ([entry("e", used=1)], NotRedeemableReason.ALREADY_REDEEMED),
        ([entry("e", revoked_at=NOW - 1)], NotRedeemableReason.REVOKED),
        # most informative reason first: LOCKED > ALREADY_REDEEMED > EXPIRED > REVOKED
        ([entry("a", revoked_at=NOW - 1), entry("b", valid_till=NOW - 1)], NotRedeemableReason.EXPIRED),
        ([entry("a", valid_till=NOW - 1), entry("b", used=1)], NotRedeemableReason.ALREADY_REDEEMED),
        ([entry("a", used=1), entry("b", unlocks_at=NOW + 1)], NotRedeemableReason.LOCKED),
    ],
)
def test_the_reason_describes_why_the_wallet_cannot_cover(
    entries: list[EarnedPromotion], reason: NotRedeemableReason
) -> None:
    with pytest.raises(PromotionNotRedeemable) as raised:
        plan_coverage(request(ln()), promotions=PROMOTIONS, entries=entries, now=NOW)
    assert raised.value.reason is reason


def test_an_unlocked_entry_with_too_few_left_is_already_redeemed() -> None:
    assert best_reason([entry("e", allowed=3, used=2)], NOW) is NotRedeemableReason.ALREADY_REDEEMED
    with pytest.raises(PromotionNotRedeemable):
        plan_coverage(
            request(ln(count=2)), promotions=PROMOTIONS, entries=[entry("e", allowed=3, used=2)], now=NOW
        )


# --- revoke --------------------------------------------------------------------------------


def test_revoke_needs_1_to_1000_ids_and_dedupes_them() -> None:
    assert validate_revoke(RevokeEarnedPromotions(7, ["a", "b", "a"])) == ["a", "b"]
    for ids in ([], ["x"] * 1001):
        with pytest.raises(InvalidRequest):
            validate_revoke(RevokeEarnedPromotions(7, ids))


def test_revoke_decisions() -> None:
    found = {
        "fresh": entry("fresh"),
        "used": entry("used", allowed=2, used=1),
        "gone": entry("gone", revoked_at=NOW),
        "theirs": entry("theirs", customer_id=8),
    }
    decisions = decide_revocations(["fresh", "used", "gone", "theirs", "missing"], customer_id=7, found=found)
    assert [(d.revoke, d.already_revoked, type(d.error).__name__) for d in decisions] == [
        (True, False, "NoneType"),
        (False, False, "PromotionNotRedeemable"),
        (False, True, "NoneType"),
        (False, False, "EarnedPromotionNotFound"),
        (False, False, "EarnedPromotionNotFound"),
    ]
