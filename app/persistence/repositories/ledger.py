from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.models import LedgerEntry
from app.persistence.repositories.customers import chunks
from app.persistence.tables import wallet_ledger_table


class LedgerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def append(self, entries: Sequence[LedgerEntry]) -> None:
        rows = [
            {
                "org_id": x.org_id,
                "customer_id": x.customer_id,
                "promotion_id": x.promotion_id,
                "earned_promotion_id": x.earned_promotion_id,
                "kind": x.kind.value,
                "quantity": x.quantity,
                "actor": x.actor,
                "source": x.source,
                "created_at": x.created_at,
            }
            for x in entries
        ]
        for chunk in chunks(rows, 3000):
            # A parameter list, not .values([...]): compiled once, sent as multi-row VALUES pages.
            await self._session.execute(insert(wallet_ledger_table), list(chunk))
