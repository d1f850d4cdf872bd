"""Who is calling: HTTP Basic (client username + secret) or a Bearer access token.

A verified Basic credential is remembered in this process for `auth_cache_seconds`, keyed by a
hash of the credential: scrypt is deliberately slow (~40 ms) and must not run on every request.
Nor may it run once per waiting request: when the entry is missing (a cold start, or its expiry
under load), the concurrent requests with that credential share one check.
The cache only ever skips a re-check of a secret that was right; correctness of wallet data does
not depend on it. A deactivated client keeps access for at most that long in each process.

An unknown username costs the same scrypt as a known one (checked against a dummy hash), so the
time of a refusal does not tell which usernames exist; failed sign-ins are throttled per username
and client address (throttle.py), the cache of verified secrets being consulted first.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import time
from functools import cache

from app.auth.secrets import hash_secret, hash_token, new_token, verify_secret
from app.auth.throttle import SignInThrottle, SignInThrottled
from app.domain.clock import now_ms
from app.domain.models import ApiClientRecord, Principal, Scope
from app.domain.ports import UnitOfWorkFactory


class AuthenticationFailed(Exception):
    """No credentials, or credentials that are not valid: HTTP 401."""


class TooManyFailures(AuthenticationFailed):
    """Too many failed sign-ins for this username or address in the window: HTTP 429 with
    Retry-After (a caller that only knows AuthenticationFailed answers 401, still refusing)."""

    def __init__(self, throttled: SignInThrottled) -> None:
        super().__init__(str(throttled))
        self.retry_after_s = throttled.retry_after_s


@cache
def _dummy_hash() -> str:
    """Checked when the username is unknown, so that costs what a wrong secret of a known one does."""
    return hash_secret("no client has this secret")


def _principal(client: ApiClientRecord) -> Principal:
    scopes = frozenset(Scope(s) for s in client.scopes if s in Scope._value2member_map_)
    return Principal(org_id=client.org_id, client_id=client.id, username=client.username, scopes=scopes)


def parse_basic(header_value: str) -> tuple[str, str]:
    try:
        decoded = base64.b64decode(header_value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise AuthenticationFailed("Malformed Basic credentials") from exc
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        raise AuthenticationFailed("Malformed Basic credentials")
    return username, password


class Authenticator:
    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        *,
        cache_seconds: float,
        token_ttl_seconds: int,
        throttle: SignInThrottle | None = None,
    ) -> None:
        self._uow_factory = uow_factory
        self._throttle = throttle
        self._cache_seconds = cache_seconds
        self._token_ttl_seconds = token_ttl_seconds
        self._verified: dict[str, tuple[float, Principal]] = {}
        self._checking: dict[str, asyncio.Task[Principal]] = {}

    async def authenticate(self, authorization: str | None, address: str | None = None) -> Principal:
        """`address`: the client's, for the sign-in throttle; a caller that passes none (a
        middleware that authenticates ahead of the route) neither counts nor is throttled."""
        if not authorization:
            raise AuthenticationFailed("Credentials are required")
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "basic":
            return await self.verify_client(*parse_basic(value), address=address)
        if scheme.lower() == "bearer" and value.strip():
            return await self._verify_token(value.strip())
        raise AuthenticationFailed("Unsupported authorization scheme")

    async def verify_client(self, username: str, password: str, *, address: str | None = None) -> Principal:
        key = hashlib.sha256(f"{username}\x00{password}".encode("utf-8", "surrogatepass")).hexdigest()
        cached = self._verified.get(key)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        return await self._shared_check(key, username, password, address)

    async def _shared_check(self, key: str, username: str, password: str, address: str | None) -> Principal:
        check = self._checking.get(key)
        if check is None:
            check = asyncio.ensure_future(self._throttled_check(key, username, password, address))
            self._checking[key] = check

            def settled(done: asyncio.Task[Principal]) -> None:
                self._checking.pop(key, None)
                # Retrieved here too, for when every waiter has gone: no "exception never retrieved".
                if not done.cancelled():
                    done.exception()

            check.add_done_callback(settled)
        # Shielded: a caller that goes away must not cancel the check the others wait for.
        return await asyncio.shield(check)

    async def _throttled_check(
        self, key: str, username: str, password: str, address: str | None
    ) -> Principal:
        """The check, counted by the throttle once however many requests wait for it: a client's
        own burst of requests at a cold start is one sign-in, not a burst of attempts."""
        throttle = self._throttle if address is not None else None
        if throttle is None:
            return await self._check_client(key, username, password)
        try:
            await throttle.attempt(username, address)
        except SignInThrottled as throttled:
            raise TooManyFailures(throttled) from None
        try:
            principal = await self._check_client(key, username, password)
        except AuthenticationFailed:
            throttle.failed()
            raise
        await throttle.succeeded(username, address)
        return principal

    async def _check_client(self, key: str, username: str, password: str) -> Principal:
        async with self._uow_factory() as uow:
            client = await uow.clients.get_by_username(username)
        # scrypt takes tens of milliseconds of CPU: off the event loop, or every request stalls.
        # Run for an unknown username too, against a dummy hash: the same time either way.
        stored = client.secret_hash if client is not None else _dummy_hash()
        matches = await asyncio.to_thread(verify_secret, password, stored)
        if client is None or not client.active or not matches:
            raise AuthenticationFailed("Invalid client credentials")
        principal = _principal(client)
        if self._cache_seconds > 0:
            if len(self._verified) > 10_000:
                self._verified.clear()
            self._verified[key] = (time.monotonic() + self._cache_seconds, principal)
        return principal

    async def _verify_token(self, token: str) -> Principal:
        async with self._uow_factory() as uow:
            client = await uow.clients.get_by_token(token_hash=hash_token(token), now=now_ms())
        if client is None or not client.active:
            raise AuthenticationFailed("Invalid or expired access token")
        return _principal(client)

    async def issue_token(self, principal: Principal) -> tuple[str, int]:
        """OAuth2 client-credentials: a new opaque token; only its hash is stored."""
        token = new_token()
        now = now_ms()
        async with self._uow_factory(write=True) as uow:
            await uow.clients.delete_expired_tokens(now=now)
            await uow.clients.add_token(
                token_hash=hash_token(token),
                client_id=principal.client_id,
                expires_at=now + self._token_ttl_seconds * 1000,
            )
            await uow.commit()
        return token, self._token_ttl_seconds
