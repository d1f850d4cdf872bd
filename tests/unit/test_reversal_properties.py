"""Property tests (hypothesis) of the reversal rules: whatever sequence of full and partial
reversals a redemption meets, no unit (entry, or till promotion) ever gets back more than it gave,
a full reversal gives back exactly what is left, and the status follows. Bounded and derandomized."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.domain.errors import ReversalExceedsRedemption
from app.domain.models import (
    Consumption,
    Redemption,
    RedemptionLine,
    RedemptionStatus,
    Reversal,
    ReversalLine,
)
from app.domain.reversal import plan_reversal, redemption_status, reversible

bounded = settings(max_examples=200, deadline=None, derandomize=True, database=None)
WALLET, TILL = "a" * 24, "b" * 24
ENTRIES = [f"{n:024x}" for n in range(1, 5)]


def _line(promotion_id: str, count: int) -> RedemptionLine:
    return RedemptionLine(
        promotion_id=promotion_id,
        redemption_count=count,
        discount=Decimal(0),
        discount_applied_on_quantity=Decimal(1),
        promotion_applied_on_quantity=Decimal(1),
    )


def _fixed(counts: list[int]) -> Redemption:
    """A redemption of the wallet promotion consuming these counts of ENTRIES, in order."""
    consumed = [
        Consumption(earned_promotion_id=ENTRIES[i], promotion_id=WALLET, count=c)
        for i, c in enumerate(counts)
    ]
    return Redemption(
        org_id=1,
        id="r" * 24,
        customer_id=1,
        customer_identifier_type=None,
        customer_identifier_value=None,
        transaction_identifier="t",
        transaction_number="n",
        transaction_date=0,
        amount=Decimal(0),
        redemptions=[_line(WALLET, sum(counts))],
        consumed=consumed,
    )


@st.composite
def redemptions(draw: st.DrawFn) -> Redemption:
    """A redemption of a wallet promotion spanning 1-4 entries, and maybe of a till promotion."""
    counts = draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
    till = draw(st.integers(0, 3))
    redemption = _fixed(counts)
    return (
        replace(redemption, redemptions=[*redemption.redemptions, _line(TILL, till)]) if till else redemption
    )


reversal_lines = st.lists(
    st.builds(
        ReversalLine,
        promotion_id=st.sampled_from([WALLET, TILL]),
        redemption_count=st.integers(1, 4),
        earned_promotion_id=st.sampled_from([None, *ENTRIES]),
    ),
    min_size=1,
    max_size=3,
).map(lambda lines: _merged(lines))


def _merged(lines: list[ReversalLine]) -> list[ReversalLine]:
    """As validate_reverse leaves them: one line per (promotion, entry)."""
    merged: dict[tuple[str, str | None], int] = {}
    for x in lines:
        merged[(x.promotion_id, x.earned_promotion_id)] = (
            merged.get((x.promotion_id, x.earned_promotion_id), 0) + x.redemption_count
        )
    return [
        ReversalLine(promotion_id=p, earned_promotion_id=e, redemption_count=n)
        for (p, e), n in merged.items()
    ]


NAMED_THEN_UNNAMED = [
    ReversalLine(promotion_id=WALLET, redemption_count=2, earned_promotion_id=ENTRIES[0]),
    ReversalLine(promotion_id=WALLET, redemption_count=1),
]


@bounded
@given(redemptions(), st.lists(st.one_of(st.none(), reversal_lines), min_size=1, max_size=6))
# a named entry's counts are not available to an unnamed line of the same request
@example(_fixed([2]), [NAMED_THEN_UNNAMED])
@example(_fixed([2, 1]), [NAMED_THEN_UNNAMED, None])
def test_no_sequence_of_reversals_gives_any_unit_back_more_than_it_gave(
    redemption: Redemption, requests: list[list[ReversalLine] | None]
) -> None:
    original = reversible(redemption)
    for number, lines in enumerate(requests, start=1):
        left_before = reversible(redemption)
        try:
            plan = plan_reversal(redemption, lines, entries={}, now=0)
        except ReversalExceedsRedemption:
            continue  # refused: nothing recorded
        assert plan and all(x.redemption_count > 0 for x in plan)
        if lines is None:  # everything left, exactly
            assert {(x.promotion_id, x.earned_promotion_id): x.redemption_count for x in plan} == {
                unit: count for unit, count in left_before.items() if count > 0
            }
        else:  # per promotion, exactly what was asked
            asked: dict[str, int] = {}
            for x in lines:
                asked[x.promotion_id] = asked.get(x.promotion_id, 0) + x.redemption_count
            given_back: dict[str, int] = {}
            for x in plan:
                given_back[x.promotion_id] = given_back.get(x.promotion_id, 0) + x.redemption_count
            assert given_back == asked
        reversal = Reversal(
            org_id=1,
            id=f"{number:024x}",
            reversal_identifier=f"rev-{number}",
            redemption_id=redemption.id,
            number=number,
            reason=None,
            lines=plan,
            content_hash="",
            actor="test",
            created_at=0,
        )
        redemption = replace(redemption, reversals=[*redemption.reversals, reversal])
        left = reversible(redemption)
        assert all(0 <= left[unit] <= original[unit] for unit in original)
        assert set(left) == set(original)
    expected = (
        RedemptionStatus.ACTIVE
        if not redemption.reversals
        else RedemptionStatus.REVERSED
        if not any(reversible(redemption).values())
        else RedemptionStatus.PARTIALLY_REVERSED
    )
    assert redemption_status(redemption) is expected
