"""The ISO text of an instant, written by arithmetic, spells every instant as the datetime does."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from app.domain.clock import MAX_INSTANT_MS, iso_text, to_datetime, to_iso, to_local_iso

# 0001-01-01T00:00:00Z: the earliest instant a datetime holds.
MIN_INSTANT_MS = -62_135_596_800_000


@given(st.integers(min_value=MIN_INSTANT_MS, max_value=MAX_INSTANT_MS))
def test_the_iso_text_of_an_epoch_instant_is_the_iso_text_of_its_datetime(ms: int) -> None:
    assert to_iso(ms) == iso_text(to_datetime(ms))


def test_the_iso_text_writes_milliseconds_only_when_they_are_not_zero() -> None:
    assert to_iso(1_743_521_508_000) == "2025-04-01T15:31:48Z"
    assert to_iso(1_767_205_799_999) == "2025-12-31T18:29:59.999Z"
    assert to_iso(-1) == "1969-12-31T23:59:59.999Z"


def test_a_remembered_local_text_is_the_text_of_its_own_zone() -> None:
    instant = 1_748_716_199_999
    assert to_local_iso(instant, ZoneInfo("Asia/Kolkata")) == "2025-05-31T23:59:59.999+05:30"
    assert to_local_iso(instant, ZoneInfo("UTC")) == "2025-05-31T18:29:59.999+00:00"
