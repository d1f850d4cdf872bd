from __future__ import annotations

from app.domain import rules
from app.domain.models import Promotion, PromotionType

# 2025-05-31T12:00:00Z, and the issue time of the spec's response example (2025-05-13).
MAY_31_NOON_UTC = 1_748_692_800_000
SPEC_EVENT_TIME = 1_747_126_842_954


def promotion(end_date: int, window_days: int | None = None) -> Promotion:
    return Promotion(
        org_id=100737,
        id="67f3832ab206f929966adf81",
        name="Spec example",
        type=PromotionType.CUSTOMER,
        start_date=0,
        end_date=end_date,
        active=True,
        redemption_window_days=window_days,
        max_redemptions_per_earn=1,
        max_earns_per_customer=None,
    )


def test_the_spec_example_ends_on_the_last_millisecond_of_may_31_in_kolkata() -> None:
    valid_till = rules.valid_till(
        promotion=promotion(MAY_31_NOON_UTC), event_time=SPEC_EVENT_TIME, timezone="Asia/Kolkata"
    )
    assert valid_till == 1_748_716_199_999


def test_an_end_date_after_local_midnight_belongs_to_the_next_local_day() -> None:
    # 2025-05-31T19:00:00Z is already June 1st, 00:30 in Kolkata
    valid_till = rules.valid_till(
        promotion=promotion(1_748_718_000_000), event_time=SPEC_EVENT_TIME, timezone="Asia/Kolkata"
    )
    assert valid_till == 1_748_716_199_999 + 86_400_000


def test_the_same_end_date_in_utc_ends_at_utc_midnight() -> None:
    valid_till = rules.valid_till(
        promotion=promotion(MAY_31_NOON_UTC), event_time=SPEC_EVENT_TIME, timezone="UTC"
    )
    assert valid_till == 1_748_735_999_999


def test_a_redemption_window_shorter_than_the_promotion_cuts_valid_till() -> None:
    # issued 2025-05-13 (Kolkata), 3 days' window: ends 2025-05-16 23:59:59.999 in Kolkata
    valid_till = rules.valid_till(
        promotion=promotion(MAY_31_NOON_UTC, window_days=3),
        event_time=SPEC_EVENT_TIME,
        timezone="Asia/Kolkata",
    )
    assert valid_till == 1_747_420_199_999
