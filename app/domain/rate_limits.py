"""Fixed-window counting (DESIGN §8.7 rate limits, and the sign-in throttle): which window a moment
falls in, and what a caller is told about its budget.

A fixed window of one minute is what the spec pages state ("1,000 requests per minute per API
key"). Its known weakness, up to twice the limit across a window boundary, is accepted: the
limit protects capacity, and one counter row per client and minute keeps the cost to one
statement per request."""

from __future__ import annotations

import math
from dataclasses import dataclass

MINUTE_MS = 60_000


def window_start(now_ms: int, window_ms: int) -> int:
    return now_ms - now_ms % window_ms


@dataclass(frozen=True)
class Budget:
    """The caller's budget after this request: `allowed` is False past the limit."""

    limit: int
    used: int
    reset_ms: int  # when the current window ends (epoch ms)
    now_ms: int

    @property
    def allowed(self) -> bool:
        return self.used <= self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def reset_seconds(self) -> int:
        """Whole seconds until the window ends, at least 1 (what Retry-After and RateLimit-Reset say)."""
        return max(1, math.ceil((self.reset_ms - self.now_ms) / 1000))

    def headers(self) -> dict[str, str]:
        headers = {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.reset_seconds)
        return headers


def budget(limit: int, used: int, now_ms: int, window_ms: int = MINUTE_MS) -> Budget:
    return Budget(limit=limit, used=used, reset_ms=window_start(now_ms, window_ms) + window_ms, now_ms=now_ms)
