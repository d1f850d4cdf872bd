"""The unit of work: one session, one transaction. It rolls back unless `commit()` is called,
and turns "could not get the lock in time" into ResourceLocked (521) on either database.

`commit()` ends the unit of work's use: on SQLite a write unit of work keeps this process's write
gate until the block exits, so nothing should run on it after `commit()` (a statement would
begin a second transaction outside the lock wait, and a second write unit of work opened inside
the block would queue behind this one until its 521)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar, cast

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from app.domain.errors import AlreadyExists, ResourceLocked
from app.domain.models import Org
from app.domain.ports import WalletChangeFeed
from app.persistence import direct
from app.persistence.database import Database, beginning_with
from app.persistence.repositories.clients import ApiClientRepository
from app.persistence.repositories.customers import CustomerRepository
from app.persistence.repositories.earnings import EarningRepository
from app.persistence.repositories.history import HistoryRepository
from app.persistence.repositories.holds import HoldRepository
from app.persistence.repositories.idempotency_keys import IdempotencyKeyRepository
from app.persistence.repositories.jobs import JobRepository
from app.persistence.repositories.ledger import ChangedWallets, LedgerRepository
from app.persistence.repositories.orgs import OrgRepository
from app.persistence.repositories.promotions import PromotionRepository
from app.persistence.repositories.redemptions import RedemptionRepository
from app.persistence.repositories.wallet import WalletRepository

# How often a SQLite writer retries BEGIN IMMEDIATE while another process holds the lock: each
# retry is one statement (~0.2 ms of CPU), and a bulk write of another process need only pause
# this long between its chunks to let such a writer in (services/issue.py).
SQLITE_WRITE_POLL_S = 0.005

# SQLSTATEs that mean "someone else holds it": lock_not_available, deadlock_detected,
# serialization_failure. All three are safe to retry, so all three are a 521.
_PG_LOCK_STATES = {"55P03", "40P01", "40001"}

T = TypeVar("T")


def is_lock_error(exc: BaseException) -> bool:
    # Every pooled connection busy for the whole pool timeout (= the lock timeout) is the same
    # situation as a held lock for the caller: retry shortly.
    if isinstance(exc, PoolTimeout):
        return True
    if not isinstance(exc, DBAPIError):
        return False
    original = exc.orig
    sqlstate = getattr(original, "sqlstate", None) or getattr(original, "pgcode", None)
    if sqlstate in _PG_LOCK_STATES:
        return True
    message = str(original).lower()
    return "database is locked" in message or "database table is locked" in message


class StatementReads:
    """What the repositories of a read unit of work without a snapshot execute on (the `execute`
    and `scalar` they use of a session): a pooled connection of `Database.statement_reader`,
    taken at the first statement, with no transaction and no ORM session around it. A connection
    the server closed while it sat in the pool (a restart, a terminated backend) fails the first
    statement: it is thrown away and the statement sent once more on a fresh one, as the window
    counter does (counters.py). Only the first: nothing has been read yet, so nothing is repeated."""

    def __init__(self, database: Database) -> None:
        """Its engine is `database.statement_reader`. Its turns, one per connection of the engine's
        pool, are taken first, in arrival order (Database.statement_reader_turns says why);
        waiting longer than the pool timeout for one is the pool's timeout (a 521, retry
        shortly). A connection comes from the database's idle ones when there is one."""
        assert database.statement_reader is not None
        self._database = database
        self._engine = database.statement_reader
        self._turns = database.statement_reader_turns
        self._idle = database.statement_reader_idle
        self._wait_s = database.pool_timeout_s
        self._has_turn = False
        self._connection: AsyncConnection | None = None
        self._failed = False  # a statement failed: the connection is not kept for another read
        self.dialect: Dialect = self._engine.dialect

    async def execute(self, statement: Any, parameters: Any = None) -> Any:
        return await self._run(lambda connection: connection.execute(statement, parameters))

    async def direct_rows(
        self, statement: direct.DirectStatement, parameters: Mapping[str, Any]
    ) -> list[Any]:
        """`direct.rows` here: the statement on the driver connection, past SQLAlchemy's execution."""
        return await self._run(lambda connection: direct.connection_rows(connection, statement, parameters))

    async def _run(self, statement: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        if self._connection is not None:
            try:
                return await statement(self._connection)
            except BaseException:
                self._failed = True
                raise
        if not self._has_turn:
            if self._turns.locked():
                try:
                    async with asyncio.timeout(self._wait_s):
                        await self._turns.acquire()
                except TimeoutError as exc:
                    raise PoolTimeout("no connection of the statement reader became free in time") from exc
            else:  # a turn is free: taken at once, without arming a timeout for a wait that won't come
                await self._turns.acquire()
            self._has_turn = True
        for attempt in (1, 2):
            # A second attempt takes a new connection: the idle ones may be as dead as the first.
            connection = self._idle.pop() if attempt == 1 and self._idle else await self._engine.connect()
            try:
                result = await statement(connection)
            except DBAPIError as exc:
                if exc.connection_invalidated:
                    if not connection.invalidated:
                        await connection.invalidate()  # a statement run past SQLAlchemy (direct.py)
                    # The server went away for one, so perhaps for all that sat idle with it.
                    await self._database.close_idle_statement_connections(invalidate=True)
                await connection.close()
                if exc.connection_invalidated and attempt == 1:
                    continue
                raise
            except BaseException:
                await connection.close()
                raise
            self._connection = connection
            return result
        raise AssertionError("unreachable: the second attempt returns or raises")

    async def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return (await self.execute(statement, parameters)).scalar()

    async def close(self) -> None:
        try:
            if self._connection is not None:
                connection, self._connection = self._connection, None
                if self._failed or connection.invalidated or connection.closed:
                    await connection.close()
                else:
                    self._idle.append(connection)
        finally:
            if self._has_turn:
                self._has_turn = False
                self._turns.release()


class SqlUnitOfWork:
    """`UnitOfWork` (domain/ports.py) over one SQLAlchemy session, or, for a read without a
    snapshot, over `StatementReads`."""

    def __init__(
        self, database: Database, *, write: bool = False, bulk: bool = False, snapshot: bool = True
    ) -> None:
        """`bulk`: for units of work whose statements carry thousands of rows (see sqlite_driver.py).
        `snapshot=False`: a read whose statements need no common snapshot (ports.py)."""
        if write and not snapshot:
            raise ValueError("a write unit of work is a transaction: snapshot=False is for reads")
        self._database = database
        self._write = write
        self._bulk = bulk
        self._statement_reads: StatementReads | None = None
        if not snapshot and not bulk and database.statement_reader is not None:
            self._statement_reads = StatementReads(database)
        self._committed = False
        self._holds_gate = False

    async def __aenter__(self) -> SqlUnitOfWork:
        if self._statement_reads is not None:
            # The repositories use only `execute` and `scalar` of their session, which
            # StatementReads offers; a read unit of work writes nothing.
            self.session = cast(AsyncSession, self._statement_reads)
        elif self._write and self._database.is_sqlite:
            self.session = await self._begin_sqlite_write()
        else:
            self.session = self._database.session(write=self._write, bulk=self._bulk)
            if self._write:
                await self._begin_postgres_write()
        self._changed = ChangedWallets()
        known_orgs: dict[int, Org] = {}  # read with a customer, answered by `orgs.get`
        self.orgs = OrgRepository(self.session, known_orgs)
        self.clients = ApiClientRepository(self.session)
        self.customers = CustomerRepository(self.session, known_orgs)
        self.promotions = PromotionRepository(self.session)
        self.wallet = WalletRepository(self.session)
        self.earnings = EarningRepository(self.session, self._changed)
        self.ledger = LedgerRepository(self.session, self._changed)
        self.redemptions = RedemptionRepository(self.session, self.ledger)
        self.holds = HoldRepository(self.session)
        self.idempotency_keys = IdempotencyKeyRepository(self.session)
        self.jobs = JobRepository(self.session)
        self.history = HistoryRepository(self.session)
        return self

    async def _begin_sqlite_write(self) -> AsyncSession:
        """Queue behind this process's other writers, then take SQLite's write lock (BEGIN
        IMMEDIATE), polling every SQLITE_WRITE_POLL_S while another process holds it; all of it
        within the lock timeout, so that everything the service reads stays true until it commits."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._database.lock_timeout_ms / 1000
        try:
            async with asyncio.timeout_at(deadline):
                await self._database.write_gate.acquire()
        except TimeoutError as exc:
            raise self._locked() from exc
        self._holds_gate = True
        try:
            while True:
                session = self._database.session(write=True, bulk=self._bulk)
                try:
                    await session.connection()
                    return session
                except BaseException as exc:
                    # Also on cancellation (a client gone mid-wait): the connection goes back.
                    await session.close()
                    if not is_lock_error(exc):
                        raise
                    if loop.time() >= deadline:
                        raise self._locked() from exc
                await asyncio.sleep(min(SQLITE_WRITE_POLL_S, max(deadline - loop.time(), 0)))
        except BaseException:
            self._release_gate()
            raise

    async def _begin_postgres_write(self) -> None:
        try:
            # Per write transaction, not per connection: a connection-wide lock_timeout would
            # also fail reads queued behind a DDL lock (a migration) with a 521, and poolers
            # such as PgBouncer refuse or drop it as a startup parameter. Sent with the BEGIN,
            # in its round trip (database.py).
            with beginning_with(f"SET LOCAL lock_timeout = '{int(self._database.lock_timeout_ms)}ms'"):
                await self.session.connection()
        except (DBAPIError, PoolTimeout) as exc:
            await self.session.close()
            if is_lock_error(exc):
                raise self._locked() from exc
            raise

    def _release_gate(self) -> None:
        if self._holds_gate:
            self._holds_gate = False
            self._database.write_gate.release()

    def _locked(self) -> ResourceLocked:
        return ResourceLocked(
            "Could not acquire the wallet lock in time; retry shortly",
            retry_after_ms=max(100, self._database.lock_timeout_ms // 4),
        )

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._statement_reads is not None:
            await self._statement_reads.close()
            if exc is not None and is_lock_error(exc):
                raise self._locked() from exc
            return
        try:
            if not self._committed:
                await self.session.rollback()
        finally:
            try:
                await self.session.close()
            finally:
                self._release_gate()
        if exc is not None and is_lock_error(exc):
            raise self._locked() from exc
        if isinstance(exc, IntegrityError):
            raise AlreadyExists(str(exc.orig)) from exc

    async def commit(self) -> None:
        if self._statement_reads is not None:
            raise RuntimeError("a read unit of work without a snapshot has nothing to commit")
        try:
            await self.session.commit()
        except IntegrityError as exc:
            raise AlreadyExists(str(exc.orig)) from exc
        except DBAPIError as exc:
            if is_lock_error(exc):
                raise self._locked() from exc
            raise
        self._committed = True
        if self._database.is_sqlite and self._changed.keys:
            # PostgreSQL notifies by itself (migration 0008); SQLite followers are woken here.
            self._database.wallet_changes.wake(self._changed.keys)

    async def rollback(self) -> None:
        if self._statement_reads is None:
            await self.session.rollback()


class SqlUnitOfWorkFactory:
    """`UnitOfWorkFactory` (domain/ports.py) over a `Database`: what the shell hands the services."""

    def __init__(self, database: Database) -> None:
        self.database = database
        # SQLite: another process's writer polls the lock every SQLITE_WRITE_POLL_S, so a pause a
        # little longer than that lets it in. PostgreSQL locks rows: nothing to wait for.
        self._pause = SQLITE_WRITE_POLL_S + 0.003 if database.is_sqlite else 0.0

    @property
    def pause_between_writes_s(self) -> float:
        return self._pause

    def __call__(self, *, write: bool = False, bulk: bool = False, snapshot: bool = True) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.database, write=write, bulk=bulk, snapshot=snapshot)

    @property
    def wallet_changes(self) -> WalletChangeFeed:
        return self.database.wallet_changes
