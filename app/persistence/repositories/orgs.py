from __future__ import annotations

from typing import Any

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


# An org's columns as another repository's statement selects them with its own rows (the
# customer's lock statement does: every write reads its customer, then its org).
JOINED_PREFIX = "org__"
joined_columns = [
    org_table.c[name].label(JOINED_PREFIX + name)
    for name in (
        "name",
        "timezone",
        "max_active_promotions",
        "redemption_without_evaluation",
        "web_engage_account_id",
    )
]


def org_from_row(org_id: int, row: Any, prefix: str = "") -> Org:
    """The org of a row that selected its columns (`prefix`: as `joined_columns` names them)."""
    values = row._mapping
    return Org(
        id=org_id,
        name=values[prefix + "name"],
        settings=OrgSettings(
            timezone=values[prefix + "timezone"],
            max_active_promotions=values[prefix + "max_active_promotions"],
            redemption_without_evaluation=values[prefix + "redemption_without_evaluation"],
            web_engage_account_id=values[prefix + "web_engage_account_id"],
        ),
    )


class OrgRepository:
    def __init__(self, session: AsyncSession, known: dict[int, Org] | None = None) -> None:
        """`known`: orgs another repository of the unit of work already read with its own rows
        (CustomerRepository.get), answered without a statement of their own."""
        self._session = session
        self._known = {} if known is None else known

    async def get(self, org_id: int) -> Org | None:
        known = self._known.get(org_id)
        if known is not None:
            return known
        found = await direct.rows(self._session, _GET, {"org_id": org_id})
        if not found:
            return None
        return org_from_row(org_id, found[0])

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
        self._known.pop(org_id, None)
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
        self._known.pop(org_id, None)  # read again once locked
        if dialect_of(self._session) == "sqlite":
            return
        await self._session.execute(select(org_table.c.id).where(org_table.c.id == org_id).with_for_update())
