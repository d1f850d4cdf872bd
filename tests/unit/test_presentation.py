"""What a frontend reads off an entry (DESIGN §8.6) and the one ISO spelling of an instant."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.domain.clock import DAY_MS, MAX_INSTANT_MS, iso_text, to_datetime, to_iso, to_local_iso
from app.domain.models import EarnedFromType, EarnedPromotion, EarnedPromotionStatus
from app.domain.presentation import entry_facts, org_zone, valid_till_local

NOW = 1_767_000_000_000
KOLKATA = ZoneInfo("Asia/Kolkata")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def entry(**changes: object) -> EarnedPromotion:
    base = EarnedPromotion(
        org_id=1,
        id="6912d0256629ee07040e15f1",
        customer_id=566881933,
        promotion_id="6912ced9d39e256f754a83f8",
        earned_from_type=EarnedFromType.BULK_ISSUE,
        earned_from_id="ctx",
        instance=1,
        event_time=NOW - DAY_MS,
        event_details=None,
        valid_till=NOW + DAY_MS,
        unlocks_at=NOW - DAY_MS,
        redemptions_allowed=3,
        redemptions_used=1,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "status", "remaining", "redeemable"),
    [
        ({}, EarnedPromotionStatus.UNLOCKED, 2, True),
        ({"redemptions_held": 1}, EarnedPromotionStatus.UNLOCKED, 1, True),
        ({"redemptions_held": 2}, EarnedPromotionStatus.UNLOCKED, 0, False),
        ({"unlocks_at": NOW + 1}, EarnedPromotionStatus.LOCKED, 2, False),
        ({"redemptions_used": 3}, EarnedPromotionStatus.REDEEMED, 0, False),
        ({"valid_till": NOW - 1}, EarnedPromotionStatus.EXPIRED, 0, False),
        ({"revoked_at": NOW - 1}, EarnedPromotionStatus.REVOKED, 0, False),
    ],
)
def test_remaining_counts_and_redeemable_follow_the_status_and_the_holds(
    changes: dict[str, object], status: EarnedPromotionStatus, remaining: int, redeemable: bool
) -> None:
    facts = entry_facts(entry(**changes), NOW)
    assert (facts.status, facts.redemptions_remaining, facts.redeemable) == (status, remaining, redeemable)


def test_valid_till_local_is_the_spec_example_with_the_org_offset() -> None:
    assert valid_till_local(entry(valid_till=1748716199999), KOLKATA) == "2025-05-31T23:59:59.999+05:30"


def test_local_times_carry_offsets_of_any_sign_and_utc_as_plus_zero() -> None:
    assert to_local_iso(1748716199999, ZoneInfo("UTC")) == "2025-05-31T18:29:59.999+00:00"
    assert to_local_iso(1743521508000, ZoneInfo("America/New_York")) == "2025-04-01T11:31:48-04:00"


def test_an_iso_field_keeps_the_milliseconds_of_its_epoch_twin() -> None:
    # the issue's example: 1798828199999 used to be written 18:29:59Z, another instant
    assert to_iso(1798828199999) == "2027-01-01T18:29:59.999Z"
    assert to_iso(1743521508000) == "2025-04-01T15:31:48Z"  # a whole second, as on the spec pages
    assert to_iso(1743521508010) == "2025-04-01T15:31:48.010Z"


def test_iso_text_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError):
        iso_text(datetime(2025, 1, 1))


@given(st.integers(min_value=0, max_value=MAX_INSTANT_MS))
def test_every_iso_text_names_exactly_its_epoch_instant(ms: int) -> None:
    parsed = datetime.fromisoformat(to_iso(ms).replace("Z", "+00:00"))
    assert (parsed - EPOCH) // timedelta(milliseconds=1) == ms
    local = datetime.fromisoformat(to_local_iso(ms, KOLKATA))
    assert local.astimezone(UTC) == to_datetime(ms)


def test_an_org_that_is_gone_shows_local_times_in_utc() -> None:
    assert org_zone(None) == ZoneInfo("UTC")
    assert org_zone("Asia/Kolkata") == KOLKATA
