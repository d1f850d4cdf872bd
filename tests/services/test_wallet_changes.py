"""walletChanged on fakes: each changed entry once, after its commit, for the caller's org only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from app.domain.commands import IssuePromotion, RevokeEarnedPromotions
from app.domain.models import EarnedPromotion, Principal, PromotionType
from app.services.issue import issue_promotion
from app.services.revoke import revoke_earned_promotions
from app.services.wallet_changes import follow_wallet
from tests.fakes import FakeUnitOfWorkFactory
from tests.services.factories import OTHER_ORG_ID, Given, principal_of

CUSTOMER = 77
# The fake feed reads the ledger unsignalled only after a minute: a push within this came by the signal.
PROMPTLY_S = 1.0


class Follower:
    """A walletChanged subscriber running in the background, collecting what it is sent."""

    def __init__(self, uow_factory: FakeUnitOfWorkFactory, principal: Principal, customer_id: int) -> None:
        self.received: asyncio.Queue[EarnedPromotion] = asyncio.Queue()
        self._stream: AsyncIterator[EarnedPromotion] = follow_wallet(uow_factory, principal, customer_id)
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        async for entry in self._stream:
            await self.received.put(entry)

    async def started(self) -> None:
        # The follower is live once it has read where the ledger ends and waits for a signal.
        for _ in range(100):
            await asyncio.sleep(0)

    async def next(self) -> EarnedPromotion:
        return await asyncio.wait_for(self.received.get(), PROMPTLY_S)

    async def nothing_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.received.get(), seconds)
        except TimeoutError:
            return True
        return False

    async def stop(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)


async def issue(uow_factory: FakeUnitOfWorkFactory, principal: Principal, promotion: str, *ids: int) -> None:
    await issue_promotion(
        uow_factory, principal, IssuePromotion(promotion, "ctx", list(ids)), max_batch=1000
    )


async def test_an_issue_to_the_customer_is_pushed_once_after_it_commits(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given
) -> None:
    # given a follower of customer 77, and an entry issued before it started
    promotion = given.promotion(PromotionType.CUSTOMER).id
    given.customers(CUSTOMER, 78)
    await issue(uow_factory, principal, given.promotion(PromotionType.CUSTOMER).id, CUSTOMER)
    follower = Follower(uow_factory, principal, CUSTOMER)
    await follower.started()
    # when the promotion is issued to 77 and 78
    await issue(uow_factory, principal, promotion, CUSTOMER, 78)
    # then 77's new entry alone is pushed, promptly, and nothing else follows
    pushed = await follower.next()
    assert (pushed.customer_id, pushed.promotion_id) == (CUSTOMER, promotion)
    assert await follower.nothing_within(0.05)
    await follower.stop()


async def test_each_later_change_pushes_the_entry_as_it_now_stands(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given
) -> None:
    # given a follower and an entry issued after it started
    promotion = given.promotion(PromotionType.CUSTOMER).id
    given.customers(CUSTOMER)
    follower = Follower(uow_factory, principal, CUSTOMER)
    await follower.started()
    await issue(uow_factory, principal, promotion, CUSTOMER)
    issued = await follower.next()
    # when the entry is revoked
    await revoke_earned_promotions(uow_factory, principal, RevokeEarnedPromotions(CUSTOMER, [issued.id]))
    # then the same entry is pushed again, revoked
    revoked = await follower.next()
    assert revoked.id == issued.id
    assert revoked.revoked_at is not None
    assert issued.revoked_at is None
    await follower.stop()


async def test_a_follower_of_another_orgs_customer_is_sent_nothing(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given
) -> None:
    # given another org whose client follows customer id 77, which exists only in the caller's org
    given.org(OTHER_ORG_ID)
    promotion = given.promotion(PromotionType.CUSTOMER).id
    given.customers(CUSTOMER)
    stranger = Follower(uow_factory, principal_of(OTHER_ORG_ID), CUSTOMER)
    own = Follower(uow_factory, principal, CUSTOMER)
    await stranger.started()
    await own.started()
    # when the caller's org issues to its customer 77
    await issue(uow_factory, principal, promotion, CUSTOMER)
    # then its own follower is told, and the other org's follower is not
    assert (await own.next()).customer_id == CUSTOMER
    assert await stranger.nothing_within(0.05)
    await own.stop()
    await stranger.stop()


async def test_a_stopped_follower_stops_listening(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given
) -> None:
    # given a follower that is stopped
    given.customers(CUSTOMER)
    follower = Follower(uow_factory, principal, CUSTOMER)
    await follower.started()
    assert uow_factory.wallet_changes.following
    # when it stops, then the feed no longer holds a signal for it
    await follower.stop()
    assert not uow_factory.wallet_changes.following


async def test_changes_past_one_read_are_all_pushed_in_commit_order(
    uow_factory: FakeUnitOfWorkFactory, principal: Principal, given: Given
) -> None:
    # given a follower that reads the ledger two rows at a time
    given.customers(CUSTOMER)
    promotions = [given.promotion(PromotionType.CUSTOMER).id for _ in range(5)]
    stream = follow_wallet(uow_factory, principal, CUSTOMER, rows_per_read=2)
    first = asyncio.get_running_loop().create_task(anext(stream))
    for _ in range(100):
        await asyncio.sleep(0)
    # when five promotions are issued to the customer in one go of commits
    for promotion in promotions:
        await issue(uow_factory, principal, promotion, CUSTOMER)
    # then all five entries arrive, in the order they were issued
    pushed = [await asyncio.wait_for(first, PROMPTLY_S)]
    for _ in range(4):
        pushed.append(await asyncio.wait_for(anext(stream), PROMPTLY_S))
    assert [entry.promotion_id for entry in pushed] == promotions
    await stream.aclose()  # type: ignore[attr-defined]
