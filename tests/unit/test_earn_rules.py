"""The earnPromotions rules on plain values: request checks, the per-entry plan, and validTill."""

from __future__ import annotations

from dataclasses import replace

import pytest

from app.domain import earn_rules
from app.domain.clock import DAY_MS, to_iso
from app.domain.commands import EarnEntryRequest, EarnPromotions
from app.domain.earn_rules import plan_entry
from app.domain.earning import new_earned_promotion
from app.domain.errors import (
    EarnedFromTypeChanged,
    EarnLimitExceeded,
    EarnNotSupported,
    InvalidCustomerIdentifier,
    InvalidRequest,
    MaxActivePromotionsExceeded,
    PromotionExpired,
    PromotionNotFound,
    PromotionTypeNotSupported,
)
from app.domain.models import EarnedFromType, EarnedPromotion, EventDetails, Promotion, PromotionType

ORG = 100737
NOW = 1_761_750_000_000  # 2025-10-29T15:00:00Z, the spec's eventTime
END_2025_IN_INDIA = 1_767_205_799_999  # 2025-12-31T23:59:59.999 in Asia/Kolkata

PROMOTION = Promotion(
    org_id=ORG,
    id="6912cfff6629ee07040e15ef",
    name="Spec",
    type=PromotionType.CUSTOMER,
    start_date=NOW - DAY_MS,
    end_date=1_767_119_400_000,  # 2025-12-31T00:00 in Asia/Kolkata
    active=True,
    redemption_window_days=None,
    max_redemptions_per_earn=1,
    max_earns_per_customer=None,
)
COMMAND = EarnPromotions(
    customer_id=566881933,
    event_time=NOW,
    earned_from_type=EarnedFromType.BULK_ISSUE,
    event_details=EventDetails(id="6911e951f57b486147effa6c", type="BULK_ISSUE"),
    entries=[EarnEntryRequest(PROMOTION.id, 1, "68fb1c9731d91c625a8d9e80")],
)


def entry_of(instance: int, earned_from_type: EarnedFromType = EarnedFromType.BULK_ISSUE) -> EarnedPromotion:
    return new_earned_promotion(
        entry_id=f"{instance:024x}",
        promotion=PROMOTION,
        customer_id=566881933,
        earned_from_type=earned_from_type,
        earned_from_id="src",
        instance=instance,
        event_time=NOW,
        event_details=None,
        timezone="Asia/Kolkata",
        now=NOW,
    )


def plan(
    count: int = 1,
    promotion: Promotion | None = PROMOTION,
    existing: list[EarnedPromotion] | None = None,
    known_types: set[EarnedFromType] | None = None,
    active_count: int = 1,
    already_earned: int = 0,
) -> earn_rules.EntryPlan:
    return plan_entry(
        entry=EarnEntryRequest(PROMOTION.id, count, "src"),
        promotion=promotion,
        earned_from_type=EarnedFromType.BULK_ISSUE,
        existing=existing or [],
        known_types=known_types or set(),
        active_count=active_count,
        max_active_promotions=250,
        already_earned=already_earned,
        now=NOW,
    )


# --- validTill -------------------------------------------------------------------------------


def test_the_spec_example_is_valid_till_the_end_of_2025_in_india() -> None:
    earned = entry_of(1)
    assert (earned.valid_till, to_iso(earned.valid_till)) == (END_2025_IN_INDIA, "2025-12-31T18:29:59.999Z")
    assert to_iso(earned.event_time) == "2025-10-29T15:00:00Z"


def test_any_end_time_on_that_day_gives_the_same_valid_till() -> None:
    late = replace(PROMOTION, end_date=END_2025_IN_INDIA)
    assert (
        new_earned_promotion(
            entry_id="a" * 24,
            promotion=late,
            customer_id=1,
            earned_from_type=EarnedFromType.ACTIVITY,
            earned_from_id="x",
            instance=1,
            event_time=NOW,
            event_details=None,
            timezone="Asia/Kolkata",
            now=NOW,
        ).valid_till
        == END_2025_IN_INDIA
    )


# --- request checks --------------------------------------------------------------------------


def test_a_valid_request_returns_the_customer_id() -> None:
    assert earn_rules.check_request(COMMAND, caller_org_id=ORG, max_instances=10) == 566881933


@pytest.mark.parametrize(
    ("change", "error", "field"),
    [
        ({"org_id": ORG + 1}, InvalidRequest, "orgId"),
        ({"event_time": -1}, InvalidRequest, "eventTime"),
        ({"event_time": earn_rules.MAX_EVENT_TIME + 1}, InvalidRequest, "eventTime"),
        ({"event_details": EventDetails("", "BULK_ISSUE")}, InvalidRequest, "eventDetails.id"),
        ({"event_details": EventDetails("e", "REWARD")}, InvalidRequest, "eventDetails.type"),
        ({"entries": []}, InvalidRequest, "earnedPromotions"),
        ({"entries": [EarnEntryRequest("p", 0, "s")]}, InvalidRequest, "earnedPromotions[0].earnCount"),
        ({"entries": [EarnEntryRequest("p", 11, "s")]}, InvalidRequest, "earnedPromotions"),
        (
            {"entries": [EarnEntryRequest("p", 1, "s")] * 2},
            InvalidRequest,
            "earnedPromotions[1].earnedFromId",
        ),
        ({"customer_id": 0}, InvalidCustomerIdentifier, None),
        ({"customer_id": None}, InvalidCustomerIdentifier, None),
    ],
)
def test_a_bad_request_is_refused(
    change: dict[str, object], error: type[Exception], field: str | None
) -> None:
    with pytest.raises(error) as raised:
        earn_rules.check_request(replace(COMMAND, **change), caller_org_id=ORG, max_instances=10)  # type: ignore[arg-type]
    assert getattr(raised.value, "field", None) == field


def test_instances_are_capped_at_1000_even_when_the_batch_setting_is_higher() -> None:
    entries = [EarnEntryRequest("p", 600, "a"), EarnEntryRequest("p", 400, "b")]
    earn_rules.check_request(replace(COMMAND, entries=entries), caller_org_id=ORG, max_instances=100_000)
    with pytest.raises(InvalidRequest, match="at most 1000 instances"):
        earn_rules.check_request(
            replace(COMMAND, entries=[*entries, EarnEntryRequest("p", 1, "c")]),
            caller_org_id=ORG,
            max_instances=100_000,
        )


def test_too_many_entries_are_refused_before_any_is_looked_at() -> None:
    entries = [EarnEntryRequest(f"p{i}", 1, "s") for i in range(earn_rules.MAX_EARN_ENTRIES + 1)]
    with pytest.raises(InvalidRequest, match="at most"):
        earn_rules.check_request(replace(COMMAND, entries=entries), caller_org_id=ORG, max_instances=10**6)


# --- the per-entry plan ----------------------------------------------------------------------


def test_a_first_earning_creates_every_instance() -> None:
    assert plan(count=3) == earn_rules.EntryPlan(create_instances=[1, 2, 3])


@pytest.mark.parametrize(
    ("promotion", "error"),
    [
        (None, PromotionNotFound),
        (replace(PROMOTION, type=PromotionType.POS), PromotionTypeNotSupported),
        (replace(PROMOTION, type=PromotionType.CODE), EarnNotSupported),
        (replace(PROMOTION, active=False), PromotionExpired),
        (replace(PROMOTION, end_date=NOW - 1), PromotionExpired),
    ],
)
def test_an_entry_that_cannot_be_earned_fails_whole(
    promotion: Promotion | None, error: type[Exception]
) -> None:
    result = plan(count=2, promotion=promotion)
    assert (result.create_instances, result.failed_count, type(result.error)) == ([], 2, error)


def test_the_org_cap_and_a_changed_earned_from_type_fail_an_entry() -> None:
    assert isinstance(plan(active_count=251).error, MaxActivePromotionsExceeded)
    assert isinstance(plan(known_types={EarnedFromType.ACTIVITY}).error, EarnedFromTypeChanged)


def test_a_replay_counts_existing_instances_and_creates_only_the_missing_ones() -> None:
    have = [entry_of(1), entry_of(3)]
    result = plan(count=3, existing=have, known_types={EarnedFromType.BULK_ISSUE})
    assert (result.existing, result.create_instances, result.failed_count) == (have, [2], 0)


def test_a_complete_replay_succeeds_even_after_the_promotion_ended() -> None:
    have = [entry_of(1)]
    result = plan(promotion=replace(PROMOTION, active=False), existing=have)
    assert result == earn_rules.EntryPlan(existing=have)


def test_instances_beyond_the_earn_count_are_not_reported() -> None:
    result = plan(count=1, existing=[entry_of(1), entry_of(2)])
    assert (result.existing, result.create_instances) == ([entry_of(1)], [])


def test_existing_entries_of_another_earned_from_type_are_not_a_replay() -> None:
    result = plan(existing=[entry_of(1, EarnedFromType.REWARD)], known_types={EarnedFromType.REWARD})
    assert (result.existing, result.failed_count, type(result.error)) == ([], 1, EarnedFromTypeChanged)


def test_the_earn_limit_keeps_what_fits_and_fails_the_rest() -> None:
    limited = replace(PROMOTION, max_earns_per_customer=4)
    result = plan(count=5, promotion=limited, already_earned=2)
    assert (result.create_instances, result.failed_count, type(result.error)) == (
        [1, 2],
        3,
        EarnLimitExceeded,
    )
    assert plan(count=2, promotion=limited, already_earned=4).create_instances == []
