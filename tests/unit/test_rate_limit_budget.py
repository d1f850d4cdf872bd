"""Fixed-window budgets (app/domain/rate_limits.py): the window a moment is in, and the headers."""

from __future__ import annotations

from app.domain.rate_limits import MINUTE_MS, budget, window_start


def test_a_moment_falls_in_the_minute_that_contains_it() -> None:
    assert window_start(120_000, MINUTE_MS) == 120_000
    assert window_start(179_999, MINUTE_MS) == 120_000


def test_within_the_limit_the_headers_say_what_is_left_and_when_it_resets() -> None:
    spent = budget(limit=1000, used=1, now_ms=120_500)
    assert spent.allowed
    expected = {"RateLimit-Limit": "1000", "RateLimit-Remaining": "999", "RateLimit-Reset": "60"}
    assert spent.headers() == expected


def test_past_the_limit_retry_after_is_the_rest_of_the_minute_at_least_one_second() -> None:
    spent = budget(limit=2, used=3, now_ms=179_900)
    assert not spent.allowed
    assert spent.headers()["Retry-After"] == "1" == spent.headers()["RateLimit-Reset"]
    assert spent.headers()["RateLimit-Remaining"] == "0"
