from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    String,
    and_,
    any_,
    bindparam,
    exists,
    insert,
    literal,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import FromClause

from app.domain.models import Customer, CustomerIdentifierType, Org
from app.persistence import direct
from app.persistence.database import dialect_of
from app.persistence.id_sets import id_rows, keyed_id_rows, text_rows, value_rows
from app.persistence.repositories.orgs import JOINED_PREFIX as ORG_PREFIX
from app.persistence.repositories.orgs import joined_columns as org_columns
from app.persistence.repositories.orgs import org_from_row
from app.persistence.tables import customer_identifier_table, customer_table, org_table

T = TypeVar("T")

# Bound parameters per statement stay well under SQLite's and asyncpg's limits (32766 / 32767).
ID_CHUNK = 5000

_IDENTIFIER_FIELD = {
    CustomerIdentifierType.MOBILE: "mobile",
    CustomerIdentifierType.EMAIL: "email",
    CustomerIdentifierType.EXTERNAL_ID: "external_id",
}
_MOBILE = CustomerIdentifierType.MOBILE.value
_EMAIL = CustomerIdentifierType.EMAIL.value
_EXTERNAL_ID = CustomerIdentifierType.EXTERNAL_ID.value


def _by_org(customers: Sequence[Customer]) -> dict[int, list[Customer]]:
    groups: dict[int, list[Customer]] = {}
    for customer in customers:
        groups.setdefault(customer.org_id, []).append(customer)
    return groups


def chunks(items: Sequence[T], size: int = ID_CHUNK) -> Iterable[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _customers_with_identifiers() -> Select[Any]:
    """Each customer's id with each of its identifiers (one row per identifier; a customer without
    any gives one row of nulls)."""
    return (
        select(
            customer_table.c.id,
            customer_identifier_table.c.type,
            customer_identifier_table.c.value,
        )
        .select_from(customer_table)
        .outerjoin(
            customer_identifier_table,
            and_(
                customer_identifier_table.c.org_id == customer_table.c.org_id,
                customer_identifier_table.c.customer_id == customer_table.c.id,
            ),
        )
    )


@cache
def _with_identifiers_statement(lock: bool) -> Select[Any]:
    """The customers (org_id, customer_ids) with their identifiers, `lock`ing their rows (the
    wallet lock, taken by the read itself: one round trip instead of two). Built once per shape
    with bound parameters: every redemption reads its customer this way inside the lock."""
    query = _customers_with_identifiers().where(
        customer_table.c.org_id == bindparam("org_id", type_=BigInteger),
        customer_table.c.id.in_(bindparam("customer_ids", expanding=True, type_=BigInteger)),
    )
    if lock:
        query = query.with_for_update(of=customer_table)
    return query


@cache
def _one_with_identifiers_statement(lock: bool) -> direct.DirectStatement:
    """`_with_identifiers_statement` of one customer (`customer_id`), with its org's columns,
    run on the driver connection: the redemption path reads and locks its customer this way,
    and every write reads the org next (one round trip instead of two)."""
    query = (
        _customers_with_identifiers()
        .add_columns(*org_columns)
        .join(org_table, org_table.c.id == customer_table.c.org_id)
        .where(
            customer_table.c.org_id == bindparam("org_id", type_=BigInteger),
            customer_table.c.id == bindparam("customer_id", type_=BigInteger),
        )
    )
    if lock:
        query = query.with_for_update(of=customer_table)
    return direct.DirectStatement(query)


def _among_texts(column: ColumnElement[str], values: Sequence[str], *, dialect: str) -> ColumnElement[bool]:
    """`column` is one of `values`. PostgreSQL: `= ANY(array)`, probed in the index or hashed;
    `IN (SELECT unnest(...))` is planned for unnest's guessed 100 rows, a nested loop that compares
    every existing identifier with every value. SQLite: `IN (SELECT value FROM json_each(...))`,
    which it builds into a temporary index; joined instead, it may scan the identifier table once
    per value."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(String)))
    return column.in_(select(text_rows(values, dialect=dialect).c.value))


class CustomerRepository:
    def __init__(self, session: AsyncSession, known_orgs: dict[int, Org] | None = None) -> None:
        """`known_orgs`: where `get` leaves the org it read with the customer (OrgRepository's)."""
        self._session = session
        self._known_orgs = {} if known_orgs is None else known_orgs

    @property
    def _is_sqlite(self) -> bool:
        return dialect_of(self._session) == "sqlite"

    async def _with_identifiers(
        self, org_id: int, customer_ids: Sequence[int], *, lock_wallet: bool = False
    ) -> list[Customer]:
        query = _with_identifiers_statement(lock_wallet and not self._is_sqlite)
        found: dict[int, dict[str, str]] = {}
        for row in await self._session.execute(
            query, {"org_id": org_id, "customer_ids": list(customer_ids)}
        ):
            fields = found.setdefault(row.id, {})
            if row.type is not None:
                fields[_IDENTIFIER_FIELD[CustomerIdentifierType(row.type)]] = row.value
        return [Customer(org_id=org_id, id=cid, **fields) for cid, fields in found.items()]

    async def get(self, org_id: int, customer_id: int, *, lock_wallet: bool = False) -> Customer | None:
        """`lock_wallet`: also row-lock the customer (its wallet lock) until the transaction ends,
        as `lock_wallets` does."""
        query = _one_with_identifiers_statement(lock_wallet and not self._is_sqlite)
        fields: dict[str, str] | None = None
        rows = await direct.rows(self._session, query, {"org_id": org_id, "customer_id": customer_id})
        for row in rows:
            fields = fields or {}
            if row.type is not None:
                fields[_IDENTIFIER_FIELD[CustomerIdentifierType(row.type)]] = row.value
        if rows:
            self._known_orgs[org_id] = org_from_row(org_id, rows[0], ORG_PREFIX)
        return None if fields is None else Customer(org_id=org_id, id=customer_id, **fields)

    async def get_many(self, org_id: int, customer_ids: Sequence[int]) -> dict[int, Customer]:
        result: dict[int, Customer] = {}
        for chunk in chunks(list(customer_ids)):
            for customer in await self._with_identifiers(org_id, chunk):
                result[customer.id] = customer
        return result

    async def find_id_by_identifier(
        self, org_id: int, kind: CustomerIdentifierType, value: str
    ) -> int | None:
        row = (
            await self._session.execute(
                select(customer_identifier_table.c.customer_id).where(
                    customer_identifier_table.c.org_id == org_id,
                    customer_identifier_table.c.type == kind.value,
                    customer_identifier_table.c.value == value,
                )
            )
        ).first()
        return int(row.customer_id) if row else None

    async def get_by_identifier(
        self, org_id: int, kind: CustomerIdentifierType, value: str, *, lock_wallet: bool = False
    ) -> Customer | None:
        customer_id = await self.find_id_by_identifier(org_id, kind, value)
        if customer_id is None:
            return None
        return await self.get(org_id, customer_id, lock_wallet=lock_wallet)

    async def missing_ids(self, org_id: int, customer_ids: Sequence[int]) -> set[int]:
        """Which of these ids are not customers of the org. One statement that returns only the
        missing ids (usually none): for 100k ids ~60 ms on SQLite, where fetching the 100k that
        exist took ~0.2 s."""
        ids = id_rows(customer_ids, dialect=dialect_of(self._session))
        rows = await self._session.execute(
            select(ids.c.value).where(
                ~exists().where(customer_table.c.org_id == org_id, customer_table.c.id == ids.c.value)
            )
        )
        return {int(value) for value in rows.scalars()}

    async def taken_identifiers(
        self, org_id: int, identifiers: Sequence[tuple[CustomerIdentifierType, str]]
    ) -> dict[tuple[CustomerIdentifierType, str], int]:
        """Which of these (type, value) pairs already belong to a customer, and to whom. One
        statement per type, its values sent as one bound parameter: an expanding `IN` of (type,
        value) tuples binds two parameters per pair in Python."""
        by_kind: dict[str, list[str]] = {}
        last_kind: object = None
        of_kind: list[str] = []
        for kind, value in identifiers:
            # The service sends the pairs grouped by kind: a dict look-up only where the kind changes.
            # (A StrEnum is its own value: `.value` would cost a descriptor call per pair.)
            if kind is not last_kind:
                last_kind, of_kind = kind, by_kind.setdefault(kind, [])
            of_kind.append(value)
        identifier = customer_identifier_table.c
        dialect = dialect_of(self._session)
        custom_plans = dialect == "postgresql" and len(identifiers) > ID_CHUNK
        if custom_plans:
            # asyncpg prepares each statement once per connection, and from its sixth run
            # PostgreSQL may plan it generically, without the array's length: then every value
            # is an index probe where a plan for 100,000 values hashes them (a few thousand
            # probes cost less than the two statements). Only for these statements: the
            # foreign-key checks of the inserts that follow would be planned again for every row.
            await self._session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
        taken: dict[tuple[CustomerIdentifierType, str], int] = {}
        for kind_value, values in by_kind.items():
            rows = await self._session.execute(
                select(identifier.value, identifier.customer_id).where(
                    identifier.org_id == org_id,
                    identifier.type == kind_value,
                    _among_texts(identifier.value, values, dialect=dialect),
                )
            )
            kind = CustomerIdentifierType(kind_value)
            for row in rows:
                taken[(kind, row.value)] = int(row.customer_id)
        if custom_plans:
            await self._session.execute(text("SET LOCAL plan_cache_mode TO DEFAULT"))
        return taken

    async def add_many(self, customers: Sequence[Customer], *, created_at: int) -> None:
        """INSERT ... SELECT statements, customers then their identifiers, each reading its
        rows from one bound row source (`value_rows`) instead of binding every value in Python;
        the caller has already filtered out duplicates."""
        if not customers:
            return
        dialect = dialect_of(self._session)
        if dialect == "sqlite":
            for org_id, group in _by_org(customers).items():
                await self._add_many_sqlite(org_id, group, created_at=created_at)
            return
        people = value_rows(
            {
                "org_id": (BigInteger(), [c.org_id for c in customers]),
                "id": (BigInteger(), [c.id for c in customers]),
            },
            dialect=dialect,
        )
        await self._session.execute(
            insert(customer_table).from_select(
                ["org_id", "id", "created_at"],
                select(people.c.org_id, people.c.id, literal(created_at, BigInteger())),
            )
        )
        owners: list[int] = []
        org_ids: list[int] = []
        kinds: list[str] = []
        values: list[str] = []
        for c in customers:
            for kind, value in ((_MOBILE, c.mobile), (_EMAIL, c.email), (_EXTERNAL_ID, c.external_id)):
                if value is not None:
                    org_ids.append(c.org_id)
                    owners.append(c.id)
                    kinds.append(kind)
                    values.append(value)
        if not values:
            return
        identifiers = value_rows(
            {
                "org_id": (BigInteger(), org_ids),
                "customer_id": (BigInteger(), owners),
                "type": (String(), kinds),
                "value": (String(), values),
            },
            dialect=dialect,
        )
        await self._session.execute(
            insert(customer_identifier_table).from_select(
                ["org_id", "customer_id", "type", "value"],
                select(*(identifiers.c[name] for name in ("org_id", "customer_id", "type", "value"))),
            )
        )

    async def _add_many_sqlite(self, org_id: int, customers: Sequence[Customer], *, created_at: int) -> None:
        """One org's customers: their ids as one JSON array, then per kind of identifier one
        JSON object of value -> customer id (`keyed_id_rows`), the org, kind and time bound once:
        no json_extract per column of every row."""
        ids = id_rows([c.id for c in customers], dialect="sqlite")
        org = literal(org_id, BigInteger())
        await self._session.execute(
            insert(customer_table).from_select(
                ["org_id", "id", "created_at"], select(org, ids.c.value, literal(created_at, BigInteger()))
            )
        )
        for kind, field in _IDENTIFIER_FIELD.items():
            owners = [(value, c.id) for c in customers if (value := getattr(c, field)) is not None]
            if not owners:
                continue
            by_value = dict(owners)
            if len(by_value) < len(owners):
                # A value twice: let the primary key refuse it, as it would any other insert.
                rows: FromClause = value_rows(
                    {
                        "value": (String(), [value for value, _ in owners]),
                        "customer_id": (BigInteger(), [owner for _, owner in owners]),
                    },
                    dialect="sqlite",
                )
                source = select(org, rows.c.customer_id, literal(kind.value, String()), rows.c.value)
            else:
                pairs = keyed_id_rows(by_value)
                source = select(org, pairs.c.value, literal(kind.value, String()), pairs.c.key)
            await self._session.execute(
                insert(customer_identifier_table).from_select(
                    ["org_id", "customer_id", "type", "value"], source
                )
            )

    async def lock_wallet(self, org_id: int, customer_id: int) -> bool:
        """Existence and lock in one round trip: on PostgreSQL the customer row FOR UPDATE, so
        concurrent writers of one wallet serialise (SQLite: the unit of work already holds the
        database write lock)."""
        query = select(customer_table.c.id).where(
            customer_table.c.org_id == org_id, customer_table.c.id == customer_id
        )
        if not self._is_sqlite:
            query = query.with_for_update()
        return (await self._session.execute(query)).first() is not None

    async def lock_wallets(self, org_id: int, customer_ids: Sequence[int]) -> None:
        """Row-lock the customers (PostgreSQL), in id order so two lockers never deadlock.
        On SQLite the unit of work already holds the database write lock."""
        if self._is_sqlite:
            return
        for chunk in chunks(sorted(set(customer_ids))):
            await self._session.execute(
                select(customer_table.c.id)
                .where(customer_table.c.org_id == org_id, customer_table.c.id.in_(chunk))
                .order_by(customer_table.c.id)
                .with_for_update()
            )
