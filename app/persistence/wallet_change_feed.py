"""Signals that a wallet changed, for `walletChanged` followers (services/wallet_changes.py).

The ledger is the record of every change; a signal only says "read it now". PostgreSQL carries
the signals across processes: a statement trigger on wallet_ledger (migration 0008) sends
`NOTIFY wallet_changed, 'org:customer,…'`, which PostgreSQL delivers when, and only if, the
transaction commits; each process LISTENs on one connection of its own, opened when its first
follower arrives. SQLite has no such channel, so a unit of work that wrote ledger rows wakes this
process's followers after its commit (uow.py); followers also read the ledger at an idle interval,
which is how another process's SQLite writes reach them, late.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

import asyncpg

from app.domain.wallet_changes import WalletChangeHub, WalletKey, WalletSignal

CHANNEL = "wallet_changed"
_RECONNECT_PAUSES_S = (0.1, 0.5, 1.0, 2.0, 5.0)

log = logging.getLogger(__name__)


def parse_payload(payload: str) -> list[WalletKey]:
    keys: list[WalletKey] = []
    for item in payload.split(","):
        org, _, customer = item.partition(":")
        if org.isdigit() and customer.lstrip("-").isdigit():
            keys.append((int(org), int(customer)))
    return keys


class PostgresWalletChanges:
    """The hub, woken by `LISTEN wallet_changed` on a connection of its own."""

    def __init__(self, database_url: str) -> None:
        self._dsn = database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        # A notification is lost only while the listener reconnects, and it reads everything
        # once it is back: the idle read is a last resort here.
        self.hub = WalletChangeHub(idle_read_s=15.0)
        self._task: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()

    def follow(self, org_id: int, customer_id: int) -> WalletSignal:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._listen())
        return self.hub.follow(org_id, customer_id)

    def wake(self, keys: Iterable[WalletKey]) -> None:
        self.hub.wake(keys)

    @property
    def idle_read_s(self) -> float:
        return self.hub.idle_read_s

    async def listening(self) -> None:
        """Until the LISTEN is in place (a follower that must not miss the next commit waits)."""
        await self._listening.wait()

    async def _listen(self) -> None:
        attempt = 0
        while True:
            lost = asyncio.Event()
            try:
                connection = await asyncpg.connect(self._dsn)
            except (OSError, asyncpg.PostgresError) as exc:
                pause = _RECONNECT_PAUSES_S[min(attempt, len(_RECONNECT_PAUSES_S) - 1)]
                log.warning("wallet change listener cannot connect (%s); retrying in %ss", exc, pause)
                attempt += 1
                await asyncio.sleep(pause)
                continue
            try:
                connection.add_termination_listener(lambda _connection, lost=lost: lost.set())
                await connection.add_listener(
                    CHANNEL, lambda _c, _pid, _channel, payload: self.hub.wake(parse_payload(payload))
                )
                attempt = 0
                self._listening.set()
                # Whatever was committed while no one listened is in the ledger: read it now.
                self.hub.wake_all()
                await lost.wait()
                log.warning("wallet change listener lost its connection; reconnecting")
            finally:
                self._listening.clear()
                if not connection.is_closed():
                    await connection.close()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
