"""The unit of work: one session, one transaction. It rolls back unless `commit()` is called,
and turns "could not get the lock in time" into ResourceLocked (521) on either database."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.errors import ResourceLocked
from app.persistence.database import Database
from app.persistence.repositories.clients import ApiClientRepository
from app.persistence.repositories.customers import CustomerRepository
from app.persistence.repositories.earnings import EarningRepository
from app.persistence.repositories.ledger import LedgerRepository
from app.persistence.repositories.orgs import OrgRepository
from app.persistence.repositories.promotions import PromotionRepository
from app.persistence.repositories.redemptions import RedemptionRepository
from app.persistence.repositories.wallet import WalletRepository

# SQLSTATEs that mean "someone else holds it": lock_not_available, deadlock_detected,
# serialization_failure. All three are safe to retry, so all three are a 521.
_PG_LOCK_STATES = {"55P03", "40P01", "40001"}


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


class SqlUnitOfWork:
    def __init__(self, database: Database, *, write: bool = False) -> None:
        self._database = database
        self._write = write
        self._committed = False

    async def __aenter__(self) -> SqlUnitOfWork:
        self.session: AsyncSession = self._database.session(write=self._write)
        self.orgs = OrgRepository(self.session)
        self.clients = ApiClientRepository(self.session)
        self.customers = CustomerRepository(self.session)
        self.promotions = PromotionRepository(self.session)
        self.wallet = WalletRepository(self.session)
        self.earnings = EarningRepository(self.session)
        self.redemptions = RedemptionRepository(self.session)
        self.ledger = LedgerRepository(self.session)
        if self._write:
            try:
                # Take the write lock now (SQLite: BEGIN IMMEDIATE waits busy_timeout) so that
                # everything the service reads stays true until it commits.
                connection = await self.session.connection()
                if not self._database.is_sqlite:
                    # Per write transaction, not per connection: a connection-wide lock_timeout
                    # would also fail reads queued behind a DDL lock (a migration) with a 521, and
                    # poolers such as PgBouncer refuse or drop it as a startup parameter.
                    await connection.execute(
                        text(f"SET LOCAL lock_timeout = '{int(self._database.lock_timeout_ms)}ms'")
                    )
            except (DBAPIError, PoolTimeout) as exc:
                await self.session.close()
                if is_lock_error(exc):
                    raise self._locked() from exc
                raise
        return self

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
        try:
            if not self._committed:
                await self.session.rollback()
        finally:
            await self.session.close()
        if exc is not None and is_lock_error(exc):
            raise self._locked() from exc

    async def commit(self) -> None:
        try:
            await self.session.commit()
        except DBAPIError as exc:
            if is_lock_error(exc):
                raise self._locked() from exc
            raise
        self._committed = True

    async def rollback(self) -> None:
        await self.session.rollback()
