"""The grouped lookups of earnPromotions: one statement each for the whole request, however many
entries it has (the per-key methods of `EarningRepository` would cost one per entry)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.earn_rules import EarningKey
from app.domain.models import EarnedFromType, EarnedPromotion
from app.persistence.database import dialect_of
from app.persistence.repositories.customers import chunks
from app.persistence.repositories.wallet import earned_promotion_from_row
from app.persistence.tables import customer_table, earned_promotion_table

e = earned_promotion_table.c
c = customer_table.c

# Keys per statement: two bound parameters each, well under the drivers' limits. The service
# never asks for more keys than MAX_EARN_ENTRIES, so this is one statement in practice.
KEY_CHUNK = 2000


class EarnQueries:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    @property
    def _is_sqlite(self) -> bool:
        return dialect_of(self._session) == "sqlite"

    async def lock_customer(self, org_id: int, customer_id: int) -> bool:
        """Whether the customer exists in the org; on PostgreSQL also row-locks it until the end
        of the transaction, so concurrent earns for one customer serialise and the earn limit
        holds across earnedFromIds. (SQLite: the unit of work already holds the write lock.)
        Same lock as `CustomerRepository.lock_wallets`, with the existence check in one trip."""
        query = select(c.id).where(c.org_id == org_id, c.id == customer_id)
        if not self._is_sqlite:
            query = query.with_for_update()
        return (await self._session.execute(query)).first() is not None

    async def earned_from_types(
        self, org_id: int, keys: Sequence[EarningKey]
    ) -> dict[EarningKey, set[EarnedFromType]]:
        """The earnedFromTypes already used with each (promotion, earnedFromId) in the org (713)."""
        found: dict[EarningKey, set[EarnedFromType]] = defaultdict(set)
        for chunk in chunks(list(keys), KEY_CHUNK):
            rows = await self._session.execute(
                select(e.promotion_id, e.earned_from_id, e.earned_from_type)
                .where(
                    e.org_id == org_id,
                    tuple_(e.promotion_id, e.earned_from_id).in_(
                        [(k.promotion_id, k.earned_from_id) for k in chunk]
                    ),
                )
                .distinct()
            )
            for promotion_id, earned_from_id, earned_from_type in rows:
                found[EarningKey(promotion_id, earned_from_id)].add(EarnedFromType(earned_from_type))
        return dict(found)

    async def existing(
        self, org_id: int, customer_id: int, keys: Sequence[EarningKey]
    ) -> dict[EarningKey, list[EarnedPromotion]]:
        """This customer's entries for each earning key, by instance."""
        found: dict[EarningKey, list[EarnedPromotion]] = defaultdict(list)
        for chunk in chunks(list(keys), KEY_CHUNK):
            rows = await self._session.execute(
                select(earned_promotion_table)
                .where(
                    e.org_id == org_id,
                    e.customer_id == customer_id,
                    tuple_(e.promotion_id, e.earned_from_id).in_(
                        [(k.promotion_id, k.earned_from_id) for k in chunk]
                    ),
                )
                .order_by(e.promotion_id, e.earned_from_id, e.instance)
            )
            for row in rows:
                found[EarningKey(row.promotion_id, row.earned_from_id)].append(earned_promotion_from_row(row))
        return dict(found)

    async def earn_counts(
        self, org_id: int, customer_id: int, promotion_ids: Sequence[str]
    ) -> dict[str, int]:
        """How many unrevoked entries of each promotion the customer holds (maxEarnsPerCustomer)."""
        if not promotion_ids:
            return {}
        rows = await self._session.execute(
            select(e.promotion_id, func.count())
            .where(
                e.org_id == org_id,
                e.customer_id == customer_id,
                e.promotion_id.in_(sorted(set(promotion_ids))),
                e.revoked_at.is_(None),
            )
            .group_by(e.promotion_id)
        )
        return {promotion_id: int(count) for promotion_id, count in rows}
