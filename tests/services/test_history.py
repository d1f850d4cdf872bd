"""walletHistory and walletAsOf on fakes: one event per change of a promotion (an earn of several
instances is one), newest first, counts, actors and sources per kind, the filters (kinds, since
inclusive, until exclusive), keyset pages, other orgs, and the checks of the arguments."""

from __future__ import annotations

import pytest

from app.domain.commands import (
    EarnEntryRequest,
    EarnPromotions,
    HoldPromotions,
    IssuePromotion,
    ReverseRedemption,
    RevokeEarnedPromotions,
)
from app.domain.errors import InvalidRequest
from app.domain.history import HistoryPage, shown_source
from app.domain.models import EarnedFromType, EventDetails, LedgerKind, Principal
from app.services import earn, holds, issue, redeem, reverse, revoke
from app.services.history import history_query, wallet_as_of, wallet_history
from app.services.revoke import REVOKE_SOURCE
from tests.fakes import FakeUnitOfWorkFactory
from tests.services.factories import OTHER_ORG_ID, Given, line, principal_of
from tests.services.test_redeem import CUSTOMER, redeem_command


async def page_of(
    uow_factory: FakeUnitOfWorkFactory,
    principal: Principal,
    *,
    kinds: list[LedgerKind] | None = None,
    since: int | None = None,
    until: int | None = None,
    first: int = 20,
    after: str | None = None,
) -> HistoryPage:
    query = history_query(
        customer_id=CUSTOMER, kinds=kinds, since=since, until=until, first=first, after=after
    )
    return await wallet_history(uow_factory, principal, query, with_count=True)


@pytest.fixture
async def busy(given: Given, uow_factory: FakeUnitOfWorkFactory, principal: Principal) -> dict[str, str]:
    """A wallet that saw every kind of change: issue, an earn of three, a redemption of two
    entries, its reversal, a hold and its release, a hold and its commit, a revocation."""
    given.customer(CUSTOMER)
    issued, earned = given.promotion(), given.promotion(max_redemptions_per_earn=1)
    await issue.issue_promotion(
        uow_factory, principal, IssuePromotion(issued.id, "campaign-7", [CUSTOMER]), max_batch=10
    )
    await earn.earn_promotions(
        uow_factory,
        principal,
        EarnPromotions(
            customer_id=CUSTOMER,
            event_time=given.now,
            earned_from_type=EarnedFromType.ACTIVITY,
            event_details=EventDetails(id="order-9", type="ACTIVITY"),
            entries=[EarnEntryRequest(earned.id, 3, "order-9")],
        ),
        max_instances=100,
    )
    redemption = await redeem.redeem_promotions(
        uow_factory, principal, redeem_command(line(earned.id, 2), transaction_identifier="T-1")
    )
    await reverse.reverse_redemption(
        uow_factory,
        principal,
        ReverseRedemption(reversal_identifier="R-1", redemption_id=redemption.id),
    )
    hold = await holds.hold_promotions(
        uow_factory,
        principal,
        HoldPromotions(redemption=redeem_command(line(earned.id), transaction_identifier="T-2")),
    )
    await holds.release_hold(uow_factory, principal, hold.id)
    committed = await holds.hold_promotions(
        uow_factory,
        principal,
        HoldPromotions(redemption=redeem_command(line(earned.id), transaction_identifier="T-3")),
    )
    await holds.commit_hold(uow_factory, principal, committed.id)
    entry = next(x for x in given.store.entries_of(principal.org_id, CUSTOMER) if x.promotion_id == issued.id)
    await revoke.revoke_earned_promotions(
        uow_factory, principal, RevokeEarnedPromotions(CUSTOMER, [entry.id])
    )
    return {
        "issued": issued.id,
        "earned": earned.id,
        "redemption": redemption.id,
        "hold": hold.id,
        "committed": committed.id,
        "entry": entry.id,
    }


async def test_each_change_is_one_event_newest_first_with_its_count_actor_and_source(
    busy: dict[str, str], uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    # when the history is read
    found = await page_of(uow_factory, principal)
    # then each change is one event, newest first
    events = found.page.items
    assert [(x.kind, x.promotion_id, x.count, x.source) for x in events] == [
        (LedgerKind.REVOKED, busy["issued"], 1, None),
        (LedgerKind.REDEEMED, busy["earned"], 1, "T-3"),
        (LedgerKind.RELEASED, busy["earned"], 1, busy["committed"]),
        (LedgerKind.HELD, busy["earned"], 1, busy["committed"]),
        (LedgerKind.RELEASED, busy["earned"], 1, busy["hold"]),
        (LedgerKind.HELD, busy["earned"], 1, busy["hold"]),
        (LedgerKind.REVERSED, busy["earned"], 2, "R-1"),
        (LedgerKind.REDEEMED, busy["earned"], 2, "T-1"),
        (LedgerKind.EARNED, busy["earned"], 3, "order-9"),
        (LedgerKind.ISSUED, busy["issued"], 1, "campaign-7"),
    ]
    assert found.total_count == 10
    assert all(x.actor == principal.username and x.customer_id == CUSTOMER for x in events)
    # a change of one entry names it; one of several does not
    assert events[0].earned_promotion_id == busy["entry"]
    assert events[-1].earned_promotion_id is not None and events[-2].earned_promotion_id is None
    # redemptions and reversals name the redemption
    assert events[6].redemption_id == events[7].redemption_id == busy["redemption"]
    assert events[1].redemption_id is not None and events[1].redemption_id != busy["redemption"]
    assert [int(x.id) for x in events] == sorted((int(x.id) for x in events), reverse=True)


async def test_the_history_is_filtered_by_kind_and_by_time_since_inclusive_until_exclusive(
    busy: dict[str, str], given: Given, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    # given the whole history and an instant some change happened at
    whole = (await page_of(uow_factory, principal)).page.items
    at = whole[3].at
    # when filtered
    by_kind = await page_of(uow_factory, principal, kinds=[LedgerKind.EARNED, LedgerKind.REVOKED])
    since = await page_of(uow_factory, principal, since=at)
    until = await page_of(uow_factory, principal, until=at)
    # then only those kinds; since takes the events at that instant, until leaves them out
    assert [x.kind for x in by_kind.page.items] == [LedgerKind.REVOKED, LedgerKind.EARNED]
    assert by_kind.total_count == 2
    assert since.page.items == [x for x in whole if x.at >= at] and whole[3] in since.page.items
    assert until.page.items == [x for x in whole if x.at < at] and whole[3] not in until.page.items
    assert since.total_count + until.total_count == 10  # type: ignore[operator]


async def test_history_pages_with_keyset_cursors_without_gaps_or_repeats(
    busy: dict[str, str], uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    whole = (await page_of(uow_factory, principal)).page.items
    seen, after = [], None
    while True:
        found = await page_of(uow_factory, principal, first=3, after=after)
        seen.extend(found.page.items)
        if not found.page.has_next_page:
            break
        after = found.page.cursors[-1]
    assert seen == whole


async def test_another_orgs_customer_has_an_empty_history(
    busy: dict[str, str], given: Given, uow_factory: FakeUnitOfWorkFactory
) -> None:
    given.org(OTHER_ORG_ID)
    found = await page_of(uow_factory, principal_of(OTHER_ORG_ID))
    assert found.page.items == [] and found.total_count == 0


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"first": 101}, "size"),
        ({"after": "not-a-cursor"}, "cursor"),
        ({"since": -1}, "since"),
        ({"until": 10**18}, "until"),
    ],
)
async def test_bad_history_arguments_are_a_400_naming_the_argument(
    arguments: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidRequest) as raised:
        history_query(
            customer_id=CUSTOMER,
            **{"kinds": None, "since": None, "until": None, "first": 20, "after": None, **arguments},
        )  # type: ignore[arg-type]
    assert raised.value.field == field


async def test_the_wallet_as_of_before_a_change_does_not_show_it(
    busy: dict[str, str], given: Given, uow_factory: FakeUnitOfWorkFactory, principal: Principal
) -> None:
    # when the wallet is read as of just before everything happened, and as of a bad instant
    before = await wallet_as_of(
        uow_factory, principal, customer_id=CUSTOMER, as_of=given.now - 1, statuses=None, first=20, after=None
    )
    # then it is empty
    assert before.page.items == [] and before.total_count == 0
    with pytest.raises(InvalidRequest) as raised:
        await wallet_as_of(
            uow_factory, principal, customer_id=CUSTOMER, as_of=-5, statuses=None, first=20, after=None
        )
    assert raised.value.field == "asOf"


def test_a_revocations_placeholder_source_is_shown_as_none() -> None:
    # the revoke service writes a placeholder, not an identifier: history must know it
    assert shown_source(REVOKE_SOURCE) is None
    assert shown_source("campaign-7") == "campaign-7"
