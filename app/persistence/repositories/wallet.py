from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    String,
    and_,
    any_,
    bindparam,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import BindParameter

from app.domain.models import (
    EarnedFromType,
    EarnedPromotion,
    EarnedPromotionStatus,
    EventDetails,
    Page,
    Promotion,
    WalletPage,
)
from app.domain.paging import LazyCursors, decode_cursor
from app.persistence import direct
from app.persistence.database import dialect_of
from app.persistence.repositories.customers import chunks
from app.persistence.repositories.holds import held_counts, transaction_is_held
from app.persistence.repositories.promotions import joined_columns as promotion_columns
from app.persistence.repositories.promotions import joined_promotion_id, promotion_from_joined_row
from app.persistence.tables import earned_promotion_table, org_table, promotion_table

e = earned_promotion_table.c


def _wallet_cursor_key(entry: EarnedPromotion) -> tuple[int, str]:
    return (entry.valid_till, entry.id)


def earned_promotion_from_row(row: Any) -> EarnedPromotion:
    return EarnedPromotion(
        org_id=row.org_id,
        id=row.id,
        customer_id=row.customer_id,
        promotion_id=row.promotion_id,
        earned_from_type=EarnedFromType(row.earned_from_type),
        earned_from_id=row.earned_from_id,
        instance=row.instance,
        event_time=row.event_time,
        event_details=(
            EventDetails(id=row.event_details_id, type=row.event_details_type)
            if row.event_details_id is not None
            else None
        ),
        valid_till=row.valid_till,
        unlocks_at=row.unlocks_at,
        redemptions_allowed=row.redemptions_allowed,
        redemptions_used=row.redemptions_used,
        revoked_at=row.revoked_at,
        created_at=row.created_at,
        # Only the reads that select `held_counts` have it; the others do not need it.
        redemptions_held=int(row._mapping.get("redemptions_held") or 0),
    )


_ENTRY_FIELDS = (
    "org_id",
    "id",
    "customer_id",
    "promotion_id",
    "earned_from_type",
    "earned_from_id",
    "instance",
    "event_time",
    "event_details_id",
    "event_details_type",
    "valid_till",
    "unlocks_at",
    "redemptions_allowed",
    "redemptions_used",
    "revoked_at",
    "created_at",
    "redemptions_held",
)
_EARNED_FROM_TYPES = {kind.value: kind for kind in EarnedFromType}


def earned_promotions_from_rows(keys: Sequence[str], rows: Sequence[Any]) -> list[EarnedPromotion]:
    """`earned_promotion_from_row` of many rows of one result (whose column names are `keys`, with
    `redemptions_held`), by position: a wallet page maps twenty, and reading each field by name
    through the row was most of the mapping's cost."""
    index = {key: n for n, key in enumerate(keys)}
    org, id_, customer, promotion, from_type, from_id, instance, event_time = (
        index[f] for f in _ENTRY_FIELDS[:8]
    )
    details_id, details_type, valid_till, unlocks_at, allowed, used, revoked, created, held = (
        index[f] for f in _ENTRY_FIELDS[8:]
    )
    return [
        EarnedPromotion(
            org_id=row[org],
            id=row[id_],
            customer_id=row[customer],
            promotion_id=row[promotion],
            earned_from_type=_EARNED_FROM_TYPES[row[from_type]],
            earned_from_id=row[from_id],
            instance=row[instance],
            event_time=row[event_time],
            event_details=(
                EventDetails(id=row[details_id], type=row[details_type])
                if row[details_id] is not None
                else None
            ),
            valid_till=row[valid_till],
            unlocks_at=row[unlocks_at],
            redemptions_allowed=row[allowed],
            redemptions_used=row[used],
            revoked_at=row[revoked],
            created_at=row[created],
            redemptions_held=int(row[held] or 0),
        )
        for row in rows
    ]


def earned_promotion_to_row(entry: EarnedPromotion) -> dict[str, Any]:
    return {
        "id": entry.id,
        "org_id": entry.org_id,
        "customer_id": entry.customer_id,
        "promotion_id": entry.promotion_id,
        "earned_from_type": entry.earned_from_type.value,
        "earned_from_id": entry.earned_from_id,
        "instance": entry.instance,
        "event_time": entry.event_time,
        "event_details_id": entry.event_details.id if entry.event_details else None,
        "event_details_type": entry.event_details.type if entry.event_details else None,
        "valid_till": entry.valid_till,
        "unlocks_at": entry.unlocks_at,
        "redemptions_allowed": entry.redemptions_allowed,
        "redemptions_used": entry.redemptions_used,
        "revoked_at": entry.revoked_at,
        "created_at": entry.created_at,
    }


def status_condition(status: EarnedPromotionStatus, now: int | BindParameter[int]) -> ColumnElement[bool]:
    """SQL form of `rules.earned_status` (a unit test keeps the two in step)."""
    live = and_(e.revoked_at.is_(None), e.redemptions_used < e.redemptions_allowed)
    if status is EarnedPromotionStatus.REVOKED:
        return e.revoked_at.is_not(None)
    if status is EarnedPromotionStatus.REDEEMED:
        return and_(e.revoked_at.is_(None), e.redemptions_used >= e.redemptions_allowed)
    if status is EarnedPromotionStatus.EXPIRED:
        return and_(live, e.valid_till < now)
    if status is EarnedPromotionStatus.LOCKED:
        return and_(live, e.valid_till >= now, e.unlocks_at > now)
    return and_(live, e.valid_till >= now, e.unlocks_at <= now)


@cache
def _view_statement(
    statuses: tuple[EarnedPromotionStatus, ...],
    by_promotion: bool,
    after_cursor: bool,
    *,
    with_count: bool,
    with_promotions: bool,
    with_timezone: bool,
) -> direct.DirectStatement:
    """The wallet read of this shape, built once with bound parameters (org_id, customer_id, now,
    limit, promotion_id, after_valid_till, after_id): the hot path then neither rebuilds the
    statement nor recomputes its cache key on each call. The shapes are few (status sets, times 32)."""
    now = bindparam("now", type_=BigInteger)
    filters = [
        e.org_id == bindparam("org_id", type_=BigInteger),
        e.customer_id == bindparam("customer_id", type_=BigInteger),
    ]
    if statuses:
        filters.append(or_(*(status_condition(s, now) for s in statuses)))
    if by_promotion:
        filters.append(e.promotion_id == bindparam("promotion_id", type_=String))
    page_filters = list(filters)
    if after_cursor:
        last_valid_till = bindparam("after_valid_till", type_=BigInteger)
        last_id = bindparam("after_id", type_=String)
        page_filters.append(
            or_(e.valid_till > last_valid_till, and_(e.valid_till == last_valid_till, e.id > last_id))
        )
    columns: list[Any] = [earned_promotion_table, held_counts(e.id, now).label("redemptions_held")]
    source: Any = earned_promotion_table
    if with_promotions:
        columns.extend(promotion_columns)
        joined = and_(promotion_table.c.org_id == e.org_id, promotion_table.c.id == e.promotion_id)
        source = source.join(promotion_table, joined)
    if with_count:
        # Uncorrelated, so both databases evaluate it once per statement, not per row.
        total = select(func.count()).select_from(earned_promotion_table).where(*filters)
        columns.append(total.scalar_subquery().label("wallet_total"))
    if with_timezone:  # uncorrelated too: read once, on every row
        zone = select(org_table.c.timezone).where(org_table.c.id == bindparam("org_id", type_=BigInteger))
        columns.append(zone.scalar_subquery().label("org_timezone"))
    statement = (
        select(*columns)
        .select_from(source)
        .where(*page_filters)
        .order_by(e.valid_till, e.id)
        .limit(bindparam("limit", type_=Integer))
    )
    return direct.DirectStatement(statement)


@cache
def _promotions_with_entries_statement(with_transaction: bool, dialect: str) -> direct.DirectStatement:
    """`promotions_with_entries`' SELECT, built once per shape with bound parameters (org_id,
    customer_id, promotion_ids, now[, transaction_identifier]): it runs inside the wallet lock on
    every redemption, and building it cost more CPU than executing it. The promotion ids are one
    parameter (an array; on SQLite a JSON text), not an expanding IN: the statement runs on the
    driver connection, compiled once (direct.py)."""
    org_id = bindparam("org_id", type_=BigInteger)
    now = bindparam("now", type_=BigInteger)
    entry_of_promotion = and_(
        e.org_id == promotion_table.c.org_id,
        e.promotion_id == promotion_table.c.id,
        e.customer_id == bindparam("customer_id", type_=BigInteger),
    )
    columns: list[Any] = [
        *promotion_columns,
        earned_promotion_table,
        held_counts(e.id, now).label("redemptions_held"),
    ]
    if with_transaction:
        transaction = bindparam("transaction_identifier", type_=String)
        columns.append(transaction_is_held(org_id, transaction, now).label("transaction_held"))
    statement = (
        select(*columns)
        .select_from(promotion_table.outerjoin(earned_promotion_table, entry_of_promotion))
        .where(
            promotion_table.c.org_id == org_id,
            _among_promotion_ids(dialect),
        )
        .order_by(e.valid_till, e.id)
    )
    return direct.DirectStatement(statement)


def _among_promotion_ids(dialect: str) -> ColumnElement[bool]:
    ids = bindparam("promotion_ids", type_=ARRAY(String) if dialect == "postgresql" else String)
    if dialect == "postgresql":
        return promotion_table.c.id == any_(ids)
    return promotion_table.c.id.in_(select(func.json_each(ids).table_valued("value").c.value))


@cache
def _consume_statement(of_hold: bool) -> direct.DirectStatement:
    """`consume`'s guarded UPDATE, built once per shape with bound parameters (named b_*: an
    UPDATE reserves its columns' own names for its SET clause)."""
    now = bindparam("b_now", type_=BigInteger)
    count = bindparam("b_count", type_=Integer)
    valid = [] if of_hold else [e.unlocks_at <= now, e.valid_till >= now]
    statement = (
        update(earned_promotion_table)
        .where(
            e.id == bindparam("b_entry_id", type_=String),
            e.org_id == bindparam("b_org_id", type_=BigInteger),
            e.customer_id == bindparam("b_customer_id", type_=BigInteger),
            e.revoked_at.is_(None),
            e.redemptions_used + count + held_counts(e.id, now) <= e.redemptions_allowed,
            *valid,
        )
        .values(redemptions_used=e.redemptions_used + count)
    )
    return direct.DirectStatement(statement)


class WalletRepository:
    """Wallet entries (earned promotions)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    def _filters(
        self,
        org_id: int,
        customer_id: int,
        statuses: Sequence[EarnedPromotionStatus] | None,
        promotion_id: str | None,
        now: int,
    ) -> list[ColumnElement[bool]]:
        return [
            e.org_id == org_id,
            e.customer_id == customer_id,
            or_(*(status_condition(s, now) for s in statuses)) if statuses else true(),
            e.promotion_id == promotion_id if promotion_id else true(),
        ]

    async def view(
        self,
        org_id: int,
        customer_id: int,
        *,
        statuses: Sequence[EarnedPromotionStatus] | None,
        promotion_id: str | None,
        first: int,
        after: str | None,
        now: int,
        with_count: bool,
        with_promotions: bool,
        with_timezone: bool = False,
    ) -> WalletPage:
        """A page (soonest-expiring first: ordered by (validTill, id)) and, in the same statement,
        the promotions its entries name and the total of the filtered wallet: one round trip for
        the hot read path. Only an empty page after a cursor needs a second one for its total."""
        query = _view_statement(
            tuple(statuses) if statuses else (),
            bool(promotion_id),
            bool(after),
            with_count=with_count,
            with_promotions=with_promotions,
            with_timezone=with_timezone,
        )
        params: dict[str, Any] = {
            "org_id": org_id,
            "customer_id": customer_id,
            "now": now,
            "limit": first + 1,
        }
        if promotion_id:
            params["promotion_id"] = promotion_id
        if after:
            params["after_valid_till"], params["after_id"] = decode_cursor(after, int, str)
        rows = await direct.rows(self._session, query, params)
        items = earned_promotions_from_rows(query.keys, rows[:first])
        promotions: dict[str, Promotion] = {}
        if with_promotions:
            for row in rows[:first]:
                if row.promotion_id not in promotions:
                    promotions[row.promotion_id] = promotion_from_joined_row(row)
        total_count: int | None = None
        if with_count:
            if rows:
                total_count = int(rows[0].wallet_total)
            elif not after:
                total_count = 0  # no row matches the filters at all
            else:
                total_count = await self.count(
                    org_id, customer_id, statuses=statuses, promotion_id=promotion_id, now=now
                )
        page = Page(
            items=items,
            cursors=LazyCursors(items, _wallet_cursor_key),
            has_next_page=len(rows) > first,
        )
        timezone = rows[0].org_timezone if with_timezone and rows else None
        return WalletPage(page=page, total_count=total_count, promotions=promotions, timezone=timezone)

    async def count(
        self,
        org_id: int,
        customer_id: int,
        *,
        statuses: Sequence[EarnedPromotionStatus] | None,
        promotion_id: str | None,
        now: int,
    ) -> int:
        result = await self._session.execute(
            select(func.count())
            .select_from(earned_promotion_table)
            .where(*self._filters(org_id, customer_id, statuses, promotion_id, now))
        )
        return int(result.scalar_one())

    async def get_many(
        self, org_id: int, entry_ids: Sequence[str], *, now: int | None = None
    ) -> dict[str, EarnedPromotion]:
        found: dict[str, EarnedPromotion] = {}
        columns: list[Any] = [earned_promotion_table]
        if now is not None:
            columns.append(held_counts(e.id, now).label("redemptions_held"))
        for chunk in chunks(list(set(entry_ids))):
            rows = await self._session.execute(select(*columns).where(e.org_id == org_id, e.id.in_(chunk)))
            found.update({row.id: earned_promotion_from_row(row) for row in rows})
        return found

    # --- Writes of redeem and revoke. The callers hold the customer's wallet lock; the WHERE
    # guards below are a second line of defence that makes an over-redemption impossible even
    # if a caller forgot it: they return how many rows changed and the caller checks it.

    async def promotions_with_entries(
        self,
        org_id: int,
        customer_id: int,
        promotion_ids: Sequence[str],
        *,
        now: int,
        transaction_identifier: str | None = None,
    ) -> tuple[dict[str, Promotion], list[EarnedPromotion], bool]:
        """These promotions (those that exist, by id) and all of the customer's entries of them,
        soonest-expiring first, with what live holds reserve of each, and whether a live hold
        holds the transaction: one statement, for the redemption path (which holds the wallet
        lock meanwhile, so every round trip saved shortens it)."""
        if not promotion_ids:
            return {}, [], False
        dialect = dialect_of(self._session)
        ids = list(set(promotion_ids))
        parameters: dict[str, Any] = {
            "org_id": org_id,
            "customer_id": customer_id,
            "promotion_ids": ids if dialect == "postgresql" else orjson.dumps(ids).decode(),
            "now": now,
        }
        if transaction_identifier is not None:
            parameters["transaction_identifier"] = transaction_identifier
        rows = await direct.rows(
            self._session,
            _promotions_with_entries_statement(transaction_identifier is not None, dialect),
            parameters,
        )
        promotions: dict[str, Promotion] = {}
        entries: list[EarnedPromotion] = []
        held = False
        for row in rows:
            held = held or bool(row._mapping.get("transaction_held"))
            promotion_id = joined_promotion_id(row)
            if promotion_id not in promotions:  # one promotion, many entry rows: build it once
                promotions[promotion_id] = promotion_from_joined_row(row)
            if row.id is not None:  # the outer join's NULLs: a promotion the customer holds none of
                entries.append(earned_promotion_from_row(row))
        return promotions, entries, held

    async def consume(
        self, org_id: int, customer_id: int, entry_id: str, count: int, *, now: int, of_hold: bool = False
    ) -> int:
        """Use `count` redemptions of an entry if it is still unlocked with that many left beyond
        what live holds reserve (`of_hold`: validity was checked when the counts were held)."""
        return await direct.rowcount(
            self._session,
            _consume_statement(of_hold),
            {
                "b_entry_id": entry_id,
                "b_org_id": org_id,
                "b_customer_id": customer_id,
                "b_count": count,
                "b_now": now,
            },
        )

    async def revoke(self, org_id: int, customer_id: int, entry_ids: Sequence[str], *, now: int) -> int:
        """Mark unredeemed, unrevoked entries revoked."""
        changed = 0
        for chunk in chunks(list(entry_ids)):
            result = await self._session.execute(
                update(earned_promotion_table)
                .where(
                    e.id.in_(chunk),
                    e.org_id == org_id,
                    e.customer_id == customer_id,
                    e.revoked_at.is_(None),
                    e.redemptions_used == 0,
                    held_counts(e.id, now) == 0,
                )
                .values(revoked_at=now)
            )
            changed += int(result.rowcount)  # type: ignore[attr-defined]
        return changed

    async def restore(self, org_id: int, customer_id: int, entry_id: str, count: int) -> int:
        """Give `count` used redemptions back, never below zero used."""
        result = await self._session.execute(
            update(earned_promotion_table)
            .where(
                e.id == entry_id,
                e.org_id == org_id,
                e.customer_id == customer_id,
                e.redemptions_used >= count,
            )
            .values(redemptions_used=e.redemptions_used - count)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
