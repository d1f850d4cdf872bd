"""The ledger read back: history events and the rows the as-of rebuild replays (domain/history.py).

Statements are built once per shape: the filters are bind parameters."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, literal, null, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.history import (
    EVENT_KEY,
    GRANT_KINDS,
    HOLD_KINDS,
    AsOfSources,
    AsOfWindow,
    HeldSpan,
    HistoryPage,
    HistoryQuery,
    LedgerEvent,
    LedgerMove,
    count_of,
    event_cursor,
    shown_source,
)
from app.domain.models import LedgerKind, Page
from app.persistence.repositories.wallet import earned_promotion_from_row
from app.persistence.tables import (
    earned_promotion_table,
    hold_allocation_table,
    hold_table,
    redemption_reversal_table,
    redemption_table,
    wallet_ledger_table,
)

led = wallet_ledger_table.c
ha = hold_allocation_table.c
h = hold_table.c
e = earned_promotion_table.c
r = redemption_table.c
rv = redemption_reversal_table.c


def _filters(org_id: int, query: HistoryQuery) -> list[ColumnElement[bool]]:
    return [
        led.org_id == org_id,
        led.customer_id == query.customer_id,
        led.kind.in_(sorted(k.value for k in query.kinds)) if query.kinds else true(),
        led.created_at >= query.since if query.since is not None else true(),
        led.created_at < query.until if query.until is not None else true(),
    ]


def _events(org_id: int, query: HistoryQuery) -> Any:
    """The customer's events (domain/history.py: grouped by EVENT_KEY), as a CTE. A hold row's
    allocation is looked up only for hold rows (a CASE, evaluated lazily): a join would probe the
    allocations once per ledger row."""
    allocated = (
        select(ha["count"])
        .where(ha.hold_id == led.source, ha.earned_promotion_id == led.earned_promotion_id)
        .scalar_subquery()
    )
    held = case((led.kind.in_([k.value for k in HOLD_KINDS]), allocated), else_=0)
    first_entry, last_entry = func.min(led.earned_promotion_id), func.max(led.earned_promotion_id)
    key = [led[name] for name in EVENT_KEY]
    return (
        select(
            func.max(led.id).label("event_id"),
            *key,
            func.count().label("rows"),
            func.coalesce(func.sum(led.quantity), 0).label("quantity"),
            func.coalesce(func.sum(held), 0).label("held"),
            case((first_entry == last_entry, first_entry), else_=null()).label("entry_id"),
        )
        .where(*_filters(org_id, query))
        .group_by(*key)
        .cte("events")
    )


_KINDS = {kind.value: kind for kind in LedgerKind}


class HistoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def events(self, org_id: int, query: HistoryQuery, *, with_count: bool) -> HistoryPage:
        """One statement: the page of grouped events, then the redemption each REDEEMED or
        REVERSED event of the page names (by its transactionIdentifier or reversalIdentifier, both
        unique in the org) and, asked for, the total, counted by a window over the same grouping
        (evaluated once); only an empty page after a cursor needs a second statement for its total."""
        events = _events(org_id, query)
        source: Any = events
        if with_count:
            source = select(events, func.count().over().label("total")).subquery("counted")
        newest = (
            select(source)
            .where(source.c.event_id < query.after_id if query.after_id is not None else true())
            .order_by(source.c.event_id.desc())
            .limit(query.first + 1)
            .subquery("page")
        )
        ev = newest.c
        redeemed = and_(
            ev.kind == LedgerKind.REDEEMED.value, r.org_id == org_id, r.transaction_identifier == ev.source
        )
        reversed_ = and_(
            ev.kind == LedgerKind.REVERSED.value, rv.org_id == org_id, rv.reversal_identifier == ev.source
        )
        statement = (
            select(newest, func.coalesce(r.id, rv.redemption_id).label("redemption_id"))
            .select_from(
                newest.outerjoin(redemption_table, redeemed).outerjoin(redemption_reversal_table, reversed_)
            )
            .order_by(ev.event_id.desc())
        )
        rows = (await self._session.execute(statement)).all()
        items = [_event(row, query.customer_id) for row in rows[: query.first]]
        total: int | None = None
        if with_count:
            if rows:
                total = int(rows[0].total)
            elif query.after_id is None:
                total = 0
            else:
                total = await self.count(org_id, query)
        page = Page(
            items=items, cursors=[event_cursor(x) for x in items], has_next_page=len(rows) > query.first
        )
        return HistoryPage(page=page, total_count=total)

    async def count(self, org_id: int, query: HistoryQuery) -> int:
        events = _events(org_id, query)
        return int((await self._session.execute(select(func.count()).select_from(events))).scalar_one())

    async def as_of_sources(
        self, org_id: int, customer_id: int, as_of: int, *, window: AsOfWindow | None = None
    ) -> AsOfSources:
        """Three statements (four with a window: its total), each on an index of the customer or
        of its entries."""
        made = [e.org_id == org_id, e.customer_id == customer_id, e.created_at <= as_of]
        # The replay sets what holds reserve; a column of its own spares the row lookup a miss.
        columns: list[Any] = [earned_promotion_table, literal(0).label("redemptions_held")]
        total: int | None = None
        if window is None:
            entries = (await self._session.execute(select(*columns).where(*made))).all()
            moves_of: ColumnElement[bool] = led.earned_promotion_id.is_not(None)
            spans_of: ColumnElement[bool] = true()
        else:
            granted = (
                select(led.id)
                .where(
                    led.earned_promotion_id == e.id,
                    led.kind.in_([k.value for k in GRANT_KINDS]),
                    led.created_at <= as_of,
                )
                .exists()
            )
            after = (
                or_(
                    e.valid_till > window.after[0],
                    and_(e.valid_till == window.after[0], e.id > window.after[1]),
                )
                if window.after is not None
                else true()
            )
            entries = (
                await self._session.execute(
                    select(*columns)
                    .where(*made, granted, after)
                    .order_by(e.valid_till, e.id)
                    .limit(window.first + 1)
                )
            ).all()
            counted = select(func.count()).select_from(earned_promotion_table).where(*made, granted)
            total = int((await self._session.execute(counted)).scalar_one())
            ids = [row.id for row in entries]
            moves_of = led.earned_promotion_id.in_(ids)
            spans_of = ha.earned_promotion_id.in_(ids)
        moves = await self._session.execute(
            select(led.kind, led.earned_promotion_id, led.quantity, led.created_at).where(
                led.org_id == org_id, led.customer_id == customer_id, led.created_at <= as_of, moves_of
            )
        )
        spans = await self._session.execute(
            select(ha.earned_promotion_id, ha["count"], h.created_at, h.expires_at, h.settled_at)
            .select_from(hold_table.join(hold_allocation_table, ha.hold_id == h.id))
            .where(h.org_id == org_id, h.customer_id == customer_id, h.created_at <= as_of, spans_of)
        )
        return AsOfSources(
            entries=[earned_promotion_from_row(row) for row in entries],
            moves=[
                LedgerMove(_KINDS[row.kind], row.earned_promotion_id, row.quantity, row.created_at)
                for row in moves
            ],
            spans=[
                HeldSpan(
                    earned_promotion_id=row.earned_promotion_id,
                    count=row._mapping["count"],
                    held_at=row.created_at,
                    ends_at=min(row.expires_at, row.settled_at or row.expires_at),
                )
                for row in spans
            ],
            total=total,
        )


def _event(row: Any, customer_id: int) -> LedgerEvent:
    kind = LedgerKind(row.kind)
    return LedgerEvent(
        id=str(row.event_id),
        kind=kind,
        at=row.created_at,
        customer_id=customer_id,
        promotion_id=row.promotion_id,
        earned_promotion_id=row.entry_id,
        redemption_id=row.redemption_id if kind in (LedgerKind.REDEEMED, LedgerKind.REVERSED) else None,
        count=count_of(kind, rows=int(row.rows), quantity=int(row.quantity), held=int(row.held)),
        actor=row.actor,
        source=shown_source(row.source),
    )
