"""walletAsOf against the live wallet, over random histories (hypothesis): issues, earns,
redemptions, reversals, holds (committed, released or left to expire) and revocations at random
times on a fake clock. After each step the test records the wallet as `wallet` answers it then;
at the end, the rebuild from the ledger at each recorded instant equals the wallet recorded then,
and `walletAsOf(now)` equals `wallet`. Bounded and derandomized."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from unittest import mock

from hypothesis import example, given, settings
from hypothesis import strategies as st

from app.domain import clock
from app.domain.clock import DAY_MS
from app.domain.commands import (
    EarnEntryRequest,
    EarnPromotions,
    HoldPromotions,
    IssuePromotion,
    ReverseRedemption,
    RevokeEarnedPromotions,
)
from app.domain.errors import DomainError
from app.domain.models import (
    EarnedFromType,
    EarnedPromotion,
    EarnedPromotionStatus,
    EventDetails,
    Hold,
    Redemption,
)
from app.services import earn, holds, issue, queries, redeem, reverse, revoke
from app.services.history import wallet_as_of
from tests.fakes import FakeStore, FakeUnitOfWorkFactory
from tests.services.factories import Given, line, principal_of
from tests.services.test_redeem import CUSTOMER, redeem_command

bounded = settings(max_examples=60, deadline=None, derandomize=True, database=None)
START = 1_750_000_000_000


class FakeClock:
    """Stands in for the `time` module `domain.clock` reads: `now_ms()` is `ms`."""

    def __init__(self, ms: int) -> None:
        self.ms = ms

    def time_ns(self) -> int:
        return self.ms * 1_000_000


@contextmanager
def frozen_clock(start: int) -> Iterator[FakeClock]:
    fake = FakeClock(start)
    with mock.patch.object(clock, "time", fake):
        yield fake


step = st.one_of(
    st.tuples(st.just("issue"), st.integers(0, 2), st.integers(0, 3)),
    st.tuples(st.just("earn"), st.integers(0, 2), st.integers(1, 3), st.integers(0, 3)),
    st.tuples(st.just("redeem"), st.integers(0, 2), st.integers(1, 3)),
    st.tuples(st.just("reverse"), st.integers(0, 5)),
    st.tuples(st.just("hold"), st.integers(0, 2), st.integers(1, 2), st.sampled_from([60, 3600, 86_400])),
    st.tuples(st.just("commit"), st.integers(0, 5)),
    st.tuples(st.just("release"), st.integers(0, 5)),
    st.tuples(st.just("revoke"), st.integers(0, 20)),
)
# Between steps: a millisecond, minutes, or days (entries expire, the locked promotion unlocks).
pause = st.sampled_from([1, 7, 60_000, 3_600_000, DAY_MS, 3 * DAY_MS])
history = st.lists(st.tuples(pause, step), min_size=1, max_size=25)


async def _wallet(uow_factory: FakeUnitOfWorkFactory) -> list[EarnedPromotion]:
    page = await queries.wallet_page(
        uow_factory,
        principal_of(),
        customer_id=CUSTOMER,
        statuses=None,
        promotion_id=None,
        first=100,
        after=None,
    )
    return page.items


async def _as_of(
    uow_factory: FakeUnitOfWorkFactory, at: int, *, statuses: list[EarnedPromotionStatus] | None = None
) -> list[EarnedPromotion]:
    view = await wallet_as_of(
        uow_factory, principal_of(), customer_id=CUSTOMER, as_of=at, statuses=statuses, first=100, after=None
    )
    assert view.total_count == len(view.page.items)
    return view.page.items


async def _as_of_in_pages(uow_factory: FakeUnitOfWorkFactory, at: int, size: int) -> list[EarnedPromotion]:
    items: list[EarnedPromotion] = []
    after: str | None = None
    while True:
        view = await wallet_as_of(
            uow_factory,
            principal_of(),
            customer_id=CUSTOMER,
            as_of=at,
            statuses=None,
            first=size,
            after=after,
        )
        items += view.page.items
        if not view.page.has_next_page:
            return items
        after = view.page.cursors[-1]


async def _rebuilt_every_way(uow_factory: FakeUnitOfWorkFactory, at: int) -> list[EarnedPromotion]:
    """The wallet as of `at`, read whole (only the page replayed), with every status asked for (the
    whole wallet replayed) and in pages of 3: the three must agree."""
    whole = await _as_of(uow_factory, at)
    assert await _as_of(uow_factory, at, statuses=list(EarnedPromotionStatus)) == whole
    assert await _as_of_in_pages(uow_factory, at, 3) == whole
    return whole


async def _play(steps: list[tuple[int, tuple[object, ...]]], fake: FakeClock) -> None:
    store = FakeStore()
    uow_factory = FakeUnitOfWorkFactory(store)
    principal = principal_of()
    arrange = Given(store, START)
    arrange.org(timezone="Asia/Kolkata")
    arrange.customer(CUSTOMER)
    promotions = [
        arrange.promotion(max_redemptions_per_earn=2, redemption_window_days=2),
        arrange.promotion(max_redemptions_per_earn=3, starts_in_days=2),  # LOCKED for two days
        arrange.promotion(max_redemptions_per_earn=1, ends_in_days=5),
    ]
    redemptions: list[Redemption] = []
    made_holds: list[Hold] = []
    recorded: list[tuple[int, list[EarnedPromotion]]] = []
    for n, (wait, (kind, *args)) in enumerate(steps):
        fake.ms += wait
        try:
            if kind == "issue":
                command = IssuePromotion(promotions[args[0]].id, f"ctx-{args[1]}", [CUSTOMER])  # type: ignore[index, call-overload]
                await issue.issue_promotion(uow_factory, principal, command, max_batch=10)
            elif kind == "earn":
                promotion, count, source = promotions[args[0]], args[1], f"order-{args[2]}"  # type: ignore[index]
                await earn.earn_promotions(
                    uow_factory,
                    principal,
                    EarnPromotions(
                        customer_id=CUSTOMER,
                        event_time=fake.ms,
                        earned_from_type=EarnedFromType.ACTIVITY,
                        event_details=EventDetails(id=source, type=EarnedFromType.ACTIVITY.value),
                        entries=[EarnEntryRequest(promotion.id, count, source)],  # type: ignore[arg-type]
                    ),
                    max_instances=100,
                )
            elif kind == "redeem":
                command = redeem_command(
                    line(promotions[args[0]].id, args[1]),
                    transaction_identifier=f"T-{n}",
                    amount="100",  # type: ignore[index, arg-type]
                )
                redemptions.append(await redeem.redeem_promotions(uow_factory, principal, command))
            elif kind == "reverse" and redemptions:
                target = redemptions[args[0] % len(redemptions)]  # type: ignore[operator]
                await reverse.reverse_redemption(
                    uow_factory,
                    principal,
                    ReverseRedemption(reversal_identifier=f"R-{n}", redemption_id=target.id),
                )
            elif kind == "hold":
                command = redeem_command(
                    line(promotions[args[0]].id, args[1]),
                    transaction_identifier=f"H-{n}",  # type: ignore[index, arg-type]
                )
                made_holds.append(
                    await holds.hold_promotions(
                        uow_factory,
                        principal,
                        HoldPromotions(redemption=command, hold_seconds=args[2]),  # type: ignore[arg-type]
                    )
                )
            elif kind == "commit" and made_holds:
                hold = made_holds[args[0] % len(made_holds)]  # type: ignore[operator]
                redemptions.append(await holds.commit_hold(uow_factory, principal, hold.id))
            elif kind == "release" and made_holds:
                await holds.release_hold(uow_factory, principal, made_holds[args[0] % len(made_holds)].id)  # type: ignore[operator]
            elif kind == "revoke":
                entries = store.entries_of(principal.org_id, CUSTOMER)
                if entries:
                    target_entry = entries[args[0] % len(entries)]  # type: ignore[operator]
                    await revoke.revoke_earned_promotions(
                        uow_factory, principal, RevokeEarnedPromotions(CUSTOMER, [target_entry.id])
                    )
        except DomainError:
            pass  # a refused step changes nothing; the history goes on
        recorded.append((fake.ms, await _wallet(uow_factory)))

    # then the rebuild at each recorded instant is the wallet recorded then
    for at, wallet in recorded:
        assert await _rebuilt_every_way(uow_factory, at) == wallet, f"as of {at}"
    # and walletAsOf(now), later still, is wallet
    fake.ms += DAY_MS
    assert await _rebuilt_every_way(uow_factory, fake.ms) == await _wallet(uow_factory)


# Histories that surely reach each kind of change, and a hold's expiry to the millisecond.
BUSY = [
    (1, ("issue", 0, 0)),
    (1, ("earn", 1, 3, 0)),
    (3 * DAY_MS, ("redeem", 1, 2)),
    (5, ("hold", 1, 1, 60)),
    (7, ("reverse", 0)),
    (1, ("revoke", 0)),
    (60_000, ("earn", 0, 2, 1)),
    (1, ("redeem", 0, 1)),
    (1, ("hold", 0, 1, 3600)),
    (1, ("commit", 1)),
    (1, ("hold", 0, 1, 60)),
    (1, ("release", 2)),
]
EXPIRY = [
    (1, ("earn", 0, 2, 0)),
    (1, ("hold", 0, 2, 60)),
    (60_000, ("redeem", 0, 1)),
    (2 * DAY_MS, ("redeem", 0, 1)),
]


@bounded
@given(history)
@example(BUSY)
@example(EXPIRY)
def test_the_wallet_rebuilt_as_of_any_recorded_instant_is_the_wallet_at_that_instant(
    steps: list[tuple[int, tuple[object, ...]]],
) -> None:
    with frozen_clock(START) as fake:
        asyncio.run(_play(steps, fake))


def test_the_fake_clock_drives_the_services_clock() -> None:
    # a guard for the property above: were now_ms() not the fake's, it would compare nothing
    with frozen_clock(START) as fake:
        fake.ms += 5
        assert clock.now_ms() == START + 5
    assert Decimal(clock.now_ms()) > START
