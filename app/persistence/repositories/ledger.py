from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.models import LedgerChanges, LedgerEntry
from app.persistence import direct
from app.persistence.repositories.customers import chunks
from app.persistence.tables import wallet_ledger_table

ledger = wallet_ledger_table
_INSERT = insert(wallet_ledger_table)  # built once: every write path appends ledger rows
_COLUMNS = ("org_id", "customer_id", "promotion_id", "earned_promotion_id", "kind", "quantity", "actor")
# The few rows of a redemption or an earn, run on the driver connection (direct.py); larger
# appends stay SQLAlchemy's multi-row VALUES pages.
_INSERT_FEW = direct.DirectStatement(
    insert(wallet_ledger_table).values(
        {name: bindparam(name) for name in (*_COLUMNS, "source", "created_at")}
    )
)
_FEW = 20


class ChangedWallets:
    """The (org, customer) pairs a unit of work wrote ledger rows for: whom to wake after its
    commit where the database does not notify by itself (SQLite; persistence/wallet_change_feed.py)."""

    def __init__(self) -> None:
        self.keys: set[tuple[int, int]] = set()

    def add(self, org_id: int, customer_ids: Sequence[int]) -> None:
        self.keys.update((org_id, customer_id) for customer_id in customer_ids)


def ledger_rows(entries: Sequence[LedgerEntry]) -> list[dict[str, Any]]:
    """The entries as the ledger table's rows (what `append` inserts, and the redemption's
    statement on PostgreSQL)."""
    return [
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


class LedgerRepository:
    def __init__(self, session: AsyncSession, changed: ChangedWallets | None = None) -> None:
        self._session = session
        self._changed = changed or ChangedWallets()

    async def last_position(self, org_id: int, customer_id: int) -> int:
        # ix_wallet_ledger_customer (org_id, customer_id, id): one index probe.
        last = await self._session.scalar(
            select(func.max(ledger.c.id)).where(
                ledger.c.org_id == org_id, ledger.c.customer_id == customer_id
            )
        )
        return int(last or 0)

    async def changed_since(
        self, org_id: int, customer_id: int, position: int, *, limit: int
    ) -> LedgerChanges:
        # The customer's rows in id order are in commit order: every write to a wallet holds its
        # wallet lock from before its first ledger row until its commit.
        rows = (
            await self._session.execute(
                select(ledger.c.id, ledger.c.earned_promotion_id)
                .where(ledger.c.org_id == org_id, ledger.c.customer_id == customer_id, ledger.c.id > position)
                .order_by(ledger.c.id)
                .limit(limit)
            )
        ).all()
        entry_ids = list(dict.fromkeys(row.earned_promotion_id for row in rows if row.earned_promotion_id))
        return LedgerChanges(
            entry_ids=entry_ids,
            position=int(rows[-1].id) if rows else position,
            complete=len(rows) < limit,
        )

    def note(self, entries: Sequence[LedgerEntry]) -> None:
        """The wallets these rows change, for the unit of work to wake their followers after its
        commit (a repository that writes ledger rows in a statement of its own tells it here)."""
        for x in entries:
            self._changed.add(x.org_id, (x.customer_id,))

    async def append(self, entries: Sequence[LedgerEntry]) -> None:
        self.note(entries)
        rows = ledger_rows(entries)
        if len(rows) <= _FEW:
            await direct.execute_many(self._session, _INSERT_FEW, rows)
            return
        for chunk in chunks(rows, 3000):
            # A parameter list, not .values([...]): compiled once, sent as multi-row VALUES pages.
            await self._session.execute(_INSERT, list(chunk))
