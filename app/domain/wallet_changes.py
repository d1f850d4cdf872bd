"""The in-process side of walletChanged's signals (ports.WalletChangeFeed): this process's
followers by wallet, and waking them. All a single process needs (SQLite); the PostgreSQL
listener (persistence/wallet_change_feed.py) wakes one of these from its notifications."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

WalletKey = tuple[int, int]  # (org id, customer id)


class WalletSignal:
    def __init__(self, hub: WalletChangeHub, key: WalletKey) -> None:
        self._hub = hub
        self.key = key
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout_s)
        # Cleared before the follower reads the ledger: a signal set after this is not lost, and
        # one set before it is covered by that read.
        self._event.clear()

    def close(self) -> None:
        self._hub.forget(self)


class WalletChangeHub:
    """This process's followers, by wallet. `WalletChangeFeed` (domain/ports.py)."""

    def __init__(self, *, idle_read_s: float = 1.0) -> None:
        self._followers: dict[WalletKey, set[WalletSignal]] = {}
        self.idle_read_s = idle_read_s

    def follow(self, org_id: int, customer_id: int) -> WalletSignal:
        signal = WalletSignal(self, (org_id, customer_id))
        self._followers.setdefault(signal.key, set()).add(signal)
        return signal

    def forget(self, signal: WalletSignal) -> None:
        followers = self._followers.get(signal.key)
        if followers is not None:
            followers.discard(signal)
            if not followers:
                del self._followers[signal.key]

    @property
    def following(self) -> bool:
        return bool(self._followers)

    def wake(self, keys: Iterable[WalletKey]) -> None:
        for key in keys:
            for signal in self._followers.get(key, ()):
                signal.set()

    def wake_all(self) -> None:
        for followers in self._followers.values():
            for signal in followers:
                signal.set()
