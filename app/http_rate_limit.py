"""Rate limits per API client (DESIGN §8.7): one count per client for both faces.

Each face calls `RateLimiter.check` right after it knows the caller (GraphQL's context, REST's
`requires`), before it reads the body or runs anything; past the limit it answers 429 in its
own error shape with `Retry-After` and `RateLimit-Limit` / `RateLimit-Remaining` /
`RateLimit-Reset` (draft-ietf-httpapi-ratelimit-headers), so a refused request executes
nothing. An allowed request gets the same three headers on its response (`RateLimitHeaders`
copies them from the request's state).

Counting lives behind the domain's `WindowCounter` port: shared by all processes on PostgreSQL,
per process on SQLite (persistence/counters.py)."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.domain.clock import now_ms
from app.domain.ports import WindowCounter
from app.domain.rate_limits import MINUTE_MS, Budget, budget, window_start

RATE_LIMITED_CODE = "RATE_LIMITED"
_STATE_KEY = "rate_limit_headers"


class RateLimited(Exception):
    def __init__(self, spent: Budget) -> None:
        super().__init__(
            f"Rate limit of {spent.limit} requests per minute exceeded; retry in {spent.reset_seconds} s"
        )
        self.budget = spent

    @property
    def headers(self) -> dict[str, str]:
        return self.budget.headers()


class RateLimiter:
    """`per_minute` requests per API client per minute; 0 turns it off (nothing is counted)."""

    def __init__(self, counter: WindowCounter, per_minute: int) -> None:
        self._counter = counter
        self.per_minute = per_minute

    async def check(self, client_id: int, request: Any = None) -> Budget | None:
        """Counts this request; RateLimited past the limit. The budget's headers go on the
        response through `request.state` (any object with a `state`, or None)."""
        if self.per_minute <= 0:
            return None
        now = now_ms()
        start = window_start(now, MINUTE_MS)
        used = await self._counter.hit(f"client:{client_id}", start, expires_at_ms=start + MINUTE_MS)
        spent = budget(self.per_minute, used, now)
        state = getattr(request, "state", None)
        if state is not None:
            setattr(state, _STATE_KEY, spent.headers())
        if not spent.allowed:
            raise RateLimited(spent)
        return spent


def _with_budget(raw: Any, budget_headers: dict[str, str]) -> list[tuple[bytes, bytes]]:
    """The response's headers and those of the budget it does not carry already (a 429 has its
    own), as MutableHeaders would add them, in one pass over the response's."""
    merged = list(raw)
    present = {key for key, _ in merged}
    for name, value in budget_headers.items():
        key = name.lower().encode("latin-1")
        if key not in present:
            merged.append((key, value.encode("latin-1")))
    return merged


class RateLimitHeaders:
    """Puts the budget's headers on the response of a request that was counted."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = scope.get("state", {}).get(_STATE_KEY)
                if headers:
                    message["headers"] = _with_budget(message.get("headers", ()), headers)
            await send(message)

        await self.app(scope, receive, send_with_headers)
