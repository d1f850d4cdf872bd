"""Time: instants are epoch milliseconds (UTC); calendar math uses aware datetimes."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DAY_MS = 86_400_000
# 9999-12-30T00:00:00Z: the latest instant accepted as a date, so that the end of its day in any
# timezone still fits in a Python datetime (ISO fields, validTill).
MAX_INSTANT_MS = 253_402_128_000_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).replace(microsecond=(ms % 1000) * 1000)


def to_iso(ms: int) -> str:
    """ISO-8601 UTC with a Z, to the second, as on the spec pages (2025-12-31T18:29:59Z)."""
    return to_datetime(ms).strftime("%Y-%m-%dT%H:%M:%SZ")


def end_of_local_day_ms(ms: int, tz: ZoneInfo) -> int:
    local = to_datetime(ms).astimezone(tz)
    next_midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=tz)
    return int(next_midnight.timestamp() * 1000) - 1


def is_valid_timezone(name: str) -> bool:
    if not name or name not in _TIMEZONES:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


_TIMEZONES = available_timezones()
