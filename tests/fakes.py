"""An in-memory unit of work that implements the ports of `app/domain/ports.py`, for service tests.

The store holds tables as dicts keyed like the SQL schema's primary keys and unique constraints
(`persistence/tables.py`), so the services' idempotency rules meet the same uniqueness the
database enforces. Each repository method mirrors its SQL twin in `persistence/repositories/`:
the same filters, the same ordering, the same cursors (`domain/paging.py`), the same guards on
updates, the same "skip an existing earning key" inserts.

Transactions. A unit of work reads a snapshot of the store taken when it is entered and writes to
its own copy of it (copy on write: the stored values are frozen dataclasses, so copying the dicts
is enough). `commit()` publishes the difference to the store at once, or not at all:
- a row inserted meanwhile by another committed unit of work under the same key (a primary key
  or a unique constraint) is `AlreadyExists`, as `SqlUnitOfWork.commit` raises it;
- a row this unit of work changed that another one changed meanwhile is `ResourceLocked`, as a
  PostgreSQL serialization failure is (a 521: retry).
Leaving the `async with` without `commit()` discards the copy (rollback). A uniqueness clash met
by a statement inside the block raises a private error that the block's exit turns into
`AlreadyExists`, as `SqlUnitOfWork.__aexit__` does with `IntegrityError`; foreign keys are
checked on repository writes the same way (SQLite runs with `foreign_keys=ON`).

Stricter than SQL, to catch misuse early: a write in a unit of work opened without `write=True`
and any use of a unit of work after its `commit()` fail with `AssertionError`.

Test helpers: `FakeStore.put_*` put rows straight into the store (no unit of work, no foreign
keys); `FakeStore.state()` is a comparable picture of everything stored; the factory records every
unit of work it opened (`opened`), can refuse units of work with `ResourceLocked`
(`fail_with_lock`), and can run a concurrent writer just before the next commit
(`before_next_commit`).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, fields, replace
from types import TracebackType
from typing import Any

from app.domain.earn_rules import EarningKey
from app.domain.errors import AlreadyExists, ResourceLocked
from app.domain.history import (
    EVENT_KEY,
    GRANT_KINDS,
    HOLD_KINDS,
    AsOfSources,
    AsOfWindow,
    HeldSpan,
    HistoryPage,
    HistoryQuery,
    LedgerEvent,
    LedgerMove,
    count_of,
    event_cursor,
    shown_source,
)
from app.domain.idempotency import IdempotencyRecord, StoredResponse
from app.domain.jobs import CLAIMABLE_STATES, ChunkProgress, IssueJob, JobError, JobState, Lease
from app.domain.models import (
    ApiClientRecord,
    Customer,
    CustomerIdentifierType,
    EarnedFromType,
    EarnedPromotion,
    EarnedPromotionStatus,
    Hold,
    HoldStatus,
    LedgerChanges,
    LedgerEntry,
    LedgerKind,
    Org,
    OrgSettings,
    Page,
    Promotion,
    PromotionStatus,
    PromotionType,
    Redemption,
    Reversal,
    WalletPage,
)
from app.domain.paging import decode_cursor, encode_cursor
from app.domain.rules import counts_toward_active_cap, earned_status, promotion_status
from app.domain.wallet_changes import WalletChangeHub

EarningKeyRow = tuple[int, int, str, str, int]  # (org, customer, promotion, earnedFromId, instance)


class UniqueViolation(Exception):
    """What a statement meets on a clash (the fake's IntegrityError); out of the block it is
    `AlreadyExists`."""


@dataclass
class Tables:
    """Every table, keyed like its primary key; the unique constraints as dicts of their own."""

    orgs: dict[int, Org] = field(default_factory=dict)
    clients: dict[int, ApiClientRecord] = field(default_factory=dict)
    client_usernames: dict[str, int] = field(default_factory=dict)  # UNIQUE (username)
    tokens: dict[str, tuple[int, int]] = field(default_factory=dict)  # hash -> (client, expires_at)
    customers: dict[tuple[int, int], Customer] = field(default_factory=dict)  # (org, id)
    identifiers: dict[tuple[int, CustomerIdentifierType, str], int] = field(default_factory=dict)
    promotions: dict[str, Promotion] = field(default_factory=dict)
    entries: dict[str, EarnedPromotion] = field(default_factory=dict)
    earning_keys: dict[EarningKeyRow, str] = field(default_factory=dict)  # uq_earning_key -> entry id
    redemptions: dict[str, Redemption] = field(default_factory=dict)
    transactions: dict[tuple[int, str], str] = field(default_factory=dict)  # uq_redemption_transaction
    reversals: dict[str, Reversal] = field(default_factory=dict)
    reversal_identifiers: dict[tuple[int, str], str] = field(default_factory=dict)  # uq_reversal_identifier
    reversal_numbers: dict[tuple[str, int], str] = field(default_factory=dict)  # uq_reversal_number
    # uq_idempotency_key (client, key) -> the row (its surrogate id plays no part in any rule)
    idempotency_keys: dict[tuple[int, str], IdempotencyRecord] = field(default_factory=dict)
    holds: dict[str, Hold] = field(default_factory=dict)  # with their lines and allocations
    ledger: list[LedgerEntry] = field(default_factory=list)  # append-only
    jobs: dict[str, IssueJob] = field(default_factory=dict)
    job_ids: dict[str, tuple[int, ...]] = field(default_factory=dict)  # the job's ids, issue order
    job_missing: dict[str, tuple[int, ...]] = field(default_factory=dict)
    job_leases: dict[str, tuple[str, int]] = field(default_factory=dict)  # job -> (owner, until)

    def copy(self) -> Tables:
        return Tables(**{f.name: copy.copy(getattr(self, f.name)) for f in fields(self)})

    def keyed(self) -> dict[str, dict[Any, Any]]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "ledger"}

    # --- Inserts that enforce the keys (and, with `foreign_keys`, the references) -------------

    def insert_org(self, org: Org) -> None:
        _claim(self.orgs, org.id, org, "org")

    def insert_client(self, record: ApiClientRecord, *, foreign_keys: bool) -> None:
        if foreign_keys:
            _reference(record.org_id in self.orgs, f"org {record.org_id}")
        _claim(self.client_usernames, record.username, record.id, "api_client.username")
        _claim(self.clients, record.id, record, "api_client")

    def insert_customer(self, customer: Customer, *, foreign_keys: bool) -> None:
        if foreign_keys:
            _reference(customer.org_id in self.orgs, f"org {customer.org_id}")
        _claim(self.customers, (customer.org_id, customer.id), customer, "customer")
        for kind, value in customer.identifiers().items():
            _claim(self.identifiers, (customer.org_id, kind, value), customer.id, "customer_identifier")

    def insert_promotion(self, promotion: Promotion, *, foreign_keys: bool) -> None:
        if foreign_keys:
            _reference(promotion.org_id in self.orgs, f"org {promotion.org_id}")
        _claim(self.promotions, promotion.id, promotion, "promotion")

    def insert_entry(self, entry: EarnedPromotion, *, foreign_keys: bool) -> bool:
        """False (nothing written) when its earning key is taken: ON CONFLICT (earning key) DO
        NOTHING. Any other clash (its id) is a violation."""
        if _earning_key(entry) in self.earning_keys:
            return False
        if foreign_keys:
            _reference((entry.org_id, entry.customer_id) in self.customers, f"customer {entry.customer_id}")
            _reference(entry.promotion_id in self.promotions, f"promotion {entry.promotion_id}")
        _claim(self.entries, entry.id, entry, "earned_promotion")
        self.earning_keys[_earning_key(entry)] = entry.id
        return True

    def insert_redemption(self, redemption: Redemption, *, foreign_keys: bool) -> None:
        if foreign_keys:
            key = (redemption.org_id, redemption.customer_id)
            _reference(key in self.customers, f"customer {redemption.customer_id}")
            for consumption in redemption.consumed:
                _reference(
                    consumption.earned_promotion_id in self.entries,
                    f"earned promotion {consumption.earned_promotion_id}",
                )
        consumed = [c.earned_promotion_id for c in redemption.consumed]
        if len(set(consumed)) != len(consumed):  # PRIMARY KEY (redemption_id, earned_promotion_id)
            raise UniqueViolation("redemption_consumption: an entry consumed twice by one redemption")
        transaction = (redemption.org_id, redemption.transaction_identifier)
        if transaction in self.transactions:
            raise UniqueViolation(f"uq_redemption_transaction: {transaction}")
        _claim(self.redemptions, redemption.id, _copied(redemption), "redemption")
        self.transactions[transaction] = redemption.id

    def insert_reversal(self, reversal: Reversal, *, foreign_keys: bool) -> None:
        if foreign_keys:
            _reference(reversal.redemption_id in self.redemptions, f"redemption {reversal.redemption_id}")
            for line in reversal.lines:
                if line.earned_promotion_id is not None:
                    _reference(
                        line.earned_promotion_id in self.entries,
                        f"earned promotion {line.earned_promotion_id}",
                    )
        _claim(
            self.reversal_identifiers,
            (reversal.org_id, reversal.reversal_identifier),
            reversal.id,
            "uq_reversal_identifier",
        )
        _claim(
            self.reversal_numbers,
            (reversal.redemption_id, reversal.number),
            reversal.id,
            "uq_reversal_number",
        )
        _claim(
            self.reversals, reversal.id, replace(reversal, lines=list(reversal.lines)), "redemption_reversal"
        )

    def insert_idempotency_key(self, record: IdempotencyRecord, *, foreign_keys: bool) -> None:
        if foreign_keys:
            _reference(record.client_id in self.clients, f"api_client {record.client_id}")
        _claim(self.idempotency_keys, (record.client_id, record.key), record, "uq_idempotency_key")

    def insert_hold(self, hold: Hold, *, foreign_keys: bool) -> None:
        if foreign_keys:
            _reference((hold.org_id, hold.customer_id) in self.customers, f"customer {hold.customer_id}")
            for allocation in hold.allocations:
                _reference(
                    allocation.earned_promotion_id in self.entries,
                    f"earned promotion {allocation.earned_promotion_id}",
                )
        allocated = [a.earned_promotion_id for a in hold.allocations]
        if len(set(allocated)) != len(allocated):  # PRIMARY KEY (hold_id, earned_promotion_id)
            raise UniqueViolation("hold_allocation: an entry allocated twice by one hold")
        _claim(self.holds, hold.id, _copied_hold(hold), "hold")

    def held(self, entry_id: str, now: int) -> int:
        """`held_counts` of persistence/repositories/holds.py: live holds' allocations of the entry."""
        return sum(
            a.count
            for x in self.holds.values()
            if x.status is HoldStatus.HELD and x.expires_at > now
            for a in x.allocations
            if a.earned_promotion_id == entry_id
        )

    def with_held(self, entry: EarnedPromotion, now: int) -> EarnedPromotion:
        return replace(entry, redemptions_held=self.held(entry.id, now))

    def reversals_of(self, redemption_id: str) -> list[Reversal]:
        return sorted(
            (
                replace(x, lines=list(x.lines))
                for x in self.reversals.values()
                if x.redemption_id == redemption_id
            ),
            key=lambda x: x.number,
        )

    def whole(self, redemption: Redemption) -> Redemption:
        """A stored redemption as the repository returns it: a copy, with its reversals."""
        return replace(_copied(redemption), reversals=self.reversals_of(redemption.id))


def _claim(table: dict[Any, Any], key: object, value: object, name: str) -> None:
    if key in table:
        raise UniqueViolation(f"{name}: {key!r} exists")
    table[key] = value


def _reference(exists: bool, what: str) -> None:
    if not exists:
        raise UniqueViolation(f"foreign key: {what} does not exist")


def _earning_key(entry: EarnedPromotion) -> EarningKeyRow:
    return (entry.org_id, entry.customer_id, entry.promotion_id, entry.earned_from_id, entry.instance)


def _copied(redemption: Redemption) -> Redemption:
    """Its lists are the stored rows: never shared with the caller."""
    return replace(
        redemption,
        line_items=list(redemption.line_items),
        redemptions=list(redemption.redemptions),
        consumed=list(redemption.consumed),
    )


def _copied_hold(hold: Hold) -> Hold:
    """Its lists are the stored rows; the redemption is not part of the row."""
    return replace(
        hold,
        line_items=list(hold.line_items),
        redemptions=list(hold.redemptions),
        allocations=list(hold.allocations),
        redemption=None,
    )


@dataclass(frozen=True, slots=True)
class StoreState:
    """Everything stored, for `==`: what a refused request must leave as it was."""

    tables: dict[str, dict[Any, Any]]
    ledger: list[LedgerEntry]


class FakeStore:
    """The database: the last committed `Tables`. Never changed in place: each commit (and each
    `put_*`) publishes a new one, so a unit of work's snapshot stays what it was."""

    def __init__(self) -> None:
        self.tables = Tables()
        self.client_ids = itertools.count(1)  # a sequence: not rolled back

    def state(self) -> StoreState:
        return StoreState(
            tables={name: dict(table) for name, table in self.tables.keyed().items()},
            ledger=list(self.tables.ledger),
        )

    def _put(self, change: Callable[[Tables], None]) -> None:
        tables = self.tables.copy()
        change(tables)
        self.tables = tables

    # --- Arranging a test: rows put straight in (no unit of work, no foreign keys) ------------

    def put_org(self, org: Org) -> Org:
        self._put(lambda t: t.insert_org(org))
        return org

    def put_client(self, record: ApiClientRecord) -> ApiClientRecord:
        self._put(lambda t: t.insert_client(record, foreign_keys=False))
        return record

    def put_idempotency_key(self, record: IdempotencyRecord) -> IdempotencyRecord:
        self._put(lambda t: t.insert_idempotency_key(record, foreign_keys=False))
        return record

    def put_customers(self, customers: Iterable[Customer]) -> list[Customer]:
        rows = list(customers)

        def insert(tables: Tables) -> None:
            for customer in rows:
                tables.insert_customer(customer, foreign_keys=False)

        self._put(insert)
        return rows

    def put_promotion(self, promotion: Promotion) -> Promotion:
        self._put(lambda t: t.insert_promotion(promotion, foreign_keys=False))
        return promotion

    def put_entries(self, entries: Iterable[EarnedPromotion]) -> list[EarnedPromotion]:
        rows = list(entries)

        def insert(tables: Tables) -> None:
            for entry in rows:
                if not tables.insert_entry(entry, foreign_keys=False):
                    raise UniqueViolation(f"uq_earning_key: {_earning_key(entry)} exists")

        self._put(insert)
        return rows

    def put_redemption(self, redemption: Redemption) -> Redemption:
        self._put(lambda t: t.insert_redemption(redemption, foreign_keys=False))
        return redemption

    def put_hold(self, hold: Hold) -> Hold:
        self._put(lambda t: t.insert_hold(hold, foreign_keys=False))
        return hold

    def hold(self, hold_id: str) -> Hold:
        return self.tables.holds[hold_id]

    def put_reversal(self, reversal: Reversal) -> Reversal:
        self._put(lambda t: t.insert_reversal(reversal, foreign_keys=False))
        return reversal

    def replace_org(self, org: Org) -> Org:
        """An existing row changed (as another writer would): not checked against anything."""
        self._put(lambda t: t.orgs.__setitem__(org.id, org))
        return org

    def replace_promotion(self, promotion: Promotion) -> Promotion:
        self._put(lambda t: t.promotions.__setitem__(promotion.id, promotion))
        return promotion

    def replace_entry(self, entry: EarnedPromotion) -> EarnedPromotion:
        assert self.tables.earning_keys.get(_earning_key(entry)) == entry.id, (
            "its earning key must not change"
        )
        self._put(lambda t: t.entries.__setitem__(entry.id, entry))
        return entry

    # --- Reading what happened --------------------------------------------------------------

    def entries_of(self, org_id: int, customer_id: int | None = None) -> list[EarnedPromotion]:
        """The org's entries (of one customer), in insertion order."""
        return [
            entry
            for entry in self.tables.entries.values()
            if entry.org_id == org_id and (customer_id is None or entry.customer_id == customer_id)
        ]

    def entry(self, entry_id: str) -> EarnedPromotion:
        return self.tables.entries[entry_id]

    def redemption_of(self, org_id: int, transaction_identifier: str) -> Redemption | None:
        redemption_id = self.tables.transactions.get((org_id, transaction_identifier))
        return self.tables.whole(self.tables.redemptions[redemption_id]) if redemption_id else None

    @property
    def ledger(self) -> list[LedgerEntry]:
        return list(self.tables.ledger)


# ---------------------------------------------------------------------------------------------
# Repositories: each reads and writes its unit of work's copy of the tables.


class _Repository:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    @property
    def _tables(self) -> Tables:
        return self._uow.tables_for_read()

    @property
    def _writable(self) -> Tables:
        return self._uow.tables_for_write()


class FakeOrgRepository(_Repository):
    async def get(self, org_id: int) -> Org | None:
        return self._tables.orgs.get(org_id)

    async def add(self, org: Org, *, created_at: int) -> None:
        self._writable.insert_org(org)

    async def save_settings(self, org_id: int, settings: OrgSettings) -> None:
        tables = self._writable
        org = tables.orgs.get(org_id)
        if org is not None:  # UPDATE ... WHERE id = :org_id
            tables.orgs[org_id] = replace(org, settings=settings)

    async def lock(self, org_id: int) -> None:
        self._uow.record.locks.append(("org", org_id))


class FakeApiClientRepository(_Repository):
    async def add(
        self, *, org_id: int, name: str, username: str, secret_hash: str, scopes: list[str], created_at: int
    ) -> int:
        tables = self._writable
        record = ApiClientRecord(
            id=next(self._uow.store.client_ids),
            org_id=org_id,
            name=name,
            username=username,
            secret_hash=secret_hash,
            scopes=tuple(" ".join(scopes).split()),  # stored space-separated, read back split
            active=True,
        )
        tables.insert_client(record, foreign_keys=True)
        return record.id

    async def get_by_username(self, username: str) -> ApiClientRecord | None:
        tables = self._tables
        client_id = tables.client_usernames.get(username)
        return tables.clients[client_id] if client_id is not None else None

    async def add_token(self, *, token_hash: str, client_id: int, expires_at: int) -> None:
        tables = self._writable
        _reference(client_id in tables.clients, f"api client {client_id}")
        _claim(tables.tokens, token_hash, (client_id, expires_at), "access_token")

    async def delete_expired_tokens(self, *, now: int) -> None:
        tables = self._writable
        for token_hash in [h for h, (_, expires_at) in tables.tokens.items() if expires_at < now]:
            del tables.tokens[token_hash]

    async def get_by_token(self, *, token_hash: str, now: int) -> ApiClientRecord | None:
        tables = self._tables
        token = tables.tokens.get(token_hash)
        if token is None or token[1] <= now:
            return None
        return tables.clients.get(token[0])


class FakeCustomerRepository(_Repository):
    def _lock(self, org_id: int, customer_id: int) -> None:
        self._uow.record.locks.append(("wallet", org_id, customer_id))

    async def get(self, org_id: int, customer_id: int, *, lock_wallet: bool = False) -> Customer | None:
        customer = self._tables.customers.get((org_id, customer_id))
        if customer is not None and lock_wallet:
            self._lock(org_id, customer_id)
        return customer

    async def get_many(self, org_id: int, customer_ids: Sequence[int]) -> dict[int, Customer]:
        customers = self._tables.customers
        return {cid: customers[(org_id, cid)] for cid in customer_ids if (org_id, cid) in customers}

    async def get_by_identifier(
        self, org_id: int, kind: CustomerIdentifierType, value: str, *, lock_wallet: bool = False
    ) -> Customer | None:
        customer_id = self._tables.identifiers.get((org_id, kind, value))
        if customer_id is None:
            return None
        return await self.get(org_id, customer_id, lock_wallet=lock_wallet)

    async def missing_ids(self, org_id: int, customer_ids: Sequence[int]) -> set[int]:
        customers = self._tables.customers
        return {cid for cid in customer_ids if (org_id, cid) not in customers}

    async def taken_identifiers(
        self, org_id: int, identifiers: Sequence[tuple[CustomerIdentifierType, str]]
    ) -> dict[tuple[CustomerIdentifierType, str], int]:
        known = self._tables.identifiers
        return {
            (kind, value): known[(org_id, kind, value)]
            for kind, value in identifiers
            if (org_id, kind, value) in known
        }

    async def add_many(self, customers: Sequence[Customer], *, created_at: int) -> None:
        if not customers:
            return
        tables = self._writable
        for customer in customers:
            tables.insert_customer(customer, foreign_keys=True)

    async def lock_wallet(self, org_id: int, customer_id: int) -> bool:
        exists = (org_id, customer_id) in self._tables.customers
        if exists:
            self._lock(org_id, customer_id)
        return exists

    async def lock_wallets(self, org_id: int, customer_ids: Sequence[int]) -> None:
        customers = self._tables.customers
        for customer_id in sorted(set(customer_ids)):  # id order, as the SQL takes them
            if (org_id, customer_id) in customers:
                self._lock(org_id, customer_id)


class FakePromotionRepository(_Repository):
    def _of_org(self, org_id: int) -> list[Promotion]:
        return [p for p in self._tables.promotions.values() if p.org_id == org_id]

    async def get(self, org_id: int, promotion_id: str) -> Promotion | None:
        promotion = self._tables.promotions.get(promotion_id)
        return promotion if promotion is not None and promotion.org_id == org_id else None

    async def get_many(self, org_id: int, promotion_ids: Sequence[str]) -> dict[str, Promotion]:
        found = {pid: await self.get(org_id, pid) for pid in set(promotion_ids)}
        return {pid: promotion for pid, promotion in found.items() if promotion is not None}

    async def add(self, promotion: Promotion) -> None:
        self._writable.insert_promotion(promotion, foreign_keys=True)

    async def count_active(self, org_id: int, *, now: int) -> int:
        return sum(1 for p in self._of_org(org_id) if counts_toward_active_cap(p, now))

    def _filtered(
        self, org_id: int, status: PromotionStatus | None, type_: PromotionType | None, now: int
    ) -> list[Promotion]:
        return [
            p
            for p in self._of_org(org_id)
            if (not status or promotion_status(p, now) is status) and (not type_ or p.type is type_)
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
        rows = sorted(self._filtered(org_id, status, type_, now), key=lambda p: p.id)
        if after:
            (last_id,) = decode_cursor(after, str)
            rows = [p for p in rows if p.id > last_id]
        items = rows[:first]
        return Page(
            items=items, cursors=[encode_cursor(p.id) for p in items], has_next_page=len(rows) > first
        )

    async def count(
        self, org_id: int, *, status: PromotionStatus | None, type_: PromotionType | None, now: int
    ) -> int:
        return len(self._filtered(org_id, status, type_, now))


class FakeWalletRepository(_Repository):
    def _filtered(
        self,
        org_id: int,
        customer_id: int,
        statuses: Sequence[EarnedPromotionStatus] | None,
        promotion_id: str | None,
        now: int,
    ) -> list[EarnedPromotion]:
        return [
            x
            for x in self._tables.entries.values()
            if x.org_id == org_id
            and x.customer_id == customer_id
            and (not statuses or earned_status(x, now) in statuses)
            and (not promotion_id or x.promotion_id == promotion_id)
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
        matching = sorted(
            self._filtered(org_id, customer_id, statuses, promotion_id, now),
            key=lambda x: (x.valid_till, x.id),
        )
        rows = matching
        if after:
            last_valid_till, last_id = decode_cursor(after, int, str)
            rows = [x for x in rows if (x.valid_till, x.id) > (last_valid_till, last_id)]
        items = [self._tables.with_held(x, now) for x in rows[:first]]
        promotions: dict[str, Promotion] = {}
        if with_promotions:
            for x in items:
                promotions.setdefault(x.promotion_id, self._tables.promotions[x.promotion_id])
        page = Page(
            items=items,
            cursors=[encode_cursor(x.valid_till, x.id) for x in items],
            has_next_page=len(rows) > first,
        )
        org = self._tables.orgs.get(org_id)
        timezone = org.settings.timezone if with_timezone and items and org is not None else None
        return WalletPage(
            page=page,
            total_count=len(matching) if with_count else None,
            promotions=promotions,
            timezone=timezone,
        )

    async def count(
        self,
        org_id: int,
        customer_id: int,
        *,
        statuses: Sequence[EarnedPromotionStatus] | None,
        promotion_id: str | None,
        now: int,
    ) -> int:
        return len(self._filtered(org_id, customer_id, statuses, promotion_id, now))

    async def get_many(
        self, org_id: int, entry_ids: Sequence[str], *, now: int | None = None
    ) -> dict[str, EarnedPromotion]:
        tables = self._tables
        entries = tables.entries
        return {
            entry_id: entries[entry_id] if now is None else tables.with_held(entries[entry_id], now)
            for entry_id in set(entry_ids)
            if entry_id in entries and entries[entry_id].org_id == org_id
        }

    async def promotions_with_entries(
        self,
        org_id: int,
        customer_id: int,
        promotion_ids: Sequence[str],
        *,
        now: int,
        transaction_identifier: str | None = None,
    ) -> tuple[dict[str, Promotion], list[EarnedPromotion], bool]:
        """As the SQL outer join: every entry of the customer for these promotions, revoked ones
        too (the coverage plan needs them for its REVOKED reason), soonest-expiring first, with
        their held counts; the held transaction is a column of its rows, so no promotion, no answer."""
        if not promotion_ids:
            return {}, [], False
        promotions = {
            pid: p
            for pid in dict.fromkeys(promotion_ids)
            if (p := self._tables.promotions.get(pid)) is not None and p.org_id == org_id
        }
        entries = sorted(
            (
                x
                for x in self._tables.entries.values()
                if x.org_id == org_id and x.customer_id == customer_id and x.promotion_id in promotions
            ),
            key=lambda x: (x.valid_till, x.id),
        )
        held = (
            bool(promotions)
            and transaction_identifier is not None
            and any(
                x.org_id == org_id
                and x.transaction_identifier == transaction_identifier
                and x.status is HoldStatus.HELD
                and x.expires_at > now
                for x in self._tables.holds.values()
            )
        )
        return promotions, [self._tables.with_held(x, now) for x in entries], held

    async def consume(
        self, org_id: int, customer_id: int, entry_id: str, count: int, *, now: int, of_hold: bool = False
    ) -> int:
        tables = self._writable
        entry = tables.entries.get(entry_id)
        if (
            entry is None
            or entry.org_id != org_id
            or entry.customer_id != customer_id
            or entry.revoked_at is not None
            or entry.redemptions_used + count + tables.held(entry_id, now) > entry.redemptions_allowed
            or (not of_hold and (entry.unlocks_at > now or entry.valid_till < now))
        ):
            return 0
        tables.entries[entry_id] = replace(entry, redemptions_used=entry.redemptions_used + count)
        return 1

    async def revoke(self, org_id: int, customer_id: int, entry_ids: Sequence[str], *, now: int) -> int:
        tables = self._writable
        changed = 0
        for entry_id in dict.fromkeys(entry_ids):  # IN (...): a repeated id changes one row
            entry = tables.entries.get(entry_id)
            if (
                entry is not None
                and entry.org_id == org_id
                and entry.customer_id == customer_id
                and entry.revoked_at is None
                and entry.redemptions_used == 0
                and tables.held(entry_id, now) == 0
            ):
                tables.entries[entry_id] = replace(entry, revoked_at=now)
                changed += 1
        return changed

    async def restore(self, org_id: int, customer_id: int, entry_id: str, count: int) -> int:
        tables = self._writable
        entry = tables.entries.get(entry_id)
        if entry is None or entry.org_id != org_id or entry.customer_id != customer_id:
            return 0
        if entry.redemptions_used < count:
            return 0
        tables.entries[entry_id] = replace(entry, redemptions_used=entry.redemptions_used - count)
        return 1


class FakeEarningRepository(_Repository):
    def _of_org(self, org_id: int) -> Iterable[EarnedPromotion]:
        return (x for x in self._tables.entries.values() if x.org_id == org_id)

    async def insert_new(self, entries: Sequence[EarnedPromotion]) -> set[str]:
        tables = self._writable
        return {entry.id for entry in entries if tables.insert_entry(entry, foreign_keys=True)}

    async def insert_copies(
        self,
        template: EarnedPromotion,
        ids: Sequence[str],
        customer_ids: Sequence[int],
        *,
        ledger: LedgerEntry | None = None,
    ) -> list[tuple[str, int]]:
        tables = self._writable
        inserted: list[tuple[str, int]] = []
        for entry_id, customer_id in zip(ids, customer_ids, strict=True):
            copy_of = replace(template, id=entry_id, customer_id=customer_id)
            if tables.insert_entry(copy_of, foreign_keys=True):
                inserted.append((entry_id, customer_id))
        if ledger is not None:
            tables.ledger.extend(
                replace(ledger, customer_id=customer_id, earned_promotion_id=entry_id)
                for entry_id, customer_id in inserted
            )
        return inserted

    async def earned_from_types(
        self, org_id: int, keys: Sequence[EarningKey]
    ) -> dict[EarningKey, set[EarnedFromType]]:
        wanted = set(keys)
        found: dict[EarningKey, set[EarnedFromType]] = {}
        for x in self._of_org(org_id):
            key = EarningKey(x.promotion_id, x.earned_from_id)
            if key in wanted:
                found.setdefault(key, set()).add(x.earned_from_type)
        return found

    async def entries_of_customer(
        self, org_id: int, customer_id: int, keys: Sequence[EarningKey]
    ) -> dict[EarningKey, list[EarnedPromotion]]:
        wanted = set(keys)
        found: dict[EarningKey, list[EarnedPromotion]] = {}
        for x in sorted(self._of_org(org_id), key=lambda x: (x.promotion_id, x.earned_from_id, x.instance)):
            key = EarningKey(x.promotion_id, x.earned_from_id)
            if x.customer_id == customer_id and key in wanted:
                found.setdefault(key, []).append(x)
        return found

    async def entries_of_source(
        self, org_id: int, promotion_id: str, earned_from_id: str, customer_ids: Sequence[int]
    ) -> dict[int, list[EarnedPromotion]]:
        wanted = set(customer_ids)
        found: dict[int, list[EarnedPromotion]] = {}
        for x in sorted(self._of_org(org_id), key=lambda x: (x.customer_id, x.instance)):
            if (
                x.promotion_id == promotion_id
                and x.earned_from_id == earned_from_id
                and x.customer_id in wanted
            ):
                found.setdefault(x.customer_id, []).append(x)
        return found

    async def earn_counts_of_customer(
        self, org_id: int, customer_id: int, promotion_ids: Sequence[str]
    ) -> dict[str, int]:
        wanted = set(promotion_ids)
        counts: dict[str, int] = {}
        for x in self._of_org(org_id):
            if x.customer_id == customer_id and x.promotion_id in wanted and x.revoked_at is None:
                counts[x.promotion_id] = counts.get(x.promotion_id, 0) + 1
        return counts

    async def earn_counts_of_promotion(
        self, org_id: int, promotion_id: str, customer_ids: Sequence[int]
    ) -> dict[int, int]:
        wanted = set(customer_ids)
        counts: dict[int, int] = {}
        for x in self._of_org(org_id):
            if x.promotion_id == promotion_id and x.customer_id in wanted and x.revoked_at is None:
                counts[x.customer_id] = counts.get(x.customer_id, 0) + 1
        return counts


class FakeRedemptionRepository(_Repository):
    def _filtered(
        self,
        org_id: int,
        customer_id: int | None,
        promotion_id: str | None,
        transaction_identifier: str | None,
    ) -> list[Redemption]:
        return [
            r
            for r in self._tables.redemptions.values()
            if r.org_id == org_id
            and (customer_id is None or r.customer_id == customer_id)
            and (not transaction_identifier or r.transaction_identifier == transaction_identifier)
            and (
                not promotion_id
                or any(line.promotion_id == promotion_id for line in (*r.line_items, *r.redemptions))
            )
        ]

    async def get(self, org_id: int, redemption_id: str) -> Redemption | None:
        found = self._tables.redemptions.get(redemption_id)
        return self._tables.whole(found) if found is not None and found.org_id == org_id else None

    async def get_by_transaction(self, org_id: int, transaction_identifier: str) -> Redemption | None:
        redemption_id = self._tables.transactions.get((org_id, transaction_identifier))
        return self._tables.whole(self._tables.redemptions[redemption_id]) if redemption_id else None

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
        rows = sorted(
            self._filtered(org_id, customer_id, promotion_id, transaction_identifier),
            key=lambda r: r.id,
            reverse=True,  # newest first
        )
        if after:
            (last_id,) = decode_cursor(after, str)
            rows = [r for r in rows if r.id < last_id]
        items = [self._tables.whole(r) for r in rows[:first]]
        return Page(
            items=items, cursors=[encode_cursor(r.id) for r in items], has_next_page=len(rows) > first
        )

    async def count(
        self,
        org_id: int,
        *,
        customer_id: int | None,
        promotion_id: str | None,
        transaction_identifier: str | None,
    ) -> int:
        return len(self._filtered(org_id, customer_id, promotion_id, transaction_identifier))

    async def add(self, redemption: Redemption, ledger: Sequence[LedgerEntry] = ()) -> None:
        self._writable.insert_redemption(redemption, foreign_keys=True)
        if ledger:
            self._writable.ledger.extend(ledger)

    async def reversals_of(self, redemption_id: str) -> list[Reversal]:
        return self._tables.reversals_of(redemption_id)

    async def get_reversal(self, org_id: int, reversal_identifier: str) -> Reversal | None:
        reversal_id = self._tables.reversal_identifiers.get((org_id, reversal_identifier))
        return replace(self._tables.reversals[reversal_id]) if reversal_id else None

    async def add_reversal(self, reversal: Reversal) -> None:
        self._writable.insert_reversal(reversal, foreign_keys=True)


class FakeIdempotencyKeyRepository(_Repository):
    """Updates and deletes are guarded by the row's claim, as the SQL statements' WHERE is."""

    async def get(self, client_id: int, key: str) -> IdempotencyRecord | None:
        return self._tables.idempotency_keys.get((client_id, key))

    async def add(self, record: IdempotencyRecord) -> None:
        self._writable.insert_idempotency_key(record, foreign_keys=True)

    def _held(self, client_id: int, key: str, claim: str) -> IdempotencyRecord | None:
        current = self._writable.idempotency_keys.get((client_id, key))
        return current if current is not None and current.claim == claim else None

    async def take_over(self, record: IdempotencyRecord, *, from_claim: str) -> bool:
        if self._held(record.client_id, record.key, from_claim) is None:
            return False
        self._writable.idempotency_keys[(record.client_id, record.key)] = record
        return True

    async def complete(self, client_id: int, key: str, *, claim: str, response: StoredResponse) -> bool:
        current = self._held(client_id, key, claim)
        if current is None:
            return False
        self._writable.idempotency_keys[(client_id, key)] = replace(current, response=response)
        return True

    async def release(self, client_id: int, key: str, *, claim: str) -> bool:
        if self._held(client_id, key, claim) is None:
            return False
        del self._writable.idempotency_keys[(client_id, key)]
        return True

    async def purge_expired(self, *, now: int, limit: int) -> int:
        expired = sorted(
            (r for r in self._tables.idempotency_keys.values() if r.expires_at <= now),
            key=lambda r: r.expires_at,
        )[:limit]
        for record in expired:
            del self._writable.idempotency_keys[(record.client_id, record.key)]
        return len(expired)


class FakeHoldRepository(_Repository):
    def _whole(self, hold: Hold | None, org_id: int) -> Hold | None:
        return _copied_hold(hold) if hold is not None and hold.org_id == org_id else None

    async def get(self, org_id: int, hold_id: str) -> Hold | None:
        return self._whole(self._tables.holds.get(hold_id), org_id)

    async def live_by_transaction(self, org_id: int, transaction_identifier: str, *, now: int) -> Hold | None:
        live = [
            x
            for x in self._tables.holds.values()
            if x.org_id == org_id
            and x.transaction_identifier == transaction_identifier
            and x.status is HoldStatus.HELD
            and x.expires_at > now
        ]
        return self._whole(live[0], org_id) if live else None

    async def add(self, hold: Hold) -> None:
        self._writable.insert_hold(hold, foreign_keys=True)

    async def settle(
        self, hold_id: str, status: HoldStatus, *, now: int, redemption_id: str | None = None
    ) -> int:
        tables = self._writable
        hold = tables.holds.get(hold_id)
        if hold is None or hold.status is not HoldStatus.HELD or hold.expires_at <= now:
            return 0
        if redemption_id is not None:
            _reference(redemption_id in tables.redemptions, f"redemption {redemption_id}")
        tables.holds[hold_id] = replace(hold, status=status, settled_at=now, redemption_id=redemption_id)
        return 1


class FakeJobRepository(_Repository):
    """Mirrors persistence/repositories/jobs.py; `hold` and `finish` are guarded as its UPDATEs are,
    and two units of work changing one job meet as a conflict at commit (ResourceLocked)."""

    async def add(self, job: IssueJob, customer_ids: Sequence[int]) -> None:
        tables = self._writable
        _reference(job.org_id in tables.orgs, f"org {job.org_id}")
        _claim(tables.jobs, job.id, job, "issue_job")
        tables.job_ids[job.id] = tuple(customer_ids)
        tables.job_leases[job.id] = ("", 0)

    async def get(self, org_id: int, job_id: str) -> IssueJob | None:
        job = self._tables.jobs.get(job_id)
        return job if job is not None and job.org_id == org_id else None

    def _of_org(self, org_id: int, state: JobState | None) -> list[IssueJob]:
        jobs = [j for j in self._tables.jobs.values() if j.org_id == org_id and state in (None, j.state)]
        return sorted(jobs, key=lambda j: (j.created_at, j.id), reverse=True)

    async def page(
        self, org_id: int, *, state: JobState | None, first: int, after: str | None
    ) -> Page[IssueJob]:
        jobs = self._of_org(org_id, state)
        if after:
            last = decode_cursor(after, int, str)
            jobs = [j for j in jobs if (j.created_at, j.id) < last]
        items = jobs[:first]
        return Page(
            items=items,
            cursors=[encode_cursor(j.created_at, j.id) for j in items],
            has_next_page=len(jobs) > first,
        )

    async def count(self, org_id: int, *, state: JobState | None) -> int:
        return len(self._of_org(org_id, state))

    async def count_by_state(self) -> dict[JobState, int]:
        return {state: sum(j.state is state for j in self._tables.jobs.values()) for state in JobState}

    async def customer_ids(self, job_id: str) -> list[int]:
        return list(self._tables.job_ids.get(job_id, ()))

    async def missing_ids(self, job_id: str, *, first: int | None = None) -> list[int]:
        missing = list(self._tables.job_missing.get(job_id, ()))
        return missing if first is None else missing[:first]

    async def claim(self, owner: str, *, now: int, lease_ms: int) -> IssueJob | None:
        free = sorted(
            (
                j
                for j in self._tables.jobs.values()
                if j.state in CLAIMABLE_STATES and self._tables.job_leases[j.id][1] < now
            ),
            key=lambda j: (j.created_at, j.id),
        )
        if not free:
            return None
        tables = self._writable
        job = replace(
            free[0], state=JobState.RUNNING, started_at=free[0].started_at if free[0].started_at else now
        )
        tables.jobs[job.id] = job
        tables.job_leases[job.id] = (owner, now + lease_ms)
        return job

    async def hold(self, lease: Lease, *, processed: int) -> bool:
        tables = self._writable
        job = tables.jobs.get(lease.job_id)
        if (
            job is None
            or job.state is not JobState.RUNNING
            or tables.job_leases[job.id][0] != lease.owner
            or tables.job_leases[job.id][1] < lease.at
            or job.processed != processed
        ):
            return False
        tables.job_leases[job.id] = (lease.owner, lease.until)
        tables.jobs[job.id] = replace(job)  # the row is written (locked) by this unit of work
        return True

    async def release(self, owner: str) -> int:
        tables = self._writable
        mine = [
            job_id
            for job_id, (holder, _) in tables.job_leases.items()
            if holder == owner and tables.jobs[job_id].state is JobState.RUNNING
        ]
        for job_id in mine:
            tables.job_leases[job_id] = (owner, 0)
        return len(mine)

    async def record_checked(self, job_id: str, missing_customer_ids: Sequence[int]) -> None:
        tables = self._writable
        tables.jobs[job_id] = replace(
            tables.jobs[job_id], checked=True, missing_count=len(missing_customer_ids)
        )
        tables.job_missing[job_id] = tuple(missing_customer_ids)

    async def advance(self, job_id: str, progress: ChunkProgress, *, finished_at: int | None) -> None:
        tables = self._writable
        job = tables.jobs[job_id]
        tables.jobs[job_id] = replace(
            job,
            processed=job.processed + progress.processed,
            issued_count=job.issued_count + progress.issued,
            already_issued_count=job.already_issued_count + progress.already_issued,
            state=JobState.SUCCEEDED if finished_at is not None else job.state,
            finished_at=finished_at if finished_at is not None else job.finished_at,
        )

    async def finish(
        self,
        job_id: str,
        state: JobState,
        *,
        now: int,
        error: JobError | None = None,
        owner: str | None = None,
    ) -> bool:
        tables = self._writable
        job = tables.jobs.get(job_id)
        if job is None or job.is_final:
            return False
        if owner is not None and (job.state is not JobState.RUNNING or tables.job_leases[job_id][0] != owner):
            return False
        tables.jobs[job_id] = replace(job, state=state, finished_at=now, error=error)
        return True
class FakeHistoryRepository(_Repository):
    """The SQL twin groups in a CTE; this groups the list the same way (history.EVENT_KEY)."""

    def _events(self, org_id: int, query: HistoryQuery) -> list[LedgerEvent]:
        tables = self._tables
        groups: dict[tuple[object, ...], list[tuple[int, LedgerEntry]]] = {}
        for row_id, x in enumerate(tables.ledger, start=1):
            if (
                x.org_id != org_id
                or x.customer_id != query.customer_id
                or (query.kinds and x.kind not in query.kinds)
                or (query.since is not None and x.created_at < query.since)
                or (query.until is not None and x.created_at >= query.until)
            ):
                continue
            key = tuple(getattr(x, name) for name in EVENT_KEY)
            groups.setdefault(key, []).append((row_id, x))
        events = []
        for rows in groups.values():
            first = rows[0][1]
            entries = {x.earned_promotion_id for _, x in rows}
            held = 0
            if first.kind in HOLD_KINDS and first.source in tables.holds:
                allocations = {a.earned_promotion_id: a.count for a in tables.holds[first.source].allocations}
                held = sum(allocations.get(x.earned_promotion_id or "", 0) for _, x in rows)
            redemption_id: str | None = None
            if first.kind is LedgerKind.REDEEMED:
                redemption_id = tables.transactions.get((org_id, first.source))
            elif first.kind is LedgerKind.REVERSED:
                reversal_id = tables.reversal_identifiers.get((org_id, first.source))
                redemption_id = tables.reversals[reversal_id].redemption_id if reversal_id else None
            events.append(
                LedgerEvent(
                    id=str(max(row_id for row_id, _ in rows)),
                    kind=first.kind,
                    at=first.created_at,
                    customer_id=first.customer_id,
                    promotion_id=first.promotion_id,
                    earned_promotion_id=next(iter(entries)) if len(entries) == 1 else None,
                    redemption_id=redemption_id,
                    count=count_of(
                        first.kind, rows=len(rows), quantity=sum(x.quantity for _, x in rows), held=held
                    ),
                    actor=first.actor,
                    source=shown_source(first.source),
                )
            )
        return sorted(events, key=lambda x: -int(x.id))

    async def events(self, org_id: int, query: HistoryQuery, *, with_count: bool) -> HistoryPage:
        events = self._events(org_id, query)
        after = [x for x in events if query.after_id is None or int(x.id) < query.after_id]
        items = after[: query.first]
        page = Page(
            items=items, cursors=[event_cursor(x) for x in items], has_next_page=len(after) > query.first
        )
        return HistoryPage(page=page, total_count=len(events) if with_count else None)

    async def count(self, org_id: int, query: HistoryQuery) -> int:
        return len(self._events(org_id, query))

    async def as_of_sources(
        self, org_id: int, customer_id: int, as_of: int, *, window: AsOfWindow | None = None
    ) -> AsOfSources:
        tables = self._tables
        entries = [
            x
            for x in tables.entries.values()
            if x.org_id == org_id and x.customer_id == customer_id and x.created_at <= as_of
        ]
        total: int | None = None
        if window is not None:
            granted = {
                x.earned_promotion_id
                for x in tables.ledger
                if x.kind in GRANT_KINDS and x.created_at <= as_of
            }
            entries = sorted((x for x in entries if x.id in granted), key=lambda x: (x.valid_till, x.id))
            total = len(entries)
            after = window.after
            entries = [x for x in entries if after is None or (x.valid_till, x.id) > after]
            entries = entries[: window.first + 1]
        ids = {x.id for x in entries}
        moves = [
            LedgerMove(x.kind, x.earned_promotion_id, x.quantity, x.created_at)
            for x in tables.ledger
            if x.org_id == org_id
            and x.customer_id == customer_id
            and x.created_at <= as_of
            and x.earned_promotion_id is not None
            and (window is None or x.earned_promotion_id in ids)
        ]
        spans = [
            HeldSpan(
                earned_promotion_id=a.earned_promotion_id,
                count=a.count,
                held_at=x.created_at,
                ends_at=min(x.expires_at, x.settled_at or x.expires_at),
            )
            for x in tables.holds.values()
            if x.org_id == org_id and x.customer_id == customer_id and x.created_at <= as_of
            for a in x.allocations
            if window is None or a.earned_promotion_id in ids
        ]
        return AsOfSources(entries=entries, moves=moves, spans=spans, total=total)


class FakeLedgerRepository(_Repository):
    """A row's position is its place in the whole ledger, from 1 (an id, as in the database)."""

    async def append(self, entries: Sequence[LedgerEntry]) -> None:
        if entries:
            self._writable.ledger.extend(entries)

    async def last_position(self, org_id: int, customer_id: int) -> int:
        positions = [
            position
            for position, row in enumerate(self._tables.ledger, 1)
            if (row.org_id, row.customer_id) == (org_id, customer_id)
        ]
        return max(positions, default=0)

    async def changed_since(
        self, org_id: int, customer_id: int, position: int, *, limit: int
    ) -> LedgerChanges:
        rows = [
            (at, row)
            for at, row in enumerate(self._tables.ledger, 1)
            if at > position and (row.org_id, row.customer_id) == (org_id, customer_id)
        ][:limit]
        return LedgerChanges(
            entry_ids=list(
                dict.fromkeys(row.earned_promotion_id for _, row in rows if row.earned_promotion_id)
            ),
            position=rows[-1][0] if rows else position,
            complete=len(rows) < limit,
        )


# ---------------------------------------------------------------------------------------------
# The unit of work and its factory


@dataclass
class UnitOfWorkRecord:
    """One unit of work the factory opened: how, what it locked, how it ended."""

    write: bool
    bulk: bool
    refused: bool = False  # ResourceLocked on entry (fail_with_lock)
    committed: bool = False
    locks: list[tuple[object, ...]] = field(default_factory=list)  # ("wallet", org, customer), ("org", org)


class FakeUnitOfWork:
    """`UnitOfWork` (domain/ports.py) over a `FakeStore`: see the module docstring."""

    orgs: FakeOrgRepository
    clients: FakeApiClientRepository
    customers: FakeCustomerRepository
    promotions: FakePromotionRepository
    wallet: FakeWalletRepository
    earnings: FakeEarningRepository
    redemptions: FakeRedemptionRepository
    holds: FakeHoldRepository
    ledger: FakeLedgerRepository
    idempotency_keys: FakeIdempotencyKeyRepository
    jobs: FakeJobRepository
    history: FakeHistoryRepository

    def __init__(self, factory: FakeUnitOfWorkFactory, *, write: bool, bulk: bool) -> None:
        self.store = factory.store
        self._factory = factory
        self.record = UnitOfWorkRecord(write=write, bulk=bulk)
        self._snapshot = self.store.tables
        self._working = self._snapshot
        self._done = False

    async def __aenter__(self) -> FakeUnitOfWork:
        self._factory.opened.append(self.record)
        failure = self._factory.take_failure()
        if failure is not None:
            self.record.refused = True
            raise failure
        self._begin()
        self.orgs = FakeOrgRepository(self)
        self.clients = FakeApiClientRepository(self)
        self.customers = FakeCustomerRepository(self)
        self.promotions = FakePromotionRepository(self)
        self.wallet = FakeWalletRepository(self)
        self.earnings = FakeEarningRepository(self)
        self.redemptions = FakeRedemptionRepository(self)
        self.holds = FakeHoldRepository(self)
        self.ledger = FakeLedgerRepository(self)
        self.idempotency_keys = FakeIdempotencyKeyRepository(self)
        self.jobs = FakeJobRepository(self)
        self.history = FakeHistoryRepository(self)
        return self

    def _begin(self) -> None:
        self._snapshot = self.store.tables
        self._working = self._snapshot  # copied on the first write

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._done = True  # a commit published its writes; anything else is dropped here
        if isinstance(exc, UniqueViolation):
            raise AlreadyExists(str(exc)) from exc

    def tables_for_read(self) -> Tables:
        assert not self._done, "a unit of work was used after commit() or outside its block"
        return self._working

    def tables_for_write(self) -> Tables:
        assert self.record.write, "a write in a unit of work opened without write=True"
        tables = self.tables_for_read()
        if tables is self._snapshot:
            self._working = tables = tables.copy()
        return tables

    async def commit(self) -> None:
        assert not self._done, "commit() twice, or after the block"
        hook = self._factory.take_commit_hook()
        if hook is not None:
            await hook()
        if self._working is not self._snapshot:
            self.store.tables = _merged(self.store.tables, self._snapshot, self._working)
            written = self._working.ledger[len(self._snapshot.ledger) :]
            self._factory.wallet_changes.wake({(row.org_id, row.customer_id) for row in written})
        self.record.committed = True
        self._done = True

    async def rollback(self) -> None:
        assert not self._done, "rollback() after commit()"
        self._begin()


def _merged(live: Tables, snapshot: Tables, working: Tables) -> Tables:
    """`live` with the changes from `snapshot` to `working`, all checked before any is applied.
    Uniqueness first, as a database meets it at the INSERT: a row inserted meanwhile under a key
    this unit of work inserted too is `AlreadyExists`; then a row that this unit of work and
    another changed both is `ResourceLocked` (a serialization failure)."""
    inserts: list[tuple[str, Any, Any]] = []
    changes: list[tuple[str, Any, Any]] = []  # (table, key, new value or _DELETED)
    before_tables, live_tables = snapshot.keyed(), live.keyed()
    for name, mine in working.keyed().items():
        before, now_there = before_tables[name], live_tables[name]
        for key, value in mine.items():
            if key not in before:
                if key in now_there:
                    raise AlreadyExists(f"{name}: {key!r} was inserted by another unit of work")
                inserts.append((name, key, value))
            elif value is not before[key]:
                changes.append((name, key, value))
        changes.extend((name, key, _DELETED) for key in before.keys() - mine.keys())
    for name, key, _ in changes:
        if live_tables[name].get(key, _DELETED) is not before_tables[name][key]:
            raise ResourceLocked(f"{name}: {key!r} was changed by another unit of work", retry_after_ms=100)
    merged = live.copy()
    merged_tables = merged.keyed()
    for name, key, value in [*inserts, *changes]:
        if value is _DELETED:
            merged_tables[name].pop(key, None)
        else:
            merged_tables[name][key] = value
    merged.ledger.extend(working.ledger[len(snapshot.ledger) :])
    return merged


_DELETED = object()


class FakeUnitOfWorkFactory:
    """`UnitOfWorkFactory` (domain/ports.py) over one `FakeStore`."""

    def __init__(self, store: FakeStore | None = None) -> None:
        self.store = store if store is not None else FakeStore()
        self.opened: list[UnitOfWorkRecord] = []
        self._failures: list[tuple[int, ResourceLocked]] = []  # (units of work to let through first, error)
        self._commit_hook: Callable[[], Awaitable[None]] | None = None
        # Woken by every commit that wrote ledger rows; an idle read only after a minute, so a test
        # that sees a change at once saw the signal.
        self.wallet_changes = WalletChangeHub(idle_read_s=60.0)

    @property
    def pause_between_writes_s(self) -> float:
        return 0.0

    def __call__(self, *, write: bool = False, bulk: bool = False, snapshot: bool = True) -> FakeUnitOfWork:
        assert snapshot or not write, "snapshot=False is for reads"
        return FakeUnitOfWork(self, write=write, bulk=bulk)

    # --- Test controls ----------------------------------------------------------------------

    def fail_with_lock(self, *, after: int = 0, retry_after_ms: int = 500) -> None:
        """Refuse a unit of work with ResourceLocked on entry (the wallet lock not won in time):
        the next one, or the one after `after` more have been opened."""
        self._failures.append((after, ResourceLocked("the wallet lock was not acquired", retry_after_ms)))

    def take_failure(self) -> ResourceLocked | None:
        if not self._failures:
            return None
        after, error = self._failures[0]
        if after:
            self._failures[0] = (after - 1, error)
            return None
        self._failures.pop(0)
        return error

    def before_next_commit(self, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` (a concurrent writer: it opens units of work of its own and commits) when the
        next unit of work calls commit(), just before its writes are published."""
        self._commit_hook = hook

    def take_commit_hook(self) -> Callable[[], Awaitable[None]] | None:
        hook, self._commit_hook = self._commit_hook, None
        return hook

    @property
    def writes(self) -> list[UnitOfWorkRecord]:
        return [record for record in self.opened if record.write]

    @property
    def committed(self) -> list[UnitOfWorkRecord]:
        return [record for record in self.opened if record.committed]


class FakeWindowCounter:
    """The `WindowCounter` port in a dict: counts per (key, window), no expiry needed in a test."""

    def __init__(self) -> None:
        self.hits: dict[tuple[str, int], int] = {}

    async def hit(self, key: str, window_start_ms: int, *, expires_at_ms: int, amount: int = 1) -> int:
        self.hits[(key, window_start_ms)] = self.hits.get((key, window_start_ms), 0) + amount
        return self.hits[(key, window_start_ms)]

    async def hit_all(
        self, keys: Sequence[str], window_start_ms: int, *, expires_at_ms: int, amount: int = 1
    ) -> list[int]:
        return [
            await self.hit(key, window_start_ms, expires_at_ms=expires_at_ms, amount=amount) for key in keys
        ]

    async def count(self, key: str, window_start_ms: int) -> int:
        return self.hits.get((key, window_start_ms), 0)
