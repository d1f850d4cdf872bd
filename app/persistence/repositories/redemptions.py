from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, exists, func, insert, select, text, true
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.models import (
    Consumption,
    CustomerIdentifierType,
    LedgerEntry,
    Page,
    Redemption,
    RedemptionLine,
    Reversal,
    ReversalLine,
)
from app.domain.paging import decode_cursor, encode_cursor
from app.persistence import direct
from app.persistence.database import dialect_of
from app.persistence.repositories.ledger import LedgerRepository, ledger_rows
from app.persistence.tables import (
    redemption_consumption_table,
    redemption_line_table,
    redemption_reversal_line_table,
    redemption_reversal_table,
    redemption_table,
    wallet_ledger_table,
)

r = redemption_table.c
line = redemption_line_table.c
rev = redemption_reversal_table.c
rev_line = redemption_reversal_line_table.c
LINE_ITEM = "LINE_ITEM"
REDEMPTION = "REDEMPTION"



def _insert(table: Any, columns: Sequence[str]) -> direct.DirectStatement:
    """An INSERT of these columns, each its own bound parameter: built once, given its rows as
    parameters, run on the driver connection (direct.py)."""
    return direct.DirectStatement(insert(table).values({name: bindparam(name) for name in columns}))

_LINE_COLUMNS = (
    ("kind", "varchar"),
    ("position", "integer"),
    ("sku", "varchar"),
    ("promotion_id", "varchar"),
    ("earned_promotion_id", "varchar"),
    ("redemption_count", "integer"),
    ("discount", "varchar"),
    ("discount_applied_on_quantity", "varchar"),
    ("promotion_applied_on_quantity", "varchar"),
)
_CONSUMPTION_COLUMNS = (("earned_promotion_id", "varchar"), ("promotion_id", "varchar"), ("count", "integer"))
_LEDGER_COLUMNS = (
    ("org_id", "bigint"),
    ("customer_id", "bigint"),
    ("promotion_id", "varchar"),
    ("earned_promotion_id", "varchar"),
    ("kind", "varchar"),
    ("quantity", "integer"),
    ("actor", "varchar"),
    ("source", "varchar"),
    ("created_at", "bigint"),
)
_REDEMPTION_COLUMNS = [column.name for column in redemption_table.c]
# SQLite: the redemption path's INSERTs, one per table.
_INSERT_REDEMPTION = _insert(redemption_table, _REDEMPTION_COLUMNS)
_INSERT_LINES = _insert(
    redemption_line_table, ["redemption_id", "kind", *(name for name, _ in _LINE_COLUMNS)]
)
_INSERT_CONSUMPTIONS = _insert(
    redemption_consumption_table, ["redemption_id", *(name for name, _ in _CONSUMPTION_COLUMNS)]
)


def _unnest(prefix: str, columns: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f"CAST(:{prefix}_{name} AS {kind}[])" for name, kind in columns)


def _names(columns: Sequence[tuple[str, str]]) -> str:
    return ", ".join(f'"{name}"' for name, _ in columns)


# PostgreSQL: the redemption, its lines, its consumptions and its ledger rows in one statement
# (one round trip inside the wallet lock instead of four); the rows of each table as arrays,
# unnested. Its sub-statements run as one: a duplicate transactionIdentifier fails all of it.
_PG_ADD = direct.DirectStatement(text(
    f"""WITH added AS (
  INSERT INTO {redemption_table.name} ({", ".join(f'"{n}"' for n in _REDEMPTION_COLUMNS)})
  VALUES ({", ".join(f":{n}" for n in _REDEMPTION_COLUMNS)})
), lines AS (
  INSERT INTO {redemption_line_table.name} (redemption_id, {_names(_LINE_COLUMNS)})
  SELECT CAST(:id AS varchar), * FROM unnest({_unnest("line", _LINE_COLUMNS)})
), consumed AS (
  INSERT INTO {redemption_consumption_table.name} (redemption_id, {_names(_CONSUMPTION_COLUMNS)})
  SELECT CAST(:id AS varchar), * FROM unnest({_unnest("consumed", _CONSUMPTION_COLUMNS)})
)
INSERT INTO {wallet_ledger_table.name} ({_names(_LEDGER_COLUMNS)})
SELECT * FROM unnest({_unnest("ledger", _LEDGER_COLUMNS)})"""
))


def line_from_row(row: Any) -> RedemptionLine:
    """A redemption's or a hold's line (their line tables have the same columns)."""
    return RedemptionLine(
        promotion_id=row.promotion_id,
        redemption_count=row.redemption_count,
        discount=Decimal(row.discount),
        discount_applied_on_quantity=Decimal(row.discount_applied_on_quantity),
        promotion_applied_on_quantity=Decimal(row.promotion_applied_on_quantity),
        sku=row.sku,
        earned_promotion_id=row.earned_promotion_id,
    )


class RedemptionRepository:
    def __init__(self, session: AsyncSession, ledger: LedgerRepository) -> None:
        """`ledger`: the unit of work's, which writes a redemption's ledger rows on SQLite and is
        told of them on PostgreSQL (they are written in the redemption's statement)."""
        self._session = session
        self._ledger = ledger

    async def _reversals(self, where: ColumnElement[bool]) -> list[Reversal]:
        """The reversals that `where` selects, with their lines, oldest first: two queries."""
        rows = (
            await self._session.execute(
                select(redemption_reversal_table).where(where).order_by(rev.redemption_id, rev.number)
            )
        ).all()
        if not rows:
            return []
        lines: dict[str, list[ReversalLine]] = defaultdict(list)
        for row in await self._session.execute(
            select(redemption_reversal_line_table)
            .where(rev_line.reversal_id.in_([row.id for row in rows]))
            .order_by(rev_line.reversal_id, rev_line.position)
        ):
            lines[row.reversal_id].append(
                ReversalLine(
                    promotion_id=row.promotion_id,
                    earned_promotion_id=row.earned_promotion_id,
                    redemption_count=row.redemption_count,
                )
            )
        return [
            Reversal(
                org_id=row.org_id,
                id=row.id,
                reversal_identifier=row.reversal_identifier,
                redemption_id=row.redemption_id,
                number=row.number,
                reason=row.reason,
                lines=lines[row.id],
                content_hash=row.content_hash,
                actor=row.actor,
                created_at=row.created_at,
            )
            for row in rows
        ]

    async def _assemble(self, rows: Sequence[Any]) -> list[Redemption]:
        """Redemptions with their lines, consumptions and reversals: at most four more queries for
        any page size (the reversals' two only when there are reversals)."""
        ids = [row.id for row in rows]
        lines: dict[str, dict[str, list[RedemptionLine]]] = defaultdict(lambda: defaultdict(list))
        consumed: dict[str, list[Consumption]] = defaultdict(list)
        reversals: dict[str, list[Reversal]] = defaultdict(list)
        if ids:
            for reversal in await self._reversals(rev.redemption_id.in_(ids)):
                reversals[reversal.redemption_id].append(reversal)
            for row in await self._session.execute(
                select(redemption_line_table).where(line.redemption_id.in_(ids)).order_by(line.position)
            ):
                lines[row.redemption_id][row.kind].append(line_from_row(row))
            for row in await self._session.execute(
                select(redemption_consumption_table).where(
                    redemption_consumption_table.c.redemption_id.in_(ids)
                )
            ):
                consumed[row.redemption_id].append(
                    Consumption(
                        earned_promotion_id=row.earned_promotion_id,
                        promotion_id=row.promotion_id,
                        count=row._mapping["count"],  # `row.count` is also tuple.count to a type checker
                    )
                )
        return [
            Redemption(
                org_id=row.org_id,
                id=row.id,
                customer_id=row.customer_id,
                customer_identifier_type=(
                    CustomerIdentifierType(row.customer_identifier_type)
                    if row.customer_identifier_type
                    else None
                ),
                customer_identifier_value=row.customer_identifier_value,
                transaction_identifier=row.transaction_identifier,
                transaction_number=row.transaction_number,
                transaction_date=row.transaction_date,
                amount=Decimal(row.amount),
                line_items=lines[row.id][LINE_ITEM],
                redemptions=lines[row.id][REDEMPTION],
                consumed=consumed[row.id],
                content_hash=row.content_hash,
                created_at=row.created_at,
                reversals=reversals[row.id],
            )
            for row in rows
        ]

    async def get(self, org_id: int, redemption_id: str) -> Redemption | None:
        rows = (
            await self._session.execute(
                select(redemption_table).where(r.org_id == org_id, r.id == redemption_id)
            )
        ).all()
        found = await self._assemble(rows)
        return found[0] if found else None

    async def reversals_of(self, redemption_id: str) -> list[Reversal]:
        return await self._reversals(rev.redemption_id == redemption_id)

    async def get_reversal(self, org_id: int, reversal_identifier: str) -> Reversal | None:
        found = await self._reversals(
            and_(rev.org_id == org_id, rev.reversal_identifier == reversal_identifier)
        )
        return found[0] if found else None

    async def add_reversal(self, reversal: Reversal) -> None:
        """The reversal and its lines; the unique (org, reversalIdentifier) makes a duplicate fail
        here (the unit of work raises AlreadyExists)."""
        await self._session.execute(
            insert(redemption_reversal_table).values(
                id=reversal.id,
                org_id=reversal.org_id,
                redemption_id=reversal.redemption_id,
                number=reversal.number,
                reversal_identifier=reversal.reversal_identifier,
                reason=reversal.reason,
                content_hash=reversal.content_hash,
                actor=reversal.actor,
                created_at=reversal.created_at,
            )
        )
        await self._session.execute(
            insert(redemption_reversal_line_table),
            [
                {
                    "reversal_id": reversal.id,
                    "position": position,
                    "promotion_id": x.promotion_id,
                    "earned_promotion_id": x.earned_promotion_id,
                    "redemption_count": x.redemption_count,
                }
                for position, x in enumerate(reversal.lines)
            ],
        )

    async def get_by_transaction(self, org_id: int, transaction_identifier: str) -> Redemption | None:
        rows = (
            await self._session.execute(
                select(redemption_table).where(
                    r.org_id == org_id, r.transaction_identifier == transaction_identifier
                )
            )
        ).all()
        found = await self._assemble(rows)
        return found[0] if found else None

    def _filters(
        self,
        org_id: int,
        customer_id: int | None,
        promotion_id: str | None,
        transaction_identifier: str | None,
    ) -> list[ColumnElement[bool]]:
        return [
            r.org_id == org_id,
            r.customer_id == customer_id if customer_id is not None else true(),
            r.transaction_identifier == transaction_identifier if transaction_identifier else true(),
            exists().where(line.redemption_id == r.id, line.promotion_id == promotion_id)
            if promotion_id
            else true(),
        ]

    async def page(
        self,
        org_id: int,
        *,
        customer_id: int | None,
        promotion_id: str | None,
        transaction_identifier: str | None,
        first: int,
        after: str | None,
    ) -> Page[Redemption]:
        """Newest first: ordered by id descending (ids start with the creation second)."""
        filters = self._filters(org_id, customer_id, promotion_id, transaction_identifier)
        if after:
            (last_id,) = decode_cursor(after, str)
            filters.append(r.id < last_id)
        rows = (
            await self._session.execute(
                select(redemption_table).where(*filters).order_by(r.id.desc()).limit(first + 1)
            )
        ).all()
        items = await self._assemble(rows[:first])
        return Page(
            items=items, cursors=[encode_cursor(i.id) for i in items], has_next_page=len(rows) > first
        )

    async def count(
        self,
        org_id: int,
        *,
        customer_id: int | None,
        promotion_id: str | None,
        transaction_identifier: str | None,
    ) -> int:
        result = await self._session.execute(
            select(func.count())
            .select_from(redemption_table)
            .where(*self._filters(org_id, customer_id, promotion_id, transaction_identifier))
        )
        return int(result.scalar_one())

    async def add(self, redemption: Redemption, ledger: Sequence[LedgerEntry] = ()) -> None:
        """The redemption, its lines and its consumptions, and the ledger rows that record it.
        The unique (org, transactionIdentifier) makes a concurrent duplicate fail here with
        IntegrityError."""
        row = {
            "id": redemption.id,
            "org_id": redemption.org_id,
            "customer_id": redemption.customer_id,
            "customer_identifier_type": (
                redemption.customer_identifier_type.value if redemption.customer_identifier_type else None
            ),
            "customer_identifier_value": redemption.customer_identifier_value,
            "transaction_identifier": redemption.transaction_identifier,
            "transaction_number": redemption.transaction_number,
            "transaction_date": redemption.transaction_date,
            "amount": format(redemption.amount, "f"),
            "content_hash": redemption.content_hash,
            "created_at": redemption.created_at,
        }
        lines = [
            _line_row(redemption.id, kind, position, item)
            for kind, items in ((LINE_ITEM, redemption.line_items), (REDEMPTION, redemption.redemptions))
            for position, item in enumerate(items)
        ]
        consumed = [
            {
                "redemption_id": redemption.id,
                "earned_promotion_id": c.earned_promotion_id,
                "promotion_id": c.promotion_id,
                "count": c.count,
            }
            for c in redemption.consumed
        ]
        if dialect_of(self._session) == "postgresql":
            parameters = dict(row)
            for prefix, columns, rows in (
                ("line", _LINE_COLUMNS, lines),
                ("consumed", _CONSUMPTION_COLUMNS, consumed),
                ("ledger", _LEDGER_COLUMNS, ledger_rows(ledger)),
            ):
                for name, _ in columns:
                    parameters[f"{prefix}_{name}"] = [r[name] for r in rows]
            await direct.rowcount(self._session, _PG_ADD, parameters)
            self._ledger.note(ledger)
            return
        await direct.execute_many(self._session, _INSERT_REDEMPTION, [row])
        await direct.execute_many(self._session, _INSERT_LINES, lines)
        await direct.execute_many(self._session, _INSERT_CONSUMPTIONS, consumed)
        await self._ledger.append(ledger)


def _line_row(redemption_id: str, kind: str, position: int, item: RedemptionLine) -> dict[str, Any]:
    return {
        "redemption_id": redemption_id,
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
