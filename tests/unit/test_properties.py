"""Property tests (hypothesis) of the domain rules: validTill, earn limits, wallet coverage.
Bounded (100 examples each, no deadline) and derandomized, so CI runs are repeatable."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.clock import DAY_MS, end_of_local_day_ms, to_datetime
from app.domain.commands import RedeemPromotions
from app.domain.errors import PromotionNotRedeemable
from app.domain.models import (
    EarnedFromType,
    EarnedPromotion,
    EarnedPromotionStatus,
    Promotion,
    PromotionType,
    RedemptionLine,
)
from app.domain.redemption import plan_coverage
from app.domain.rules import earn_allowance, earned_status, valid_till

bounded = settings(max_examples=100, deadline=None, derandomize=True, database=None)

# Timezones with half and quarter hours, the date line, and DST changes at midnight.
TIMEZONES = [
    "UTC",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "America/Santiago",
    "America/Havana",
]
# 1970 .. 2100: far from the 9999 bound, across every DST rule change.
instants = st.integers(min_value=0, max_value=4_102_444_800_000)
NOW = 1_761_750_000_000
PROMOTION_ID = "a" * 24


def promotion(*, start: int = 0, end: int, window: int | None = None, **changes: object) -> Promotion:
    made = Promotion(
        org_id=1,
        id=PROMOTION_ID,
        name="P",
        type=PromotionType.CUSTOMER,
        start_date=start,
        end_date=end,
        active=True,
        redemption_window_days=window,
        max_redemptions_per_earn=1,
        max_earns_per_customer=None,
        created_at=0,
    )
    return replace(made, **changes)  # type: ignore[arg-type]


# --- validTill ---------------------------------------------------------------------------------


@bounded
@given(
    end=instants,
    event=instants,
    window=st.none() | st.integers(min_value=1, max_value=3650),
    tz=st.sampled_from(TIMEZONES),
)
def test_valid_till_is_the_last_millisecond_of_a_local_day_never_past_the_end_dates_day(
    end: int, event: int, window: int | None, tz: str
) -> None:
    zone = ZoneInfo(tz)
    result = valid_till(promotion=promotion(end=end, window=window), event_time=event, timezone=tz)
    # the last millisecond of a local day: the next millisecond is on the next local date
    day = to_datetime(result).astimezone(zone).date()
    assert to_datetime(result + 1).astimezone(zone).date() == day + timedelta(days=1)
    # the day of min(endDate, eventTime + window)
    last = min(end, event + window * DAY_MS) if window is not None else end
    assert day == to_datetime(last).astimezone(zone).date()
    assert result <= end_of_local_day_ms(end, zone)
    if event <= end:
        assert result >= event


@bounded
@given(
    end=instants,
    events=st.tuples(instants, instants),
    window=st.none() | st.integers(1, 3650),
    tz=st.sampled_from(TIMEZONES),
)
def test_valid_till_is_monotone_in_event_time(
    end: int, events: tuple[int, int], window: int | None, tz: str
) -> None:
    early, late = sorted(events)
    made = promotion(end=end, window=window)
    assert valid_till(promotion=made, event_time=early, timezone=tz) <= valid_till(
        promotion=made, event_time=late, timezone=tz
    )


# --- earn limits -------------------------------------------------------------------------------


@bounded
@given(
    cap=st.none() | st.integers(min_value=1, max_value=50),
    requests=st.lists(st.integers(min_value=1, max_value=30), min_size=1, max_size=20),
)
def test_earn_allowance_never_lets_a_customer_pass_the_cap(cap: int | None, requests: list[int]) -> None:
    earned = 0
    for requested in requests:
        allowance = earn_allowance(max_earns=cap, already_earned=earned, requested=requested)
        assert 0 <= allowance <= requested
        if cap is None:
            assert allowance == requested
        else:
            # as much as fits, and never more
            assert allowance == min(requested, cap - earned)
        earned += allowance
        assert cap is None or earned <= cap


@bounded
@given(cap=st.integers(1, 50), already=st.integers(0, 200), requested=st.integers(1, 1000))
def test_earn_allowance_is_zero_once_the_cap_is_reached_even_if_already_past_it(
    cap: int, already: int, requested: int
) -> None:
    allowance = earn_allowance(max_earns=cap, already_earned=already, requested=requested)
    assert allowance == max(0, min(requested, cap - already))


# --- wallet coverage ---------------------------------------------------------------------------


@st.composite
def wallet_entries(draw: st.DrawFn) -> list[EarnedPromotion]:
    """Entries of one promotion in every status: revoked, used up, expired, locked, unlocked."""
    count = draw(st.integers(min_value=0, max_value=8))
    entries = []
    for n in range(count):
        allowed = draw(st.integers(min_value=1, max_value=4))
        entries.append(
            EarnedPromotion(
                org_id=1,
                id=f"{n:024x}",
                customer_id=7,
                promotion_id=PROMOTION_ID,
                earned_from_type=EarnedFromType.ACTIVITY,
                earned_from_id=f"source-{n}",
                instance=1,
                event_time=0,
                event_details=None,
                valid_till=NOW + draw(st.integers(min_value=-3, max_value=5)) * DAY_MS,
                unlocks_at=NOW + draw(st.sampled_from([-DAY_MS, -DAY_MS, 0, DAY_MS])),
                redemptions_allowed=allowed,
                redemptions_used=draw(st.integers(0, allowed)),
                revoked_at=draw(st.sampled_from([None, None, None, NOW - 1])),
                created_at=0,
            )
        )
    return entries


def redeem(count: int) -> RedeemPromotions:
    line = [
        RedemptionLine(
            promotion_id=PROMOTION_ID,
            redemption_count=count,
            discount=Decimal(0),
            discount_applied_on_quantity=Decimal(1),
            promotion_applied_on_quantity=Decimal(1),
        )
    ]
    return RedeemPromotions(
        transaction_identifier="t",
        transaction_number="n",
        transaction_date=NOW,
        amount=Decimal(10),
        customer_id=7,
        line_items=line,
        redemptions=(),
    )


def left_if_unlocked(entry: EarnedPromotion) -> int:
    unlocked = earned_status(entry, NOW) is EarnedPromotionStatus.UNLOCKED
    return entry.redemptions_allowed - entry.redemptions_used if unlocked else 0


@bounded
@given(entries=wallet_entries(), count=st.integers(min_value=1, max_value=12))
def test_coverage_takes_exactly_the_count_from_unlocked_entries_soonest_expiring_first(
    entries: list[EarnedPromotion], count: int
) -> None:
    available = sum(left_if_unlocked(x) for x in entries)
    promotions = {PROMOTION_ID: promotion(end=NOW + 30 * DAY_MS)}
    try:
        plan = plan_coverage(redeem(count), promotions=promotions, entries=entries, now=NOW)
    except PromotionNotRedeemable:
        # refused only when the unlocked entries together do not have enough left
        assert available < count
        return
    by_id = {x.id: x for x in entries}
    taken = {c.earned_promotion_id: c.count for c in plan}
    # exactly the count, never more than an entry has left, only UNLOCKED entries
    assert sum(taken.values()) == count <= available
    assert all(0 < n <= left_if_unlocked(by_id[entry_id]) for entry_id, n in taken.items())
    assert all(c.promotion_id == PROMOTION_ID for c in plan)
    # soonest-expiring first: the entries used are a prefix of the usable ones in (validTill, id)
    # order, each used up except possibly the last
    usable = sorted((x for x in entries if left_if_unlocked(x)), key=lambda x: (x.valid_till, x.id))
    used = usable[: len(taken)]
    assert {x.id for x in used} == set(taken)
    assert all(taken[x.id] == left_if_unlocked(x) for x in used[:-1])


@pytest.mark.parametrize("kind", [PromotionType.POS, PromotionType.CODE])
def test_till_promotions_consume_nothing_from_the_wallet(kind: PromotionType) -> None:
    entries = [
        EarnedPromotion(
            org_id=1,
            id="0" * 24,
            customer_id=7,
            promotion_id=PROMOTION_ID,
            earned_from_type=EarnedFromType.ACTIVITY,
            earned_from_id="s",
            instance=1,
            event_time=0,
            event_details=None,
            valid_till=NOW + DAY_MS,
            unlocks_at=0,
            redemptions_allowed=5,
            redemptions_used=0,
            revoked_at=None,
            created_at=0,
        )
    ]
    promotions = {PROMOTION_ID: promotion(end=NOW + DAY_MS, type=kind)}
    assert plan_coverage(redeem(3), promotions=promotions, entries=entries, now=NOW) == []
