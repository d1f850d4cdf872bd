from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from app.domain.models import Consumption, CustomerIdentifierType, Hold, HoldStatus, RedemptionLine
from app.persistence.repositories.redemptions import LINE_ITEM, REDEMPTION, line_from_row
from app.persistence.tables import hold_allocation_table, hold_line_table, hold_table

h = hold_table.c
hl = hold_line_table.c
ha = hold_allocation_table.c


def held_counts(entry_id: ColumnElement[Any], now: int | BindParameter[int]) -> ColumnElement[int]:
    """What live holds reserve of the entry `entry_id` names at `now`: a correlated scalar
    subquery, so a wallet read stays one statement and the consume guard sees the same number."""
    return (
        select(func.coalesce(func.sum(ha["count"]), 0))
        .select_from(hold_allocation_table.join(hold_table, h.id == ha.hold_id))
        .where(ha.earned_promotion_id == entry_id, h.status == HoldStatus.HELD.value, h.expires_at > now)
        .scalar_subquery()
    )


def transaction_is_held(
    org_id: int | BindParameter[int],
    transaction_identifier: str | BindParameter[str],
    now: int | BindParameter[int],
) -> ColumnElement[bool]:
    return (
        select(h.id)
        .where(
            h.org_id == org_id,
            h.transaction_identifier == transaction_identifier,
            h.status == HoldStatus.HELD.value,
            h.expires_at > now,
        )
        .exists()
    )


class HoldRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def _one(self, where: ColumnElement[bool]) -> Hold | None:
        """The hold `where` selects with its lines and allocations: three statements."""
        row = (await self._session.execute(select(hold_table).where(where).limit(1))).first()
        if row is None:
            return None
        lines: dict[str, list[RedemptionLine]] = defaultdict(list)
        for line in await self._session.execute(
            select(hold_line_table).where(hl.hold_id == row.id).order_by(hl.kind, hl.position)
        ):
            lines[line.kind].append(line_from_row(line))
        allocations = [
            Consumption(
                earned_promotion_id=a.earned_promotion_id,
                promotion_id=a.promotion_id,
                count=a._mapping["count"],  # `a.count` is also tuple.count to a type checker
            )
            for a in await self._session.execute(
                select(hold_allocation_table).where(ha.hold_id == row.id).order_by(ha.earned_promotion_id)
            )
        ]
        return Hold(
            org_id=row.org_id,
            id=row.id,
            customer_id=row.customer_id,
            customer_identifier_type=(
                CustomerIdentifierType(row.customer_identifier_type) if row.customer_identifier_type else None
            ),
            customer_identifier_value=row.customer_identifier_value,
            transaction_identifier=row.transaction_identifier,
            transaction_number=row.transaction_number,
            transaction_date=row.transaction_date,
            amount=Decimal(row.amount),
            status=HoldStatus(row.status),
            expires_at=row.expires_at,
            content_hash=row.content_hash,
            actor=row.actor,
            created_at=row.created_at,
            line_items=lines[LINE_ITEM],
            redemptions=lines[REDEMPTION],
            allocations=allocations,
            settled_at=row.settled_at,
            redemption_id=row.redemption_id,
        )

    async def get(self, org_id: int, hold_id: str) -> Hold | None:
        return await self._one(and_(h.org_id == org_id, h.id == hold_id))

    async def live_by_transaction(self, org_id: int, transaction_identifier: str, *, now: int) -> Hold | None:
        return await self._one(
            and_(
                h.org_id == org_id,
                h.transaction_identifier == transaction_identifier,
                h.status == HoldStatus.HELD.value,
                h.expires_at > now,
            )
        )

    async def add(self, hold: Hold) -> None:
        await self._session.execute(
            insert(hold_table).values(
                id=hold.id,
                org_id=hold.org_id,
                customer_id=hold.customer_id,
                customer_identifier_type=(
                    hold.customer_identifier_type.value if hold.customer_identifier_type else None
                ),
                customer_identifier_value=hold.customer_identifier_value,
                transaction_identifier=hold.transaction_identifier,
                transaction_number=hold.transaction_number,
                transaction_date=hold.transaction_date,
                amount=format(hold.amount, "f"),
                content_hash=hold.content_hash,
                status=hold.status.value,
                expires_at=hold.expires_at,
                settled_at=hold.settled_at,
                redemption_id=hold.redemption_id,
                actor=hold.actor,
                created_at=hold.created_at,
            )
        )
        lines = [
            {
                "hold_id": hold.id,
                "kind": kind,
                "position": position,
                "sku": item.sku,
                "promotion_id": item.promotion_id,
                "earned_promotion_id": item.earned_promotion_id,
                "redemption_count": item.redemption_count,
                "discount": format(item.discount, "f"),
                "discount_applied_on_quantity": format(item.discount_applied_on_quantity, "f"),
                "promotion_applied_on_quantity": format(item.promotion_applied_on_quantity, "f"),
            }
            for kind, items in ((LINE_ITEM, hold.line_items), (REDEMPTION, hold.redemptions))
            for position, item in enumerate(items)
        ]
        if lines:
            await self._session.execute(insert(hold_line_table), lines)
        if hold.allocations:
            await self._session.execute(
                insert(hold_allocation_table),
                [
                    {
                        "hold_id": hold.id,
                        "earned_promotion_id": a.earned_promotion_id,
                        "promotion_id": a.promotion_id,
                        "count": a.count,
                    }
                    for a in hold.allocations
                ],
            )

    async def settle(
        self, hold_id: str, status: HoldStatus, *, now: int, redemption_id: str | None = None
    ) -> int:
        result = await self._session.execute(
            update(hold_table)
            .where(h.id == hold_id, h.status == HoldStatus.HELD.value, h.expires_at > now)
            .values(status=status.value, settled_at=now, redemption_id=redemption_id)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
