"""Queries and writes of issue and earn: idempotent inserts keyed by the earning key, and the
lookups their checks need (713, earn limits, what already exists)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.models import EarnedFromType, EarnedPromotion
from app.persistence.repositories.customers import chunks
from app.persistence.repositories.wallet import earned_promotion_from_row, earned_promotion_to_row
from app.persistence.tables import earned_promotion_table

e = earned_promotion_table.c

# Rows per multi-row INSERT: 16 columns each, under the drivers' bound-parameter limits.
INSERT_CHUNK = 1500
EARNING_KEY = ["org_id", "customer_id", "promotion_id", "earned_from_id", "instance"]


class EarningRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @property
    def _dialect(self) -> str:
        return self._session.bind.dialect.name if self._session.bind is not None else "sqlite"

    async def insert_new(self, entries: Sequence[EarnedPromotion]) -> set[str]:
        """Multi-row INSERTs that skip any entry whose earning key already exists (an earlier or
        concurrent identical request). Returns the ids actually inserted."""
        inserted: set[str] = set()
        insert_fn = pg_insert if self._dialect == "postgresql" else sqlite_insert
        for chunk in chunks(list(entries), INSERT_CHUNK):
            statement = (
                insert_fn(earned_promotion_table)
                .values([earned_promotion_to_row(entry) for entry in chunk])
                .on_conflict_do_nothing(index_elements=EARNING_KEY)
                .returning(e.id)
            )
            inserted.update((await self._session.execute(statement)).scalars())
        return inserted

    async def earned_from_types(
        self, org_id: int, promotion_id: str, earned_from_id: str
    ) -> set[EarnedFromType]:
        """The earnedFromTypes already used with this (promotion, earnedFromId), for rule 713."""
        rows = await self._session.execute(
            select(e.earned_from_type)
            .where(e.org_id == org_id, e.promotion_id == promotion_id, e.earned_from_id == earned_from_id)
            .distinct()
        )
        return {EarnedFromType(value) for value in rows.scalars()}

    async def earn_counts(
        self, org_id: int, promotion_id: str, customer_ids: Sequence[int]
    ) -> dict[int, int]:
        """How many unrevoked entries of this promotion each customer holds (for maxEarnsPerCustomer)."""
        counts: dict[int, int] = {}
        for chunk in chunks(list(customer_ids)):
            rows = await self._session.execute(
                select(e.customer_id, func.count())
                .where(
                    e.org_id == org_id,
                    e.promotion_id == promotion_id,
                    e.customer_id.in_(chunk),
                    e.revoked_at.is_(None),
                )
                .group_by(e.customer_id)
            )
            counts.update({int(customer_id): int(count) for customer_id, count in rows.tuples()})
        return counts

    async def existing_for_source(
        self, org_id: int, promotion_id: str, earned_from_id: str, customer_ids: Sequence[int]
    ) -> dict[int, list[EarnedPromotion]]:
        """Entries already made from this (promotion, earnedFromId), per customer, by instance."""
        found: dict[int, list[EarnedPromotion]] = defaultdict(list)
        for chunk in chunks(list(customer_ids)):
            rows = await self._session.execute(
                select(earned_promotion_table)
                .where(
                    e.org_id == org_id,
                    e.promotion_id == promotion_id,
                    e.earned_from_id == earned_from_id,
                    e.customer_id.in_(chunk),
                )
                .order_by(e.customer_id, e.instance)
            )
            for row in rows:
                found[int(row.customer_id)].append(earned_promotion_from_row(row))
        return dict(found)
