"""The ports the services need from storage, declared by the domain (DESIGN §1).

A service takes a `UnitOfWorkFactory` and opens one unit of work per transaction:

    async with uow_factory(write=True) as uow:
        ...
        await uow.commit()

A unit of work rolls back unless `commit()` was called. It raises `ResourceLocked` (521) when the
wallet lock is not won within the lock timeout, and `AlreadyExists` (out of the `async with`, the
transaction rolled back) when a write meets a uniqueness rule. `persistence.uow.SqlUnitOfWork`
implements these over SQLAlchemy; `tests/fakes.py` in memory. Nothing here knows of SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Protocol

from app.domain.earn_rules import EarningKey
from app.domain.history import AsOfSources, AsOfWindow, HistoryPage, HistoryQuery
from app.domain.idempotency import IdempotencyRecord, StoredResponse
from app.domain.jobs import ChunkProgress, IssueJob, JobError, JobState, Lease
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


class OrgRepository(Protocol):
    async def get(self, org_id: int) -> Org | None: ...
    async def add(self, org: Org, *, created_at: int) -> None: ...
    async def save_settings(self, org_id: int, settings: OrgSettings) -> None: ...

    async def lock(self, org_id: int) -> None:
        """Serialise writers that check an org-wide rule (the active-promotion cap)."""
        ...


class ApiClientRepository(Protocol):
    async def add(
        self, *, org_id: int, name: str, username: str, secret_hash: str, scopes: list[str], created_at: int
    ) -> int: ...
    async def get_by_username(self, username: str) -> ApiClientRecord | None: ...
    async def add_token(self, *, token_hash: str, client_id: int, expires_at: int) -> None: ...
    async def delete_expired_tokens(self, *, now: int) -> None: ...
    async def get_by_token(self, *, token_hash: str, now: int) -> ApiClientRecord | None: ...


class CustomerRepository(Protocol):
    async def get(self, org_id: int, customer_id: int, *, lock_wallet: bool = False) -> Customer | None: ...
    async def get_many(self, org_id: int, customer_ids: Sequence[int]) -> dict[int, Customer]: ...
    async def get_by_identifier(
        self, org_id: int, kind: CustomerIdentifierType, value: str, *, lock_wallet: bool = False
    ) -> Customer | None: ...

    async def missing_ids(self, org_id: int, customer_ids: Sequence[int]) -> set[int]:
        """Those of `customer_ids` that are not customers of the org."""
        ...

    async def taken_identifiers(
        self, org_id: int, identifiers: Sequence[tuple[CustomerIdentifierType, str]]
    ) -> dict[tuple[CustomerIdentifierType, str], int]:
        """Which of these identifiers already belong to a customer, and to whom."""
        ...

    async def add_many(self, customers: Sequence[Customer], *, created_at: int) -> None: ...

    async def lock_wallet(self, org_id: int, customer_id: int) -> bool:
        """Whether the customer exists; its wallet is locked until the unit of work ends."""
        ...

    async def lock_wallets(self, org_id: int, customer_ids: Sequence[int]) -> None:
        """Lock these customers' wallets (in id order, so two lockers never deadlock)."""
        ...


class PromotionRepository(Protocol):
    async def get(self, org_id: int, promotion_id: str) -> Promotion | None: ...
    async def get_many(self, org_id: int, promotion_ids: Sequence[str]) -> dict[str, Promotion]: ...
    async def add(self, promotion: Promotion) -> None: ...

    async def count_active(self, org_id: int, *, now: int) -> int:
        """Promotions that `rules.counts_toward_active_cap` at `now`."""
        ...

    async def page(
        self,
        org_id: int,
        *,
        status: PromotionStatus | None,
        type_: PromotionType | None,
        first: int,
        after: str | None,
        now: int,
    ) -> Page[Promotion]: ...
    async def count(
        self, org_id: int, *, status: PromotionStatus | None, type_: PromotionType | None, now: int
    ) -> int: ...


class WalletRepository(Protocol):
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
        """A page of the customer's entries, soonest-expiring first (empty for an unknown customer);
        `with_timezone`: the org's timezone too, when the page has entries."""
        ...

    async def count(
        self,
        org_id: int,
        customer_id: int,
        *,
        statuses: Sequence[EarnedPromotionStatus] | None,
        promotion_id: str | None,
        now: int,
    ) -> int: ...
    async def get_many(
        self, org_id: int, entry_ids: Sequence[str], *, now: int | None = None
    ) -> dict[str, EarnedPromotion]:
        """With `now`, each entry's `redemptions_held` is what live holds reserve at `now`."""
        ...

    async def promotions_with_entries(
        self,
        org_id: int,
        customer_id: int,
        promotion_ids: Sequence[str],
        *,
        now: int,
        transaction_identifier: str | None = None,
    ) -> tuple[dict[str, Promotion], list[EarnedPromotion], bool]:
        """The promotions of the org among `promotion_ids`, and all of the customer's entries of
        them, revoked and used-up ones too (the coverage plan names why none can be used),
        soonest-expiring first (validTill, then id), with their `redemptions_held` at `now`; and
        whether a live hold of the org holds `transaction_identifier` (False when none is given or
        no promotion was found)."""
        ...

    async def consume(
        self, org_id: int, customer_id: int, entry_id: str, count: int, *, now: int, of_hold: bool = False
    ) -> int:
        """Use `count` redemptions of an entry if it has them left beyond what live holds reserve
        and is redeemable at `now`; the number of entries changed (0 or 1). `of_hold`: the counts
        were reserved by a hold being committed (no longer live), whose checks of the entry's
        validity were made when it was held; only revocation and the counts are checked then."""
        ...

    async def revoke(self, org_id: int, customer_id: int, entry_ids: Sequence[str], *, now: int) -> int:
        """Revoke the customer's unrevoked, unused entries among `entry_ids` that no live hold
        reserves at `now`; how many were."""
        ...

    async def restore(self, org_id: int, customer_id: int, entry_id: str, count: int) -> int:
        """Give `count` used redemptions of an entry back (used never drops below zero; status,
        validity and revocation are untouched); the number of entries changed (0 or 1)."""
        ...


class EarningRepository(Protocol):
    async def insert_new(self, entries: Sequence[EarnedPromotion]) -> set[str]:
        """Insert entries whose earning key is free; the ids of those inserted."""
        ...

    async def insert_copies(
        self,
        template: EarnedPromotion,
        ids: Sequence[str],
        customer_ids: Sequence[int],
        *,
        ledger: LedgerEntry | None = None,
    ) -> list[tuple[str, int]]:
        """One copy of `template` per customer (id from `ids`), skipping customers who hold its
        earning key; with `ledger`, a ledger row per inserted entry. (entry id, customer id) of those
        inserted."""
        ...

    async def earned_from_types(
        self, org_id: int, keys: Sequence[EarningKey]
    ) -> dict[EarningKey, set[EarnedFromType]]:
        """The earnedFromTypes already used with each (promotion, earnedFromId) in the org (713)."""
        ...

    async def entries_of_customer(
        self, org_id: int, customer_id: int, keys: Sequence[EarningKey]
    ) -> dict[EarningKey, list[EarnedPromotion]]:
        """This customer's entries for each earning key, by instance."""
        ...

    async def entries_of_source(
        self, org_id: int, promotion_id: str, earned_from_id: str, customer_ids: Sequence[int]
    ) -> dict[int, list[EarnedPromotion]]:
        """The entries made from this (promotion, earnedFromId), per customer, by instance."""
        ...

    async def earn_counts_of_customer(
        self, org_id: int, customer_id: int, promotion_ids: Sequence[str]
    ) -> dict[str, int]:
        """How many unrevoked entries of each promotion the customer holds (maxEarnsPerCustomer)."""
        ...

    async def earn_counts_of_promotion(
        self, org_id: int, promotion_id: str, customer_ids: Sequence[int]
    ) -> dict[int, int]:
        """How many unrevoked entries of this promotion each customer holds (maxEarnsPerCustomer)."""
        ...


class RedemptionRepository(Protocol):
    """Redemptions come back whole: lines, consumptions and reversals (oldest first)."""

    async def get(self, org_id: int, redemption_id: str) -> Redemption | None: ...
    async def get_by_transaction(self, org_id: int, transaction_identifier: str) -> Redemption | None: ...
    async def page(
        self,
        org_id: int,
        *,
        customer_id: int | None,
        promotion_id: str | None,
        transaction_identifier: str | None,
        first: int,
        after: str | None,
    ) -> Page[Redemption]: ...
    async def count(
        self,
        org_id: int,
        *,
        customer_id: int | None,
        promotion_id: str | None,
        transaction_identifier: str | None,
    ) -> int: ...

    async def add(self, redemption: Redemption, ledger: Sequence[LedgerEntry] = ()) -> None:
        """Record it, with the `ledger` rows that record its effect on the wallet (written as
        `LedgerRepository.append` writes them, and with it: on PostgreSQL in the same statement);
        a transactionIdentifier already recorded in the org is `AlreadyExists`, and then nothing
        of either is written."""
        ...

    async def reversals_of(self, redemption_id: str) -> list[Reversal]:
        """Its reversals, oldest first."""
        ...

    async def get_reversal(self, org_id: int, reversal_identifier: str) -> Reversal | None: ...

    async def add_reversal(self, reversal: Reversal) -> None:
        """Record it; a reversalIdentifier already recorded in the org is `AlreadyExists`."""
        ...


class HoldRepository(Protocol):
    """Holds come back whole: lines and allocations."""

    async def get(self, org_id: int, hold_id: str) -> Hold | None: ...

    async def live_by_transaction(self, org_id: int, transaction_identifier: str, *, now: int) -> Hold | None:
        """The org's hold of this transactionIdentifier that is live at `now` (at most one: holds
        are made under the wallet lock after this lookup)."""
        ...

    async def add(self, hold: Hold) -> None: ...

    async def settle(
        self, hold_id: str, status: HoldStatus, *, now: int, redemption_id: str | None = None
    ) -> int:
        """Mark a hold that is live at `now` COMMITTED (with its redemption) or RELEASED, settled
        at `now`; the number of holds changed (0 or 1)."""
        ...


class LedgerRepository(Protocol):
    async def append(self, entries: Sequence[LedgerEntry]) -> None: ...

    async def last_position(self, org_id: int, customer_id: int) -> int:
        """Where the customer's ledger ends now (0 when it is empty): a cursor for `changed_since`."""
        ...

    async def changed_since(
        self, org_id: int, customer_id: int, position: int, *, limit: int
    ) -> LedgerChanges:
        """The entries that the customer's ledger rows after `position` touched (at most `limit`
        rows are read), in commit order."""
        ...


class HistoryRepository(Protocol):
    """The ledger read back (domain/history.py): events, and what the wallet rebuild replays."""

    async def events(self, org_id: int, query: HistoryQuery, *, with_count: bool) -> HistoryPage:
        """A page of the customer's events, newest first (highest id first), grouped by
        `history.EVENT_KEY` and counted by `history.count_of`; with `with_count`, the number of
        events matching the filters. Another org's or an unknown customer's history is empty."""
        ...

    async def count(self, org_id: int, query: HistoryQuery) -> int: ...

    async def as_of_sources(
        self, org_id: int, customer_id: int, as_of: int, *, window: AsOfWindow | None = None
    ) -> AsOfSources:
        """The customer's entries made by `as_of`, their ledger rows written by then and the spans
        of the holds made by then: what `history.replay` replays. With `window`, only the first
        `window.first + 1` entries with a grant row by `as_of` after `window.after` in (validTill,
        id) order, the rows and spans of those, and the number of such entries in all (`total`)."""
        ...


class IdempotencyKeyRepository(Protocol):
    """Claimed Idempotency-Keys, unique per (client, key) (domain/idempotency.py)."""

    async def get(self, client_id: int, key: str) -> IdempotencyRecord | None: ...

    async def add(self, record: IdempotencyRecord) -> None:
        """Claim the key; one already claimed by the client (even lapsed) is `AlreadyExists`."""
        ...

    async def take_over(self, record: IdempotencyRecord, *, from_claim: str) -> bool:
        """Put `record` in place of the client's row for its key if that row is still held by
        `from_claim` (a lapsed claim, seen a moment ago); whether it was."""
        ...

    async def complete(self, client_id: int, key: str, *, claim: str, response: StoredResponse) -> bool:
        """Store the answer of the claim `claim`; False when the claim is no longer that one's."""
        ...

    async def release(self, client_id: int, key: str, *, claim: str) -> bool:
        """Free the key if `claim` still holds it (a retryable outcome: nothing is remembered)."""
        ...

    async def purge_expired(self, *, now: int, limit: int) -> int:
        """Delete up to `limit` rows past their retention; how many were."""
        ...


class JobRepository(Protocol):
    """Bulk issue jobs (domain/jobs.py) and their ids. Every write for a running job is fenced by
    `hold`: the lease owner's, at the progress it last committed."""

    async def add(self, job: IssueJob, customer_ids: Sequence[int]) -> None:
        """Store the job with its distinct ids, in the order they are issued."""
        ...

    async def get(self, org_id: int, job_id: str) -> IssueJob | None: ...
    async def page(
        self, org_id: int, *, state: JobState | None, first: int, after: str | None
    ) -> Page[IssueJob]:
        """Newest first."""
        ...

    async def count(self, org_id: int, *, state: JobState | None) -> int: ...
    async def count_by_state(self) -> dict[JobState, int]:
        """Jobs of every org per state (each state present, 0 if none): the metrics' gauge."""
        ...

    async def customer_ids(self, job_id: str) -> list[int]: ...
    async def missing_ids(self, job_id: str, *, first: int | None = None) -> list[int]: ...

    async def claim(self, owner: str, *, now: int, lease_ms: int) -> IssueJob | None:
        """Take the oldest QUEUED job, or a RUNNING one whose lease ran out at `now`, as RUNNING and
        leased to `owner` until `now + lease_ms`; none when no job is free. Two claimers never get
        the same job with a live lease."""
        ...

    async def hold(self, lease: Lease, *, processed: int) -> bool:
        """Whether the job is still RUNNING, leased to `lease.owner` until `lease.at` or later, at
        `processed`; if so its lease is renewed to `lease.until` and the job is this unit of work's
        until it ends (no other writer of the job gets in before it commits or rolls back)."""
        ...

    async def release(self, owner: str) -> int:
        """Give up `owner`'s leases of RUNNING jobs (a runner shutting down): claimable at once."""
        ...

    async def record_checked(self, job_id: str, missing_customer_ids: Sequence[int]) -> None: ...

    async def advance(self, job_id: str, progress: ChunkProgress, *, finished_at: int | None) -> None:
        """Add a committed chunk's counts; with `finished_at`, the job SUCCEEDED then."""
        ...

    async def finish(
        self,
        job_id: str,
        state: JobState,
        *,
        now: int,
        error: JobError | None = None,
        owner: str | None = None,
    ) -> bool:
        """End a job that is not final yet (with `owner`: only while that owner runs it); whether
        it was."""
        ...


class UnitOfWork(Protocol):
    """Its repositories are there from `__aenter__` on (read-only: an implementation may hold
    its own repository types)."""

    @property
    def orgs(self) -> OrgRepository: ...
    @property
    def clients(self) -> ApiClientRepository: ...
    @property
    def customers(self) -> CustomerRepository: ...
    @property
    def promotions(self) -> PromotionRepository: ...
    @property
    def wallet(self) -> WalletRepository: ...
    @property
    def earnings(self) -> EarningRepository: ...
    @property
    def redemptions(self) -> RedemptionRepository: ...
    @property
    def holds(self) -> HoldRepository: ...
    @property
    def ledger(self) -> LedgerRepository: ...
    @property
    def idempotency_keys(self) -> IdempotencyKeyRepository: ...
    @property
    def jobs(self) -> JobRepository: ...
    @property
    def history(self) -> HistoryRepository: ...

    async def __aenter__(self) -> UnitOfWork: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    async def commit(self) -> None:
        """Make the writes durable. Nothing runs on the unit of work after it."""
        ...

    async def rollback(self) -> None: ...


class WalletChangeSignal(Protocol):
    """Wakes the followers of one wallet (domain/wallet_changes.py) soon after a change to it is
    committed. A hint, not the record: followers read what changed from the ledger, so a missed or
    repeated signal loses or repeats nothing."""

    async def wait(self, timeout_s: float) -> None:
        """Return when a change may have been committed since the last return, or at the timeout."""
        ...

    def close(self) -> None: ...


class WalletChangeFeed(Protocol):
    def follow(self, org_id: int, customer_id: int) -> WalletChangeSignal: ...

    @property
    def idle_read_s(self) -> float:
        """How long a follower waits for a signal before it reads the ledger anyway: short where
        signals cannot reach every process (SQLite), long where they only miss on a reconnect."""
        ...


class UnitOfWorkFactory(Protocol):
    """Opens units of work. `write`: it will write (and takes the wallet lock it needs up front on
    SQLite). `bulk`: its statements carry thousands of rows (SQLite runs them off the event loop).
    `snapshot=False`, for reads only: its statements need no common snapshot (each is consistent
    by itself, as a read of one statement is), so no transaction need be begun for it."""

    @property
    def pause_between_writes_s(self) -> float:
        """How long a writer that commits many transactions in a row (a chunked issue) pauses between
        them so that writers of other processes get the lock (0 where row locks make it needless)."""
        ...

    def __call__(self, *, write: bool = False, bulk: bool = False, snapshot: bool = True) -> UnitOfWork: ...

    @property
    def wallet_changes(self) -> WalletChangeFeed:
        """Signals of committed wallet changes, from every process the database can tell of."""
        ...


class WindowCounter(Protocol):
    """Counts events per key in fixed time windows (rate limits, failed sign-ins). Outside any unit
    of work: a count is never part of a wallet transaction, and must not wait for one."""

    async def hit(self, key: str, window_start_ms: int, *, expires_at_ms: int, amount: int = 1) -> int:
        """Add `amount` (1, or -1 to take a hit back) to `key`'s count in the window starting at
        `window_start_ms`; the new count. ResourceLocked when the store is too busy to answer."""
        ...

    async def hit_all(
        self, keys: Sequence[str], window_start_ms: int, *, expires_at_ms: int, amount: int = 1
    ) -> list[int]:
        """`hit` for several keys at once (one statement), their new counts in order."""
        ...

    async def count(self, key: str, window_start_ms: int) -> int:
        """`key`'s count in that window, without adding to it (0 if none)."""
        ...
