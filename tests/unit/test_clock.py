"""Instants written by arithmetic (epoch milliseconds to datetime, ISO text) spell every instant
as the datetime module's own conversions and strftime do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from app.domain.clock import MAX_INSTANT_MS, iso_text, to_datetime, to_iso, to_local_iso

# 0001-01-01T00:00:00Z: the earliest instant a datetime holds.
MIN_INSTANT_MS = -62_135_596_800_000
instants_ms = st.integers(min_value=MIN_INSTANT_MS, max_value=MAX_INSTANT_MS)


def reference_datetime(ms: int) -> datetime:
    return datetime.fromtimestamp(ms // 1000, tz=UTC).replace(microsecond=(ms % 1000) * 1000)


def reference_iso(instant: datetime) -> str:
    utc = instant.astimezone(UTC)
    millis = utc.microsecond // 1000
    whole = utc.strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{millis:03d}Z" if millis else whole + "Z"


@given(instants_ms)
def test_an_epoch_instant_becomes_the_datetime_the_datetime_module_makes_of_it(ms: int) -> None:
    assert to_datetime(ms) == reference_datetime(ms)


@given(instants_ms)
def test_the_iso_text_of_an_epoch_instant_is_strftimes_spelling_of_its_datetime(ms: int) -> None:
    assert to_iso(ms) == iso_text(to_datetime(ms)) == reference_iso(reference_datetime(ms))


@given(
    st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.sampled_from(
            [UTC, ZoneInfo("Asia/Kolkata"), ZoneInfo("America/St_Johns"), timezone(timedelta(hours=-11))]
        )
    )
)
def test_the_iso_text_of_any_aware_datetime_is_strftimes_spelling_in_utc(instant: datetime) -> None:
    assert iso_text(instant) == reference_iso(instant)


def test_the_iso_text_writes_milliseconds_only_when_they_are_not_zero() -> None:
    assert to_iso(1_743_521_508_000) == "2025-04-01T15:31:48Z"
    assert to_iso(1_767_205_799_999) == "2025-12-31T18:29:59.999Z"
    assert to_iso(-1) == "1969-12-31T23:59:59.999Z"


def test_a_remembered_local_text_is_the_text_of_its_own_zone() -> None:
    instant = 1_748_716_199_999
    assert to_local_iso(instant, ZoneInfo("Asia/Kolkata")) == "2025-05-31T23:59:59.999+05:30"
    assert to_local_iso(instant, ZoneInfo("UTC")) == "2025-05-31T18:29:59.999+00:00"
