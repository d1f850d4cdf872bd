from __future__ import annotations

from sqlalchemy import BigInteger, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.models import Org, OrgSettings
from app.persistence import direct
from app.persistence.database import dialect_of
from app.persistence.tables import org_table

# Built once: every write use case reads the caller's org, and building the SELECT and its cache
# key on each call cost more CPU than executing it.
_GET = direct.DirectStatement(
    select(org_table).where(org_table.c.id == bindparam("org_id", type_=BigInteger))
)


class OrgRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, org_id: int) -> Org | None:
        found = await direct.rows(self._session, _GET, {"org_id": org_id})
        if not found:
            return None
        row = found[0]
        return Org(
            id=row.id,
            name=row.name,
            settings=OrgSettings(
                timezone=row.timezone,
                max_active_promotions=row.max_active_promotions,
                redemption_without_evaluation=row.redemption_without_evaluation,
                web_engage_account_id=row.web_engage_account_id,
            ),
        )

    async def add(self, org: Org, *, created_at: int) -> None:
        await self._session.execute(
            insert(org_table).values(
                id=org.id,
                name=org.name,
                timezone=org.settings.timezone,
                max_active_promotions=org.settings.max_active_promotions,
                redemption_without_evaluation=org.settings.redemption_without_evaluation,
                web_engage_account_id=org.settings.web_engage_account_id,
                created_at=created_at,
            )
        )

    async def save_settings(self, org_id: int, settings: OrgSettings) -> None:
        await self._session.execute(
            update(org_table)
            .where(org_table.c.id == org_id)
            .values(
                timezone=settings.timezone,
                max_active_promotions=settings.max_active_promotions,
                redemption_without_evaluation=settings.redemption_without_evaluation,
                web_engage_account_id=settings.web_engage_account_id,
            )
        )

    async def lock(self, org_id: int) -> None:
        """Serialise org-wide decisions (the active-promotion cap) on PostgreSQL; on SQLite the
        unit of work already holds the database write lock."""
        if dialect_of(self._session) == "sqlite":
            return
        await self._session.execute(select(org_table.c.id).where(org_table.c.id == org_id).with_for_update())
