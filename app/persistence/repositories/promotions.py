from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy import ColumnElement, and_, func, insert, not_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.models import Page, Promotion, PromotionStatus, PromotionType
from app.domain.paging import decode_cursor, encode_cursor
from app.persistence.tables import promotion_table

p = promotion_table.c


def _promotion(row: Any) -> Promotion:
    return Promotion(
        org_id=row.org_id,
        id=row.id,
        name=row.name,
        type=PromotionType(row.type),
        start_date=row.start_date,
        end_date=row.end_date,
        active=row.active,
        redemption_window_days=row.redemption_window_days,
        max_redemptions_per_earn=row.max_redemptions_per_earn,
        max_earns_per_customer=row.max_earns_per_customer,
        created_at=row.created_at,
    )


JOINED_PREFIX = "promotion__"
"""Label prefix of the promotion columns when a query selects them next to another table's."""

_COLUMN_NAMES = [column.name for column in promotion_table.c]
joined_columns = [column.label(JOINED_PREFIX + column.name) for column in promotion_table.c]


def joined_promotion_id(row: Any) -> str:
    """The id of the promotion of a row that selected `joined_columns`."""
    return str(row._mapping[JOINED_PREFIX + "id"])


def promotion_from_joined_row(row: Any) -> Promotion:
    """The promotion of a row that selected `joined_columns`."""
    values = row._mapping
    return _promotion(SimpleNamespace(**{name: values[JOINED_PREFIX + name] for name in _COLUMN_NAMES}))


def status_condition(status: PromotionStatus, now: int) -> ColumnElement[bool]:
    """SQL form of `rules.promotion_status` (a unit test keeps the two in step)."""
    if status is PromotionStatus.INACTIVE:
        return not_(p.active)
    if status is PromotionStatus.EXPIRED:
        return and_(p.active, p.end_date < now)
    if status is PromotionStatus.UPCOMING:
        return and_(p.active, p.end_date >= now, p.start_date > now)
    return and_(p.active, p.end_date >= now, p.start_date <= now)


class PromotionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, org_id: int, promotion_id: str) -> Promotion | None:
        row = (
            await self._session.execute(
                select(promotion_table).where(p.org_id == org_id, p.id == promotion_id)
            )
        ).first()
        return _promotion(row) if row else None

    async def get_many(self, org_id: int, promotion_ids: Sequence[str]) -> dict[str, Promotion]:
        if not promotion_ids:
            return {}
        rows = await self._session.execute(
            select(promotion_table).where(p.org_id == org_id, p.id.in_(set(promotion_ids)))
        )
        return {row.id: _promotion(row) for row in rows}

    async def add(self, promotion: Promotion) -> None:
        await self._session.execute(
            insert(promotion_table).values(
                id=promotion.id,
                org_id=promotion.org_id,
                name=promotion.name,
                type=promotion.type.value,
                start_date=promotion.start_date,
                end_date=promotion.end_date,
                active=promotion.active,
                redemption_window_days=promotion.redemption_window_days,
                max_redemptions_per_earn=promotion.max_redemptions_per_earn,
                max_earns_per_customer=promotion.max_earns_per_customer,
                created_at=promotion.created_at,
            )
        )

    async def count_active(self, org_id: int, *, now: int) -> int:
        """Promotions counting toward the org cap: active and not past their end date."""
        result = await self._session.execute(
            select(func.count())
            .select_from(promotion_table)
            .where(p.org_id == org_id, p.active, p.end_date >= now)
        )
        return int(result.scalar_one())

    def _filters(
        self, org_id: int, status: PromotionStatus | None, type_: PromotionType | None, now: int
    ) -> list[ColumnElement[bool]]:
        return [
            p.org_id == org_id,
            status_condition(status, now) if status else true(),
            p.type == type_.value if type_ else true(),
        ]

    async def page(
        self,
        org_id: int,
        *,
        status: PromotionStatus | None,
        type_: PromotionType | None,
        first: int,
        after: str | None,
        now: int,
    ) -> Page[Promotion]:
        filters = self._filters(org_id, status, type_, now)
        if after:
            (last_id,) = decode_cursor(after, str)
            filters.append(p.id > last_id)
        rows = (
            await self._session.execute(
                select(promotion_table).where(*filters).order_by(p.id).limit(first + 1)
            )
        ).all()
        items = [_promotion(row) for row in rows[:first]]
        return Page(
            items=items, cursors=[encode_cursor(i.id) for i in items], has_next_page=len(rows) > first
        )

    async def count(
        self, org_id: int, *, status: PromotionStatus | None, type_: PromotionType | None, now: int
    ) -> int:
        result = await self._session.execute(
            select(func.count())
            .select_from(promotion_table)
            .where(*self._filters(org_id, status, type_, now))
        )
        return int(result.scalar_one())
