"""The wallet's rules in app.domain.rules: validity, statuses, promotion definitions."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from app.domain import rules
from app.domain.clock import DAY_MS, MAX_INSTANT_MS, to_iso
from app.domain.errors import InvalidCustomerIdentifier, InvalidRequest, MaxActivePromotionsExceeded
from app.domain.models import (
    EarnedFromType,
    EarnedPromotion,
    EarnedPromotionStatus,
    Promotion,
    PromotionStatus,
    PromotionType,
)


def ms(text: str) -> int:
    """Epoch milliseconds of an ISO instant with an explicit offset."""
    return int(datetime.fromisoformat(text).timestamp() * 1000)


def promotion(**overrides: object) -> Promotion:
    values: dict[str, object] = {
        "org_id": 1,
        "id": "a" * 24,
        "name": "Promo",
        "type": PromotionType.CUSTOMER,
        "start_date": ms("2025-01-01T00:00:00+00:00"),
        "end_date": ms("2025-05-31T10:00:00+05:30"),
        "active": True,
        "redemption_window_days": None,
        "max_redemptions_per_earn": 1,
        "max_earns_per_customer": None,
    }
    return Promotion(**(values | overrides))  # type: ignore[arg-type]


def entry(**overrides: object) -> EarnedPromotion:
    values: dict[str, object] = {
        "org_id": 1,
        "id": "b" * 24,
        "customer_id": 7,
        "promotion_id": "a" * 24,
        "earned_from_type": EarnedFromType.BULK_ISSUE,
        "earned_from_id": "ctx",
        "instance": 1,
        "event_time": 1_000,
        "event_details": None,
        "valid_till": 10_000,
        "unlocks_at": 2_000,
        "redemptions_allowed": 2,
        "redemptions_used": 0,
        "revoked_at": None,
    }
    return EarnedPromotion(**(values | overrides))  # type: ignore[arg-type]


# --- valid_till ---------------------------------------------------------------------------------


def test_valid_till_is_the_spec_example_for_a_kolkata_org_and_a_promotion_ending_may_31() -> None:
    # given a promotion ending during 2025-05-31 (Asia/Kolkata)
    ending = promotion(end_date=ms("2025-05-31T10:00:00+05:30"))
    # when
    valid_till = rules.valid_till(
        promotion=ending, event_time=ms("2025-05-01T00:00:00+00:00"), timezone="Asia/Kolkata"
    )
    # then it is 2025-05-31 23:59:59.999 in Kolkata, the spec's number
    assert valid_till == 1748716199999


def test_valid_till_uses_the_org_day_not_the_utc_day() -> None:
    # given an end date that is still May 31 in UTC but already June 1 in Kolkata
    ending = promotion(end_date=ms("2025-05-31T20:00:00+00:00"))
    # when
    in_kolkata = rules.valid_till(promotion=ending, event_time=0, timezone="Asia/Kolkata")
    in_utc = rules.valid_till(promotion=ending, event_time=0, timezone="UTC")
    # then
    assert in_kolkata == ms("2025-06-01T23:59:59.999+05:30")
    assert in_utc == ms("2025-05-31T23:59:59.999+00:00")


@pytest.mark.parametrize(
    ("timezone", "expected"),
    [
        ("UTC", "2025-05-31T23:59:59.999+00:00"),
        ("Asia/Kathmandu", "2025-05-31T23:59:59.999+05:45"),
        ("Pacific/Kiritimati", "2025-06-01T23:59:59.999+14:00"),
        ("America/Lima", "2025-05-31T23:59:59.999-05:00"),
    ],
)
def test_valid_till_is_the_last_millisecond_of_the_local_day_in_zones_without_dst(
    timezone: str, expected: str
) -> None:
    # given a promotion ending at noon UTC on May 31
    ending = promotion(end_date=ms("2025-05-31T12:00:00+00:00"))
    # when / then
    assert rules.valid_till(promotion=ending, event_time=0, timezone=timezone) == ms(expected)


def test_valid_till_on_a_short_dst_day_ends_at_the_next_local_midnight() -> None:
    # given a promotion ending on 2025-03-09, the 23-hour day in New York
    ending = promotion(end_date=ms("2025-03-09T12:00:00-04:00"))
    # when
    valid_till = rules.valid_till(promotion=ending, event_time=0, timezone="America/New_York")
    # then the day ends at midnight EDT (UTC-4)
    assert valid_till == ms("2025-03-09T23:59:59.999-04:00")


def test_a_redemption_window_shorter_than_the_promotion_ends_validity_earlier() -> None:
    # given a 3-day window from an event on May 10 (Kolkata), promotion running to May 31
    windowed = promotion(redemption_window_days=3)
    event_time = ms("2025-05-10T09:00:00+05:30")
    # when
    valid_till = rules.valid_till(promotion=windowed, event_time=event_time, timezone="Asia/Kolkata")
    # then it is the end of May 13 in Kolkata
    assert valid_till == ms("2025-05-13T23:59:59.999+05:30")


def test_a_redemption_window_reaching_past_the_end_date_is_cut_at_the_end_date() -> None:
    # given a 30-day window from an event five days before the end date
    windowed = promotion(redemption_window_days=30)
    event_time = ms("2025-05-26T09:00:00+05:30")
    # when / then
    assert (
        rules.valid_till(promotion=windowed, event_time=event_time, timezone="Asia/Kolkata") == 1748716199999
    )


def test_the_latest_accepted_end_date_still_has_a_valid_till_and_iso_form() -> None:
    # given the latest end date a promotion may have
    latest = promotion(end_date=MAX_INSTANT_MS)
    # when
    valid_till = rules.valid_till(promotion=latest, event_time=0, timezone="Pacific/Kiritimati")
    # then it is representable
    assert to_iso(valid_till).startswith("9999-12-30T")


# --- promotion_status --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("active", "now", "expected"),
    [
        (True, 50, PromotionStatus.UPCOMING),
        (True, 100, PromotionStatus.ACTIVE),
        (True, 150, PromotionStatus.ACTIVE),
        (True, 200, PromotionStatus.ACTIVE),
        (True, 201, PromotionStatus.EXPIRED),
        (False, 50, PromotionStatus.INACTIVE),
        (False, 150, PromotionStatus.INACTIVE),
        (False, 201, PromotionStatus.INACTIVE),
    ],
)
def test_promotion_status_follows_the_dates_and_inactive_wins(
    active: bool, now: int, expected: PromotionStatus
) -> None:
    # given a promotion running from 100 to 200 inclusive
    running = promotion(start_date=100, end_date=200, active=active)
    # when / then
    assert rules.promotion_status(running, now) is expected


def test_upcoming_promotions_count_toward_the_cap_but_expired_and_inactive_ones_do_not() -> None:
    # given a promotion from 100 to 200
    running = promotion(start_date=100, end_date=200)
    # then
    assert rules.counts_toward_active_cap(running, now=50)
    assert rules.counts_toward_active_cap(running, now=200)
    assert not rules.counts_toward_active_cap(running, now=201)
    assert not rules.counts_toward_active_cap(replace(running, active=False), now=150)


def test_the_active_cap_is_exceeded_only_past_the_limit() -> None:
    # when the count equals the limit nothing is raised
    rules.check_active_cap(active_count=3, limit=3)
    # then one more is a 705 carrying the limit
    with pytest.raises(MaxActivePromotionsExceeded) as raised:
        rules.check_active_cap(active_count=4, limit=3)
    assert raised.value.code == 705 and raised.value.limit == 3


# --- earned_status -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "now", "expected"),
    [
        ({}, 5_000, EarnedPromotionStatus.UNLOCKED),
        ({}, 2_000, EarnedPromotionStatus.UNLOCKED),
        ({}, 10_000, EarnedPromotionStatus.UNLOCKED),
        ({}, 1_999, EarnedPromotionStatus.LOCKED),
        ({}, 10_001, EarnedPromotionStatus.EXPIRED),
        ({"redemptions_used": 1}, 5_000, EarnedPromotionStatus.UNLOCKED),
        ({"redemptions_used": 2}, 5_000, EarnedPromotionStatus.REDEEMED),
        ({"revoked_at": 3_000}, 5_000, EarnedPromotionStatus.REVOKED),
    ],
)
def test_earned_status_of_a_single_condition(
    overrides: dict[str, object], now: int, expected: EarnedPromotionStatus
) -> None:
    # given an entry unlocking at 2000, valid till 10000, two redemptions allowed
    # when / then
    assert rules.earned_status(entry(**overrides), now) is expected


def test_revoked_wins_over_redeemed_expired_and_locked() -> None:
    # given an entry that is revoked and also used up and expired
    revoked = entry(revoked_at=3_000, redemptions_used=2)
    # then
    assert rules.earned_status(revoked, now=20_000) is EarnedPromotionStatus.REVOKED
    assert rules.earned_status(entry(revoked_at=3_000), now=0) is EarnedPromotionStatus.REVOKED


def test_redeemed_wins_over_expired_and_locked() -> None:
    used_up = entry(redemptions_used=2)
    assert rules.earned_status(used_up, now=20_000) is EarnedPromotionStatus.REDEEMED
    assert rules.earned_status(used_up, now=0) is EarnedPromotionStatus.REDEEMED


def test_expired_wins_over_locked() -> None:
    # given an entry that would unlock only after it is no longer valid
    odd = entry(unlocks_at=50_000, valid_till=10_000)
    # then
    assert rules.earned_status(odd, now=20_000) is EarnedPromotionStatus.EXPIRED


# --- definitions and identifiers ---------------------------------------------------------------

VALID_DEFINITION: dict[str, object] = {
    "name": "Spend 5000, get 500",
    "start_date": 0,
    "end_date": DAY_MS,
    "redemption_window_days": None,
    "max_redemptions_per_earn": 1,
    "max_earns_per_customer": None,
}


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "x" * 51}, "name"),
        ({"start_date": -1}, "startDate"),
        ({"start_date": MAX_INSTANT_MS + 1, "end_date": MAX_INSTANT_MS + 2}, "startDate"),
        ({"end_date": -1}, "endDate"),
        ({"end_date": MAX_INSTANT_MS + 1}, "endDate"),
        ({"redemption_window_days": 0}, "redemptionWindowDays"),
        ({"max_redemptions_per_earn": 0}, "maxRedemptionsPerEarn"),
        ({"max_earns_per_customer": 0}, "maxEarnsPerCustomer"),
    ],
)
def test_a_bad_promotion_definition_names_the_field(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        rules.check_promotion_definition(**(VALID_DEFINITION | overrides))  # type: ignore[arg-type]
    assert raised.value.field == field and raised.value.code == 400


def test_a_promotion_may_start_and_end_on_the_same_instant_and_have_a_50_character_name() -> None:
    rules.check_promotion_definition(**(VALID_DEFINITION | {"name": "x" * 50, "end_date": 0}))  # type: ignore[arg-type]


def test_customer_id_lists_report_the_indexes_of_every_bad_entry() -> None:
    # when
    with pytest.raises(InvalidCustomerIdentifier) as raised:
        rules.check_customer_ids([5, None, 0, -3, 2**63, True, 2**63 - 1])
    # then
    assert raised.value.code == 1006
    assert raised.value.indexes == [1, 2, 3, 4, 5]


def test_an_empty_customer_id_list_is_a_1006() -> None:
    with pytest.raises(InvalidCustomerIdentifier):
        rules.check_customer_ids([])


@pytest.mark.parametrize(
    ("identifiers", "field"),
    [
        ({"mobile": "abc"}, "mobile"),
        ({"mobile": "12"}, "mobile"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "a b@example.com"}, "email"),
        ({"external_id": ""}, "externalId"),
        ({"external_id": "x" * 251}, "externalId"),
    ],
)
def test_bad_customer_identifiers_name_the_field(identifiers: dict[str, str], field: str) -> None:
    values = {"mobile": None, "email": None, "external_id": None} | identifiers
    with pytest.raises(InvalidRequest) as raised:
        rules.check_customer_identifiers(**values)
    assert raised.value.field == field


def test_good_customer_identifiers_pass() -> None:
    rules.check_customer_identifiers(mobile="+919876543210", email="asha@example.com", external_id="CRM-1")


def test_iso_form_of_the_spec_example_is_utc_with_a_z() -> None:
    assert to_iso(1748716199999) == "2025-05-31T18:29:59.999Z"
    assert datetime.fromisoformat(to_iso(0).replace("Z", "+00:00")) == datetime(1970, 1, 1, tzinfo=UTC)
