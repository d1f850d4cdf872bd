"""Time: instants are epoch milliseconds (UTC); calendar math uses aware datetimes."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

DAY_MS = 86_400_000
# 9999-12-30T00:00:00Z: the latest instant accepted as a date, so that the end of its day in any
# timezone still fits in a Python datetime (ISO fields, validTill).
MAX_INSTANT_MS = 253_402_128_000_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_datetime(ms: int) -> datetime:
    # Arithmetic on the epoch: exact for any integer, and half the cost of fromtimestamp + replace
    # (a GraphQL wallet page builds two per entry).
    return _EPOCH + timedelta(milliseconds=ms)


def iso_text(instant: datetime) -> str:
    """The one ISO-8601 spelling of an instant, on every face: UTC with a Z, milliseconds written
    whenever they are not zero (2025-12-31T18:29:59.999Z) so that the text names the same instant
    as its epoch twin; a whole second stays as on the spec pages (2025-04-01T15:31:48Z). Written
    by `to_iso` from the instant's epoch milliseconds (a sub-millisecond part is dropped)."""
    if instant.tzinfo is None:
        raise ValueError("an ISO instant needs a timezone-aware datetime")
    since = instant - _EPOCH
    return to_iso(since.days * DAY_MS + since.seconds * 1000 + since.microseconds // 1000)


def to_iso(ms: int) -> str:
    """`iso_text` of an epoch instant, by arithmetic: a wallet page writes two per entry, and
    building a datetime and calling strftime for each was a large share of a REST wallet read.
    The day's text is the same strftime's, remembered per day (`_day_text`)."""
    days, in_day = divmod(ms, DAY_MS)
    seconds, millis = divmod(in_day, 1000)
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    whole = f"{_day_text(days)}T{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{whole}.{millis:03d}Z" if millis else whole + "Z"


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@lru_cache(maxsize=4096)
def _day_text(days: int) -> str:
    """The date of a day since the epoch as `_iso` writes it (strftime's spelling of the year)."""
    return date.fromordinal(_EPOCH_ORDINAL + days).strftime("%Y-%m-%d")


@lru_cache(maxsize=8192)
def to_local_iso(ms: int, tz: ZoneInfo) -> str:
    """The instant in `tz`, with its offset (2025-05-31T23:59:59.999+05:30), milliseconds by the
    same rule as `iso_text`: what a frontend shows as the local day and time without timezone
    rules of its own. Remembered per instant and zone: the timezone rules are the costly part,
    and a wallet's validTill instants repeat from read to read."""
    local = to_datetime(ms).astimezone(tz)
    return _iso(local, _offset_text(local.utcoffset() or timedelta(0)))


def _offset_text(offset: timedelta) -> str:
    sign = "-" if offset < timedelta(0) else "+"
    seconds = abs(int(offset.total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    # Historic zones (local mean time) have offsets with seconds, which ISO-8601 allows.
    return f"{sign}{hours:02d}:{minutes:02d}" + (f":{seconds:02d}" if seconds else "")


def _iso(instant: datetime, suffix: str) -> str:
    millis = instant.microsecond // 1000
    whole = instant.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{millis:03d}{suffix}" if millis else whole + suffix


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
