"""walletHistory and walletAsOf (DESIGN §8.5): the ledger read back. Read-only units of work:
nothing is locked, nothing written."""

from __future__ import annotations

from collections.abc import Sequence

from app.domain import history
from app.domain.history import HistoryPage, HistoryQuery
from app.domain.models import EarnedPromotionStatus, LedgerKind, Principal, WalletPage
from app.domain.ports import UnitOfWorkFactory


def history_query(
    *,
    customer_id: int,
    kinds: Sequence[LedgerKind] | None,
    since: int | None,
    until: int | None,
    first: int,
    after: str | None,
) -> HistoryQuery:
    return history.check_history_query(
        customer_id=customer_id,
        kinds=kinds,
        since=since,
        until=until,
        first=first,
        after=after,
    )


async def wallet_history(
    uow_factory: UnitOfWorkFactory, principal: Principal, query: HistoryQuery, *, with_count: bool
) -> HistoryPage:
    """A page of the customer's events, newest first: one statement (with its total when asked
    for). Another org's customer, or an unknown one, has an empty history."""
    async with uow_factory() as uow:
        return await uow.history.events(principal.org_id, query, with_count=with_count)


async def wallet_history_count(
    uow_factory: UnitOfWorkFactory, principal: Principal, query: HistoryQuery
) -> int:
    async with uow_factory() as uow:
        return await uow.history.count(principal.org_id, query)


async def wallet_as_of(
    uow_factory: UnitOfWorkFactory,
    principal: Principal,
    *,
    customer_id: int,
    as_of: int,
    statuses: Sequence[EarnedPromotionStatus] | None,
    first: int,
    after: str | None,
) -> WalletPage:
    """The wallet rebuilt from the ledger as it stood at `as_of` (domain/history.py), one page of
    it and its total, statuses at `as_of`. A future `as_of` is the wallet as it will stand then if
    nothing changes meanwhile (entries expire, holds lapse). Like `wallet`, an unknown or another
    org's customer has an empty one."""
    history.check_as_of(as_of)
    nothing = history.replay([], [], as_of)
    history.as_of_page([], nothing, as_of=as_of, statuses=statuses, first=first, after=after)  # 400s first
    window = history.as_of_window(statuses, first, after)
    async with uow_factory() as uow:
        sources = await uow.history.as_of_sources(principal.org_id, customer_id, as_of, window=window)
    replayed = history.replay(sources.moves, sources.spans, as_of)
    page, matching = history.as_of_page(
        sources.entries, replayed, as_of=as_of, statuses=statuses, first=first, after=after
    )
    return WalletPage(
        page=page, total_count=matching if sources.total is None else sources.total, promotions={}
    )
