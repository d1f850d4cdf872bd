"""Wallet entries written straight through the repositories, for tests of reads and statuses.

`add_wallet_entry` builds the entry the way issue/earn do (app.domain.earning), inserts it with
`uow.earnings.insert_new`, then sets any column the test wants (redemptions_used, revoked_at,
valid_till, unlocks_at) with an SQL update in the same transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update

from app.domain.clock import now_ms
from app.domain.earning import new_earned_promotion
from app.domain.ids import new_object_id
from app.domain.models import EarnedFromType, EventDetails, Promotion
from app.persistence.database import Database
from app.persistence.tables import earned_promotion_table
from app.persistence.uow import SqlUnitOfWork


async def get_promotion(database: Database, org_id: int, promotion_id: str) -> Promotion:
    async with SqlUnitOfWork(database) as uow:
        promotion = await uow.promotions.get(org_id, promotion_id)
    assert promotion is not None, promotion_id
    return promotion


async def add_wallet_entry(
    database: Database,
    *,
    org_id: int,
    promotion_id: str,
    customer_id: int,
    earned_from_id: str | None = None,
    event_time: int | None = None,
    timezone: str = "Asia/Kolkata",
    **columns: Any,
) -> str:
    """One wallet entry; `columns` overrides earned_promotion columns after the insert."""
    promotion = await get_promotion(database, org_id, promotion_id)
    now = now_ms()
    source = earned_from_id or f"ctx-{new_object_id()}"
    entry = new_earned_promotion(
        entry_id=new_object_id(now),
        promotion=promotion,
        customer_id=customer_id,
        earned_from_type=EarnedFromType.BULK_ISSUE,
        earned_from_id=source,
        instance=1,
        event_time=now if event_time is None else event_time,
        event_details=EventDetails(id=source, type=EarnedFromType.BULK_ISSUE.value),
        timezone=timezone,
        now=now,
    )
    async with SqlUnitOfWork(database, write=True) as uow:
        inserted = await uow.earnings.insert_new([entry])
        assert inserted == {entry.id}
        if columns:
            await uow.session.execute(
                update(earned_promotion_table)
                .where(earned_promotion_table.c.id == entry.id)
                .values(**columns)
            )
        await uow.commit()
    return entry.id
