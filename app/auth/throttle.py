"""Throttling of failed sign-ins, per username and per client address.

After `max_failures` failures for a username (or `max_failures_per_address` from one address) in
a fixed window of `window_seconds`, further sign-ins for it are refused with 429 and
`Retry-After` until the window ends, *without* checking the secret: guessing costs the guesser
a window per few tries, and costs the server no scrypt. The real owner is never locked out longer
than the window, and not at all once their correct secret is in the authenticator's cache
(a cached secret was verified before; the cache is consulted first).

Per address as well as per username, so one address cannot spray many usernames; the address
limit is higher, for clients behind one NAT or proxy. Counts live behind the `WindowCounter`
port: in the database on PostgreSQL (shared by every process), in the process on SQLite."""

from __future__ import annotations

import asyncio
import hashlib

from app.domain.clock import now_ms
from app.domain.ports import WindowCounter
from app.domain.rate_limits import window_start
from app.observability.metrics import AUTH_FAILURES


class SignInThrottled(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"Too many failed sign-ins; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


def _key(kind: str, value: str) -> str:
    # Hashed: usernames and addresses come from the client, of any length and content.
    return f"signin:{kind}:{hashlib.sha256(value.encode('utf-8', 'surrogatepass')).hexdigest()[:32]}"


class SignInThrottle:
    def __init__(
        self,
        counter: WindowCounter,
        *,
        max_failures: int,
        max_failures_per_address: int,
        window_seconds: int,
    ) -> None:
        self._counter = counter
        self._limits = {"user": max_failures, "addr": max_failures_per_address}
        self._window_ms = window_seconds * 1000
        # Keys this process has seen throttled, with the window: refused again without a count,
        # so a flood of guesses past the limit costs no database statement each.
        self._blocked: dict[str, int] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def _keys(self, username: str, address: str | None) -> list[tuple[str, int]]:
        keys = [(_key("user", username), self._limits["user"])]
        if address:
            keys.append((_key("addr", address), self._limits["addr"]))
        return [(key, limit) for key, limit in keys if limit > 0]

    async def attempt(self, username: str, address: str | None) -> None:
        """Counts a sign-in about to be checked; SignInThrottled when the username or the address
        has spent its failures in this window. Counted *before* the check, so that any number of
        concurrent guesses cannot all pass a check made before the first of them failed; a
        sign-in that succeeds takes its count back (`succeeded`)."""
        now = now_ms()
        start = window_start(now, self._window_ms)
        keys = self._keys(username, address)
        if not keys:
            return
        retry_after_s = max(1, -(-(start + self._window_ms - now) // 1000))
        # One count at a time per username in this process: a burst of guesses then costs the
        # database a statement per guess only until the first refusal, which `_blocked` remembers.
        if len(self._locks) > 10_000:
            self._locks = {k: lock for k, lock in self._locks.items() if lock.locked()}
        lock = self._locks.setdefault(keys[0][0], asyncio.Lock())
        async with lock:
            if any(self._blocked.get(key) == start for key, _ in keys):
                AUTH_FAILURES.labels("throttled").inc()
                raise SignInThrottled(retry_after_s)
            counts = await self._counter.hit_all(
                [key for key, _ in keys], start, expires_at_ms=start + self._window_ms
            )
            over = [key for count, (key, limit) in zip(counts, keys, strict=True) if count > limit]
            if over:
                if len(self._blocked) > 10_000:  # bounded: past it, the database's counts decide alone
                    self._blocked = {}
                self._blocked.update(dict.fromkeys(over, start))
                AUTH_FAILURES.labels("throttled").inc()
                raise SignInThrottled(retry_after_s)

    async def succeeded(self, username: str, address: str | None) -> None:
        start = window_start(now_ms(), self._window_ms)
        keys = [key for key, _limit in self._keys(username, address)]
        if keys:
            await self._counter.hit_all(keys, start, expires_at_ms=start + self._window_ms, amount=-1)

    @staticmethod
    def failed() -> None:
        AUTH_FAILURES.labels("invalid").inc()
